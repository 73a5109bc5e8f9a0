"""`dltrain --help` answers at once from the config files: the groups and their options, the run-level keys."""
from __future__ import annotations

from dltrain.launch.config import CONFIG_DIR
from dltrain.launch.help import render


def test_help_lists_groups_options_and_the_run_level_keys(cli):
    result = cli("--help")
    assert result.returncode == 0 and result.stdout.strip() == render(CONFIG_DIR).strip()
    text = result.stdout
    for expected in ("model ", "resnet18", "experiment ", "vit_cifar10", "optimizer ", "nesterov",
                     "seed ", "ckpt_path ", "mode ", "predict.inputs", "cv.folds", "task_name"):
        assert expected in text, expected
    assert "hydra " not in text.split("Run-level keys")[0]  # Hydra's own group is not a user's choice
    assert not (cli.root / "outputs").exists()  # nothing is run or written
