"""Every bad input ends in one sentence and exit 2 before anything is written; Ctrl-C saves and says how to go on;
a diverging loss stops; eval and predict take the forms training takes and score in the training's precision."""
from __future__ import annotations

import inspect
import json
import os
import signal

import pytest
from helpers import run_dirs, train_here

from dltrain import api, checkpoint
from dltrain.engine.preemption import INTERRUPTED_EXIT_CODE
from dltrain.engine.trainer import Trainer
from dltrain.errors import UserError
from dltrain.launch.config import CONFIG_DIR
from dltrain.launch.validate import trainer_settings

BAD = [
    (["optimizer.lr=-1"], "optimizer.lr=-1 cannot work: it must be a number above 0"),
    (["seed=abc"], "seed=abc cannot work: it must be a whole number"),
    (["data.batch_size=0"], "data.batch_size=0 cannot work"),
    (["data.batch_size=-1"], "data.batch_size=-1 cannot work"),
    (["trainer.accumulate_grad_batches=0"], "trainer.accumulate_grad_batches=0 cannot work"),
    (["trainer.val_every_n_epochs=0"], "trainer.val_every_n_epochs=0 cannot work"),
    (["data.val_fraction=1.5"], "data.val_fraction=1.5 cannot work: it must be a fraction"),
    (["trainer.num_threads=-1"], "trainer.num_threads=-1 cannot work"),
    (["+trainer.max_epoch=3"], "trainer.max_epoch is not a trainer setting; did you mean trainer.max_epochs?"),
    (["data=imagefolder"], "data=imagefolder needs your images: give data.root=DIR"),
    (["trainer.max_epochs=0"], "trainer.max_epochs=0 cannot work: it must be a whole number of at least 1"),
    (["trainer.max_epochs=-3"], "trainer.max_epochs=-3 cannot work"),
    (["trainer.limit_train_batches=0"], "trainer.limit_train_batches=0 cannot work"),
    (["trainer.visuals_time_share=0"], "trainer.visuals_time_share=0 cannot work: it must be null (no limit) or a"),
    (["-m", "optimizer.lr=0.1,-0.1"], "optimizer.lr=-0.1 cannot work"),  # every value of a sweep is checked first
]


@pytest.mark.parametrize("overrides, sentence", BAD, ids=[" ".join(o) for o, _ in BAD])
def test_bad_values_end_in_one_sentence_before_anything_is_written(cli, overrides, sentence):
    result = cli(*overrides, ok=False)
    message = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 2 and "Traceback" not in result.stderr + result.stdout, result.stderr[-2000:]
    assert message.startswith("dltrain: error: ") and sentence in message, message
    assert not (cli.root / "outputs").exists()


def test_an_output_path_that_is_a_file_or_read_only_is_one_sentence(cli):
    (cli.root / "a_file").write_text("not a folder")
    result = cli("paths.output_dir=a_file/runs", ok=False)
    assert result.returncode == 2 and "a_file is a file" in result.stderr
    locked = cli.root / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root): a read-only folder cannot be made")
        result = cli(f"paths.output_dir={locked}/runs", ok=False)
        assert result.returncode == 2 and "is not writable by this user" in result.stderr
    finally:
        locked.chmod(0o700)


def test_the_trainer_configs_name_exactly_the_trainers_settings():
    # passed by the run builder
    injected = {"self", "run_dir", "loggers", "callbacks", "seed", "config_yaml", "visuals_at_last_epoch"}
    assert trainer_settings(CONFIG_DIR) | {"_target_"} == set(inspect.signature(Trainer.__init__).parameters) - \
        injected | {"_target_"}


def test_a_loss_that_explodes_without_becoming_nan_stops_the_run(tmp_path):
    with pytest.raises(UserError, match=r"at step \d+ \(epoch 1\) \(from .* it diverges\).*loss_explosion_factor=null"):
        api.train(["optimizer.lr=1e6", "trainer.max_epochs=3", "logger=none"], run_dir=tmp_path / "adam")
    assert not (tmp_path / "adam" / "checkpoints" / "last.ckpt").exists()


def test_ctrl_c_saves_a_mid_epoch_checkpoint_and_says_how_to_go_on(cli):
    result = cli("trainer.max_epochs=2", "logger=none", "+callbacks.kill._target_=dltrain.engine.preemption.SignalAtStep",
                 "+callbacks.kill.step=5", "+callbacks.kill.signal=SIGINT", ok=False)
    assert result.returncode == INTERRUPTED_EXIT_CODE == 128 + signal.SIGINT and "Traceback" not in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("dltrain: interrupted (Ctrl-C): saved") and "ckpt_path=last" in message
    (run_dir,) = run_dirs(cli.root, "mlp_digits")
    state = checkpoint.load(run_dir / "checkpoints" / "last.ckpt")
    assert (state["global_step"], state["batches_done"]) == (5, 5)
    cli("trainer.max_epochs=2", "logger=none", "ckpt_path=last")
    assert checkpoint.load(run_dir / "checkpoints" / "last.ckpt")["epoch"] == 2


def test_eval_takes_an_experiment_as_training_does_and_scores_in_its_precision(cli):
    run_dir = train_here(cli.root, "experiment=logistic_regression_breast_cancer", "trainer.max_epochs=2",
                         "trainer.precision=bf16", "logger=none")
    trained = json.loads((run_dir / "results.json").read_text())["test"]
    cli("mode=eval", "experiment=logistic_regression_breast_cancer", "ckpt_path=last")
    (evaluated,) = [p for p in (cli.root / "outputs").rglob("results.json") if p.parent != run_dir]
    assert json.loads(evaluated.read_text())["test"] == trained  # bf16 again: the same numbers to the last digit


def test_api_evaluate_composes_a_group_override_as_the_command_line_does(tmp_path):
    run_dir = tmp_path / "run"
    api.train(["trainer.max_epochs=1", "logger=none"], run_dir=run_dir)
    with pytest.raises(UserError, match="Fashion"):  # the fashion_mnist group, composed: offline it says so
        api.evaluate(run_dir / "checkpoints" / "best.ckpt", ["data=fashion_mnist"], run_dir=tmp_path / "eval")
    metrics = api.evaluate(run_dir / "checkpoints" / "best.ckpt", ["data.batch_size=7"], run_dir=tmp_path / "eval2")
    assert 0.5 < metrics["test/acc"] <= 1
