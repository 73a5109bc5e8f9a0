"""User mistakes end in one helpful sentence, exit status 2, no traceback, nothing lost."""
from __future__ import annotations

import torch
from helpers import run_dirs, train_here

from dltrain import checkpoint


def assert_clean_error(result, *phrases):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("dltrain: error: ")
    for phrase in phrases:
        assert phrase in message, message


def test_unknown_option_lists_the_valid_ones(cli):
    assert_clean_error(cli("model=vitt", ok=False), "Unknown model 'vitt'", "model=vit?", "resnet18", "mlp")


def test_unknown_option_inside_a_sweep_is_caught_before_any_job(cli):
    assert_clean_error(cli("-m", "optimizer=sgd,adamm", ok=False), "optimizer=adam?", "nesterov")
    assert not (cli.root / "outputs").exists()


def test_mistyped_key_suggests_the_close_match(cli):
    assert_clean_error(cli("trainer.max_epoch=3", ok=False), "Did you mean trainer.max_epochs?")


def test_mistyped_group_suggests_the_close_match(cli):
    assert_clean_error(cli("modle=vit", ok=False), "Did you mean model?")


def test_wrong_type_names_the_expected_type(cli):
    assert_clean_error(cli("trainer.max_epochs=ten", ok=False), "expects a whole number")


def test_model_data_pair_that_cannot_fit_fails_before_training(cli):
    result = cli("model.image_size=32", ok=False)  # an MLP built for 32x32 inputs, fed 8x8 digits
    assert_clean_error(result, "cannot take data=digits")
    task_folder = cli.root / "outputs" / "mlp_digits"  # failed before training: its folder (a log only) is gone
    assert not task_folder.exists() or not list(task_folder.iterdir())


def test_offline_dataset_says_where_to_put_the_files(cli):
    result = cli("data=cifar10", "data.download=false", ok=False)
    assert_clean_error(result, "CIFAR10 is not on disk", "cifar-10-batches-py")


def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(cli):
    good_run = train_here(cli.root, "trainer.max_epochs=1", "trainer.log_histograms=false", "optimizer=sgd")
    good = good_run / "checkpoints" / "last.ckpt"
    before = good.read_bytes()
    # resume from the good checkpoint with an absurd learning rate (a new lr wins on resume): the loss explodes
    result = cli(f"ckpt_path={good}", "trainer.max_epochs=3", "optimizer=sgd", "optimizer.lr=1e8",
                 "trainer.loss_explosion_factor=null", ok=False)  # the growth guard would stop it earlier
    assert_clean_error(result, "became nan at step", "gradient_clip_val")
    assert good.read_bytes() == before
    failed = [d for d in run_dirs(cli.root, "mlp_digits") if d != good_run][0]
    assert not (failed / "checkpoints" / "last.ckpt").exists()  # no checkpoint of NaN weights


def test_corrupt_checkpoint_gives_one_sentence(cli, tmp_path):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    assert_clean_error(cli("mode=eval", f"ckpt_path={bad}", ok=False), "not a readable dltrain checkpoint")


def test_foreign_checkpoint_gives_one_sentence(cli, tmp_path):
    foreign = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(2)}, foreign)
    assert_clean_error(cli(f"ckpt_path={foreign}", ok=False), "not a dltrain checkpoint")


def test_truncated_checkpoint_is_refused_by_the_loader(tmp_path):
    path = tmp_path / "last.ckpt"
    checkpoint.save({"model": {"w": torch.ones(1000)}}, path)
    path.write_bytes(path.read_bytes()[:500])
    try:
        checkpoint.load(path)
    except Exception as error:
        assert "truncated, corrupt" in str(error)
    else:
        raise AssertionError("a truncated checkpoint loaded")


def test_missing_accelerator_is_a_clear_error(cli):
    if torch.cuda.is_available():
        return
    assert_clean_error(cli("trainer=gpu", "trainer.max_epochs=1", ok=False), "no such device", "trainer=cpu")


def test_resuming_with_another_optimizer_is_a_clear_error(cli):
    train_here(cli.root, "trainer.max_epochs=1", "trainer.log_histograms=false", "optimizer=adam")
    last = run_dirs(cli.root, "mlp_digits")[0] / "checkpoints" / "last.ckpt"
    result = cli(f"ckpt_path={last}", "trainer.max_epochs=2", "optimizer=sgd", ok=False)
    assert_clean_error(result, "optimizer state does not fit")


def test_the_forked_command_of_the_tests_answers_as_the_installed_one(cli):
    """tests/helpers.py forks most `dltrain` runs from a process that has imported torch; what they report must be
    what the installed command reports in a new interpreter."""
    forked, fresh = (cli("trainer.max_epoch=3", ok=False, fresh=fresh) for fresh in (False, True))
    assert forked.returncode == fresh.returncode == 2
    assert forked.stderr == fresh.stderr and "Did you mean trainer.max_epochs?" in forked.stderr
