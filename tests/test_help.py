"""`dltrain --help` answers at once from the config files: the groups and their options, the run-level keys."""
from __future__ import annotations

from dltrain.launch.config import CONFIG_DIR, docs_dir
from dltrain.launch.help import render


def test_help_lists_groups_options_and_the_run_level_keys(cli):
    result = cli("--help")
    assert result.returncode == 0 and result.stdout.strip() == render(CONFIG_DIR, docs_dir()).strip()
    text = result.stdout
    for expected in ("model ", "resnet18", "experiment ", "vit_cifar10", "optimizer ", "nesterov",
                     "seed ", "ckpt_path ", "mode ", "predict.inputs", "cv.folds", "task_name"):
        assert expected in text, expected
    assert "hydra " not in text.split("Run-level keys")[0]  # Hydra's own group is not a user's choice
    assert not (cli.root / "outputs").exists()  # nothing is run or written


def test_help_topic_prints_a_guide_and_lists_the_runs_command(cli):
    text = cli("--help").stdout
    assert "dltrain --help TOPIC" in text and "own_data" in text.split("Guides")[1]
    assert "dltrain runs" in text and "--compare" in text
    guide = cli("--help", "reliability")
    assert guide.returncode == 0 and guide.stdout == (docs_dir() / "reliability.md").read_text() + "\n"
    unknown = cli("--help", "no_such_guide", ok=False)
    assert unknown.returncode == 2 and "No guide named no_such_guide" in unknown.stderr and "own_data" in unknown.stderr
