"""Trainer switches through the Python API: precision, accumulation, clipping, limits, EMA, early stopping."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from dltrain import api, checkpoint
from dltrain.engine.optimization import Optimization

FAST = ["trainer.log_histograms=false", "trainer.enable_progress_bar=false"]


def train(tmp_path, *overrides, name="run"):
    return api.train([*FAST, *overrides], run_dir=tmp_path / name)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_on_cpu(tmp_path, precision):
    results = train(tmp_path, f"trainer.precision={precision}", "trainer.max_epochs=3")
    assert results["best"] > 0.5
    state = checkpoint.load(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert state["optim"]["scaler"] or precision == "bf16"  # fp16 keeps its GradScaler state


def test_accumulating_two_half_batches_equals_one_full_batch():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    data = torch.randn(8, 4), torch.randint(0, 2, (8,))

    def one_step(batches, accumulate):
        net = torch.nn.Linear(4, 2)
        net.load_state_dict(model.state_dict())
        optim = Optimization({"model": torch.optim.SGD(net.parameters(), lr=0.1)}, {}, "cpu",
                             accumulate_grad_batches=accumulate)
        for i, (x, y) in enumerate(batches):
            optim.is_window_start, optim.is_boundary = i == 0, i == len(batches) - 1
            optim.backward(torch.nn.functional.cross_entropy(net(x), y))
            optim.step()
        return net.weight.detach()

    full = one_step([data], 1)
    halves = one_step([(data[0][:4], data[1][:4]), (data[0][4:], data[1][4:])], 2)
    torch.testing.assert_close(full, halves)


@pytest.mark.parametrize("algorithm", ["norm", "value"])
def test_gradient_clipping_bounds_the_gradient(algorithm):
    net = torch.nn.Linear(3, 1)
    optim = Optimization({"model": torch.optim.SGD(net.parameters(), lr=0.0)}, {}, "cpu",
                         gradient_clip_val=0.01, gradient_clip_algorithm=algorithm)
    optim.backward((net(torch.full((4, 3), 100.0)) ** 2).mean())
    optim.step()
    grads = torch.cat([p.grad.flatten() for p in net.parameters()])
    if algorithm == "norm":
        assert grads.norm() <= 0.01 + 1e-6
    else:
        assert grads.abs().max() <= 0.01 + 1e-6


def test_max_steps_and_batch_limits(tmp_path):
    results = train(tmp_path, "trainer.max_steps=7", "trainer.max_epochs=50", "trainer.limit_train_batches=3")
    state = checkpoint.load(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert state["global_step"] == 7 and state["epoch"] == 3  # 3 + 3 + 1 steps
    assert results["final"]["epoch"] == 3  # 1-based, as the console counts: the third epoch was the last


def test_validation_cadence(tmp_path):
    train(tmp_path, "trainer.max_epochs=4", "trainer.val_every_n_epochs=2", "logger=csv")
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    val_rows = [r for r in rows[1:] if r.split(",")[header.index("val/acc")]]
    assert len(val_rows) == 2


def test_channels_last_and_accumulation_run_end_to_end(tmp_path):
    results = train(tmp_path, "model=lenet", "trainer.channels_last=true", "trainer.accumulate_grad_batches=2",
                    "trainer.max_epochs=2")
    assert results["best"] > 0.2  # twice chance after two short epochs


def test_seed_zero_is_a_seed_and_runs_repeat_exactly(tmp_path):
    a = train(tmp_path, "seed=0", "trainer.max_epochs=1", "trainer.deterministic=true", name="a")
    b = train(tmp_path, "seed=0", "trainer.max_epochs=1", "trainer.deterministic=true", name="b")
    c = train(tmp_path, "seed=1", "trainer.max_epochs=1", "trainer.deterministic=true", name="c")
    assert a["final"]["val/loss"] == b["final"]["val/loss"]
    assert a["final"]["val/loss"] != c["final"]["val/loss"]


def test_ema_weights_are_used_for_validation_and_differ_from_the_raw_weights(tmp_path):
    train(tmp_path, "callbacks=ema", "callbacks.ema.decay=0.9", "trainer.max_epochs=2")
    state = checkpoint.load(tmp_path / "run" / "checkpoints" / "last.ckpt")
    shadow, raw = state["callbacks"]["EMA"]["shadow"], state["model"]
    assert set(shadow) == set(raw)
    assert any(not torch.equal(shadow[k], raw[k]) for k in raw)


def test_the_test_split_and_eval_mode_score_the_ema_weights_validation_chose(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        results = train(tmp_path, "callbacks=ema", "callbacks.ema.decay=0.9", "trainer.max_epochs=2")
        best = tmp_path / "run" / "checkpoints" / "best.ckpt"
        evaluated = api.evaluate(best, run_dir=tmp_path / "eval")
    assert caplog.text.count("using the checkpoint's EMA weights") == 2  # after training, and in eval
    assert evaluated["test/acc"] == results["test"]["test/acc"]
    assert evaluated["test/loss"] == pytest.approx(results["test"]["test/loss"])


def test_early_stopping_stops_when_the_metric_stalls(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        results = train(tmp_path, "callbacks=early_stopping", "callbacks.early_stopping.patience=1",
                        "callbacks.early_stopping.min_delta=0.5", "trainer.max_epochs=20")
    assert results["final"]["epoch"] == 2  # the first validation sets the best; the second cannot beat it by 0.5
    assert "early stopping" in caplog.text


def test_plateau_scheduler_reduces_the_rate_when_the_metric_stalls(tmp_path):
    train(tmp_path, "scheduler=plateau", "scheduler.patience=0", "trainer.max_epochs=6", "optimizer=sgd",
          "optimizer.lr=1e-6")
    state = checkpoint.load(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert state["optim"]["optimizers"]["model"]["param_groups"][0]["lr"] < 1e-6


def test_results_json_holds_best_metric_and_epoch(tmp_path):
    train(tmp_path, "trainer.max_epochs=3")
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["monitor"] == "val/acc" and results["best_epoch"] in (1, 2, 3)
    assert results["best"] == max(results["best"], results["final"]["val/acc"])


def test_weight_decay_exemption_reaches_the_optimizer(tmp_path):
    train(tmp_path, "optimizer=adamw", "trainer.max_epochs=1")
    state = checkpoint.load(tmp_path / "run" / "checkpoints" / "last.ckpt")
    decays = [g["weight_decay"] for g in state["optim"]["optimizers"]["model"]["param_groups"]]
    assert decays == [0.05, 0.0]


def test_run_directories_never_collide(tmp_path):
    import subprocess
    import sys

    from dltrain.api import compose, default_run_dir

    code = "from dltrain import api; print(api.default_run_dir(api.compose([])))"
    dirs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout for _ in range(3)}
    assert len(dirs) == 3
    assert default_run_dir(compose([])).parent.name == "mlp_digits"


@pytest.mark.slow
def test_torch_compile_trains_and_saves_unwrapped_weights(tmp_path):
    results = train(tmp_path, "model=lenet", "trainer.compile=true", "trainer.max_epochs=2")
    state = checkpoint.load(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert not any(k.startswith("_orig_mod.") for k in state["model"])
    assert results["best"] > 0.2


def test_every_validation_pass_starts_from_zero(tmp_path):
    """The trainer resets a task's metric sums after each pass (Task.reset_metrics): two passes agree."""
    from dltrain.launch import build

    cfg = api.compose([*FAST, "logger=none"])
    data, task = build.build_data(cfg), build.build_task(cfg)
    trainer = build.build_trainer(cfg, tmp_path)
    first, second = trainer.test(task, data), trainer.test(task, data)
    assert first == second and 0 <= first["test/acc"] <= 1


def picture_epochs(run: Path) -> dict[str, list[int]]:
    """The epochs at which each picture (image or histogram) of a run's TensorBoard was drawn."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tb"), size_guidance={"images": 0, "histograms": 0}).Reload()
    steps_per_epoch = events.Scalars("val/acc")[0].step
    assert [s.step // steps_per_epoch for s in events.Scalars("val/acc")] == list(range(1, 6))  # curves: each epoch
    kinds = ((events.Images, events.Tags()["images"]), (events.Histograms, events.Tags()["histograms"]))
    return {tag: [e.step // steps_per_epoch for e in kind(tag)] for kind, tags in kinds for tag in tags}


@pytest.mark.parametrize("test_pass", [True, False])
def test_pictures_are_drawn_every_nth_validation_and_the_last_by_the_test_pass_or_the_last_epoch(tmp_path, test_pass):
    """trainer.visuals_every_n_validations=2 over 5 epochs, no time limit: the confusion matrix at epochs 2 and 4, and
    the last at epoch 5 from the test pass after training, or without one from the last epoch's validation (plots/
    is made of them); the weight histograms at epochs 2, 4 and 5 (the last)."""
    train(tmp_path, "trainer.max_epochs=5", "trainer.visuals_every_n_validations=2", "trainer.log_histograms=true",
          "trainer.visuals_time_share=null", "logger=tensorboard", f"test={str(test_pass).lower()}")
    pictures = picture_epochs(tmp_path / "run")
    assert pictures and {"weights", "val", "test" if test_pass else "val"} <= {t.split("/")[0] for t in pictures}
    for tag, epochs in pictures.items():
        expected = [5] if tag.startswith("test/") else [2, 4] if test_pass and tag.startswith("val/") else [2, 4, 5]
        assert epochs == expected, tag
    assert (tmp_path / "run" / "plots" / "confusion_matrix.png").exists()


def test_pictures_during_training_keep_within_their_share_of_its_time(tmp_path):
    """The default 5%: a run of a second ends before its first picture would be within budget, so the task's pictures
    are the test pass's alone (TensorBoard and plots/), where the same run without the limit draws at epoch 2 and 4;
    the cheap weight histograms keep their cadence."""
    train(tmp_path, "trainer.max_epochs=5", "trainer.visuals_every_n_validations=2", "trainer.log_histograms=true",
          "logger=tensorboard")
    pictures = picture_epochs(tmp_path / "run")
    assert {tag.split("/")[0] for tag in pictures} == {"test", "weights", "weights_grad"}, pictures
    assert all(epochs == ([5] if tag.startswith("test/") else [2, 4, 5]) for tag, epochs in pictures.items())
    assert (tmp_path / "run" / "plots" / "confusion_matrix.png").exists()


def test_the_picture_schedule_spends_at_most_its_share_of_the_time_trained(monkeypatch):
    from dltrain.engine import picture_schedule

    clock = [100.0]
    monkeypatch.setattr(picture_schedule.time, "perf_counter", lambda: clock[0])
    schedule = picture_schedule.PictureSchedule(every_n_validations=1, time_share=0.1, at_last_epoch=False)
    drawn = []
    for epoch in range(1, 61):
        clock[0] += 1.0  # an epoch of training takes 1 s
        if schedule.due(epoch, last_epoch=epoch == 60):
            drawn.append(epoch)
            with schedule.drawing():
                clock[0] += 2.0  # its pictures take 2 s
    # 10% of the time: the first picture is guessed at 0.5 s (nothing timed yet), so it comes after 5 s of training;
    # then each once the 2 s it is measured to take fit in the share (40 s, 60 s in all)
    assert drawn == [5, 38, 56]
    assert schedule.spent == 6.0 and schedule.spent <= 0.1 * (clock[0] - 100.0)
    assert not picture_schedule.PictureSchedule(1, 0.1, at_last_epoch=False).due(0, last_epoch=False)
    assert picture_schedule.PictureSchedule(3, 0.1, at_last_epoch=True).due(1, last_epoch=True)  # plots/ need it


def test_metrics_csv_appended_flush_by_flush_equals_the_files_written_at_once(tmp_path):
    """CSVLogger appends the rows of each flush to metrics.csv and metrics_steps.csv (rewriting a file only when a
    column appears); a row still growing at a flush (several calls for one step) is written again whole."""
    import csv

    from dltrain.engine.loggers import CSVLogger

    calls = [({"train/loss": 1.0}, 10), ({"train/loss": 0.5}, 20), ({"epoch": 1, "val/acc": 0.3}, 20), "flush",
             ({"train/loss": 0.4}, 30), "flush", ({"train/lr": 0.1}, 30), ({"train/loss": 0.3}, 40), "flush",
             ({"epoch": 2, "val/acc": 0.6, "train/loss_epoch": 0.35}, 40), ({"test/acc": 0.7}, 40), "flush", "flush"]
    flushed, once = CSVLogger(), CSVLogger()
    for logger, folder in ((flushed, tmp_path / "a"), (once, tmp_path / "b")):
        folder.mkdir()
        logger.setup(folder)
    for call in calls:
        if call == "flush":
            flushed.flush()
        else:
            flushed.log_metrics(*call), once.log_metrics(*call)
    once.flush()
    for name, rows in (("metrics.csv", 3), ("metrics_steps.csv", 5)):
        read = [list(csv.reader((tmp_path / folder / name).open())) for folder in ("a", "b")]
        assert read[0] == read[1] and len(read[0]) == rows, name
    assert read[0][0] == ["step", "train/loss", "train/lr"] and read[0][3] == ["30", "0.4", "0.1"]


def test_a_kill_in_the_middle_of_a_csv_flush_keeps_every_row_that_was_on_disk(tmp_path, monkeypatch):
    """The process is killed (here: an exception) right after the flush's truncate. Truncating before writing the
    rows again lost the last row on disk: a run killed there and resumed missed that epoch in metrics.csv (the
    slow kill-mid-checkpoint test caught it once in 250 runs, when the kill fell in the flush after the epoch end)."""
    import csv
    import pathlib

    from dltrain.engine.loggers import CSVLogger

    class Killed(BaseException):
        pass

    logger = CSVLogger()
    logger.setup(tmp_path)
    logger.log_metrics({"epoch": 1, "val/acc": 0.3}, 20)
    logger.flush()
    real_open = pathlib.Path.open

    class KilledAfterTruncate:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def truncate(self, *args):
            self.handle.truncate(*args)
            self.handle.flush()
            raise Killed

    def open_for_the_kill(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        return KilledAfterTruncate(handle) if "+" in mode and path.name == "metrics.csv" else handle

    monkeypatch.setattr(pathlib.Path, "open", open_for_the_kill)
    logger.log_metrics({"epoch": 2, "val/acc": 0.6}, 40)
    with pytest.raises(Killed):
        logger.flush()
    monkeypatch.undo()
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert [row["epoch"] for row in rows][:1] == ["1"]  # epoch 1 is still there (epoch 2 may or may not be)
