"""A shared checkpoint is data: a stored config that names other code is refused before anything is built.

Each crafted checkpoint loads with ``torch.load(weights_only=True)`` (no pickle code), so only its stored
config can attack: ``mode=eval``, ``mode=predict``, the Python API, a resume and a distillation teacher all
rebuild runs from it. Every one must end in one sentence, exit 2, and leave the victim files alone.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image

from dltrain import api, checkpoint
from dltrain.errors import UserError

OLD = Path(__file__).parent / "fixtures" / "softmax_regression_digits_2026-12.ckpt"


def attacks(victim: Path, scratch: Path) -> dict[str, tuple[str, dict]]:
    """name -> (where in the config, the node put there)."""
    return {
        "open": ("model", {"_target_": "builtins.open", "_args_": [str(victim), "w"]}),
        "touch": ("model", {"_target_": "pathlib.Path.touch", "_args_": [str(victim)]}),
        "rmtree": ("data", {"_target_": "shutil.rmtree", "_args_": [str(scratch)]}),
        "subprocess": ("loss", {"_target_": "subprocess.run", "_args_": [["touch", str(victim)]]}),
        "import_module": ("task", {"_target_": "importlib.import_module", "_args_": ["this"]}),
        "nested in the optimizer": ("optimizer", {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.001,
                                                  "betas": {"_target_": "builtins.open", "_args_": [str(victim), "w"]}}),
        "nested in a callback": ("callbacks", {"checkpoint": {"_target_": "dltrain.engine.callbacks.Checkpoint"},
                                               "evil": {"_target_": "subprocess.run",
                                                        "_args_": [["touch", str(victim)]]}}),
    }


def crafted(tmp_path: Path, name: str) -> tuple[Path, Path, Path]:
    """A real checkpoint (the fixture's weights) whose stored config carries one attack; the victim file that
    must not appear and the scratch folder that must not disappear."""
    victim, scratch = tmp_path / "victim.txt", tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "keep.txt").write_text("keep")
    state = checkpoint.load(OLD)
    config = yaml.safe_load(state["config"])
    key, node = attacks(victim, scratch)[name]
    config[key] = node
    state["config"] = yaml.safe_dump(config)
    path = tmp_path / "shared" / "best.ckpt"
    checkpoint.save(state, path)
    torch.load(path, weights_only=True)  # a pickle-safe file: only its config can attack
    return path, victim, scratch


def untouched(victim: Path, scratch: Path) -> bool:
    return not victim.exists() and (scratch / "keep.txt").read_text() == "keep"


@pytest.mark.parametrize("name", list(attacks(Path("v"), Path("s"))))
def test_the_python_api_refuses_every_foreign_target(tmp_path, name):
    path, victim, scratch = crafted(tmp_path, name)
    with pytest.raises(UserError, match=r"was refused .* trust_targets="):
        api.evaluate(path, run_dir=tmp_path / "eval")
    assert untouched(victim, scratch)


@pytest.mark.parametrize("name", ["nested in a callback"])
def test_eval_predict_resume_and_a_teacher_refuse_in_one_sentence(cli, name):
    path, victim, scratch = crafted(cli.root, name)
    Image.new("L", (8, 8)).save(cli.root / "digit.png")
    commands = {"eval": ["mode=eval", f"ckpt_path={path}"],
                "predict": ["mode=predict", f"ckpt_path={path}", f"predict.inputs={cli.root / 'digit.png'}"],
                "resume": ["model=softmax_regression", f"ckpt_path={path}", "trainer.max_epochs=3"],
                "teacher": ["task=distillation", f"task.teacher_ckpt={path}", "trainer.max_epochs=1"]}
    for mode, command in commands.items():
        result = cli(*command, ok=False)
        assert result.returncode == 2, (mode, result.stderr[-2000:])
        assert "was refused" in result.stderr and "Traceback" not in result.stderr, (mode, result.stderr[-2000:])
        assert untouched(victim, scratch), mode


def test_a_target_trusted_on_the_command_line_is_built(tmp_path):
    """The way to allow it deliberately: trust_targets names the module (here a harmless torch loss)."""
    path, _, _ = crafted(tmp_path, "open")
    state = checkpoint.load(path)
    config = yaml.safe_load(state["config"])
    config["loss"] = {"_target_": "torch.nn.modules.loss.CrossEntropyLoss"}  # not how dltrain's configs name it
    del config["model"]
    config["model"] = yaml.safe_load(checkpoint.load(OLD)["config"])["model"]
    state["config"] = yaml.safe_dump(config)
    checkpoint.save(state, path)
    with pytest.raises(UserError, match="torch.nn.modules.loss.CrossEntropyLoss"):
        api.evaluate(path, run_dir=tmp_path / "refused")
    metrics = api.evaluate(path, ["trust_targets=[torch.nn.modules.loss]"], run_dir=tmp_path / "trusted")
    assert 0.5 < metrics["test/acc"] <= 1


def test_checkpoints_written_today_and_before_the_regrouping_load(tmp_path):
    assert api.evaluate(OLD, run_dir=tmp_path / "old")["test/acc"] > 0.8
    results = api.train(["model=softmax_regression", "trainer.max_epochs=1", "logger=none"], run_dir=tmp_path / "new")
    assert api.evaluate(tmp_path / "new" / "checkpoints" / "last.ckpt", run_dir=tmp_path / "eval")["test/acc"] \
        == pytest.approx(results["test"]["test/acc"])
