"""Every option of every config group composes, and what it describes can be built."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from dltrain import api
from dltrain.data.core.base import DataModule
from dltrain.launch import build
from dltrain.launch.config import CONFIG_DIR

CONFIGS = Path(CONFIG_DIR)


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))


def test_config_groups_have_the_options_the_docs_promise():
    assert set(options("optimizer")) >= {"sgd", "momentum", "nesterov", "rmsprop", "adagrad", "adadelta", "adam", "adamw"}
    assert set(options("scheduler")) >= {"none", "cosine", "cosine_restarts", "step", "multistep", "exponential",
                                         "plateau", "onecycle"}
    assert set(options("loss")) >= {"cross_entropy", "bce_with_logits", "mse", "l1", "huber", "smooth_l1", "nll"}
    assert set(options("trainer")) >= {"default", "cpu", "gpu", "debug"}
    assert set(options("data")) >= {"digits", "mnist", "fashion_mnist", "cifar10", "cifar100", "imagefolder"}
    assert set(options("experiment")) >= {"vit_cifar10", "resnet18_cifar10", "lenet_mnist"}


@pytest.mark.parametrize("name", options("optimizer"))
def test_optimizer_builds_with_norm_and_bias_exempt_from_decay(name):
    cfg = api.compose([f"optimizer={name}", "optimizer.weight_decay=0.1"])
    factory, decay_norm_and_bias = build.split_optimizer_config(cfg)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4))
    from dltrain.engine.optimization import parameter_groups

    optimizer = factory(parameter_groups(model.named_parameters(), 0.1, decay_norm_and_bias))
    decays = {len(g["params"]): g["weight_decay"] for g in optimizer.param_groups}
    assert decays == {1: 0.1, 3: 0.0}  # the Linear weight decays; its bias and the BN weight/bias do not
    assert optimizer.param_groups[0]["lr"] == cfg.optimizer.lr


def test_decay_norm_and_bias_switch_puts_every_parameter_in_one_decayed_group():
    cfg = api.compose(["optimizer=adamw", "optimizer.decay_norm_and_bias=true"])
    factory, decay_norm_and_bias = build.split_optimizer_config(cfg)
    from dltrain.engine.optimization import parameter_groups

    optimizer = factory(parameter_groups(torch.nn.Linear(4, 4).named_parameters(), 0.05, decay_norm_and_bias))
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.05]


@pytest.mark.parametrize("overrides, device, fused", [
    (["optimizer=adam"], "cpu", True), (["optimizer=adamw"], "cuda", True),
    (["optimizer=adamw", "++optimizer.foreach=true"], "cpu", None),  # the config chose: left as it is
    (["optimizer=adam", "++optimizer.fused=false"], "cpu", False),
    (["optimizer=adam"], "mps", None), (["optimizer=sgd"], "cpu", None),
])
def test_adam_and_adamw_take_their_fused_kernel_unless_the_config_chose(overrides, device, fused):
    from dltrain.engine.optimization import fused_where_it_applies

    factory, _ = build.split_optimizer_config(api.compose(overrides))
    optimizer = fused_where_it_applies(factory, device)([torch.nn.Parameter(torch.zeros(2))])
    assert optimizer.defaults.get("fused") == fused


def test_the_trainers_adam_steps_fused_as_the_loop_would_to_float_precision():
    """The default run's optimizer is the fused Adam, and one step of it equals PyTorch's default loop's."""
    from dltrain.engine.optimization import Optimization

    factory, _ = build.split_optimizer_config(api.compose(["optimizer=adam"]))
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 3)
    reference = torch.nn.Linear(8, 3)
    reference.load_state_dict(model.state_dict())
    optim = Optimization.build({"model": list(model.named_parameters())}, factory,
                               lambda optimizer, **_: torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0),
                               1, 1, device_type="cpu")
    loop = torch.optim.Adam(reference.parameters(), lr=1e-3, foreach=False)
    assert optim.optimizers["model"].defaults["fused"] is True
    x = torch.randn(4, 8)
    for net, optimizer in ((model, optim.optimizers["model"]), (reference, loop)):
        net(x).square().sum().backward()
        optimizer.step()
    for ours, theirs in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(ours, theirs)


def test_without_weight_decay_all_parameters_share_one_group():
    from dltrain.engine.optimization import parameter_groups

    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4))
    groups = parameter_groups(model.named_parameters(), 0.0, decay_norm_and_bias=False)
    assert [len(g["params"]) for g in groups] == [4]  # one group: the optimizer loops over groups every step


@pytest.mark.parametrize("name", options("scheduler"))
def test_scheduler_builds_and_steps(name):
    cfg = api.compose([f"scheduler={name}"])
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = instantiate(cfg.scheduler)(optimizer=optimizer, total_steps=100, steps_per_epoch=10)
    for _ in range(100):
        optimizer.step()
        if name == "plateau":
            scheduler.step(1.0)
        else:
            scheduler.step()
    assert optimizer.param_groups[0]["lr"] >= 0


CLASSIFICATION_LOSSES = ["cross_entropy", "bce_with_logits", "mse", "l1", "huber", "smooth_l1", "nll"]


@pytest.mark.parametrize("name", options("loss"))
def test_loss_config_builds(name):
    assert callable(instantiate(api.compose([f"loss={name}"]).loss))


@pytest.mark.parametrize("name", CLASSIFICATION_LOSSES)
def test_loss_builds_and_the_classification_task_can_use_it(name):
    cfg = api.compose([f"loss={name}"])
    from dltrain.tasks.classification import ClassificationTask

    task = ClassificationTask(torch.nn.Linear(3, 4), instantiate(cfg.loss), num_classes=4)
    out = task.training_step((torch.randn(5, 3), torch.tensor([0, 1, 2, 3, 0])), 0)
    out["loss"].backward()
    assert torch.isfinite(out["loss"])


@pytest.mark.parametrize("name", options("trainer"))
def test_trainer_config_builds(name, tmp_path):
    cfg = api.compose([f"trainer={name}"])
    if name == "gpu" and not torch.cuda.is_available():
        pytest.skip("no CUDA device here")
    if name == "ddp":  # one process per device, started by torchrun (built there in tests/test_ddp.py)
        with pytest.raises(Exception, match="torchrun --nproc_per_node"):
            build.build_trainer(cfg, tmp_path)
        return
    trainer = build.build_trainer(cfg, tmp_path)
    assert trainer.max_epochs >= 1


@pytest.mark.parametrize("name", options("logger"))
def test_logger_config_builds(name):
    cfg = api.compose([f"logger={name}"])
    assert all(instantiate(c) for c in (cfg.logger or {}).values())


@pytest.mark.parametrize("name", options("callbacks"))
def test_callbacks_config_builds(name):
    cfg = api.compose([f"callbacks={name}"])
    assert all(instantiate(c) for c in (cfg.callbacks or {}).values())


# the facts each kind of data states, so model configs can read them by interpolation
FACTS = [("image_size", "in_channels"), ("vocab_size",), ("num_features",), ("tau",)]


# data configs that need the user to name their files
REQUIRED = {
    "arrays": ["data.path=/nonexistent.npz"],
    "csv": ["data.path=/nonexistent.csv"],
    "text_lines": ["data.path=/nonexistent.tsv"],
    "segfolder": ["data.root=/nonexistent"],
    "coco_json": ["data.images=/nonexistent", "data.annotations=/nonexistent.json"],
    "imagefolder": ["data.root=/nonexistent"],
    "image_pair_folder": ["data.root=/nonexistent"],
    "unpaired_folder": ["data.root=/nonexistent"],
    "style_images": ["task=style_transfer", "style_transfer.content=a.jpg", "style_transfer.style=b.jpg"],
}


@pytest.mark.parametrize("name", options("data"))
def test_data_config_builds_and_states_the_shape_facts(name):
    overrides = [f"data={name}"] + REQUIRED.get(name, [])
    cfg = api.compose(overrides).data
    stated = [facts for facts in FACTS if all(key in cfg for key in facts)]
    assert stated, f"data={name} states none of the shape facts {FACTS}"
    module = instantiate(cfg)
    finds_facts = type(module).facts is not DataModule.facts  # a fact left null is read from the user's files
    for facts in stated:
        assert all(cfg[key] > 0 if cfg[key] is not None else finds_facts for key in facts)


@pytest.mark.parametrize("name", options("experiment"))
def test_experiment_composes(name):
    cfg = api.compose([f"experiment={name}"])
    if "num_classes" in cfg.model and "num_classes" in cfg.data:
        assert cfg.model.num_classes == cfg.data.num_classes
    assert cfg.trainer.max_epochs > 1 or cfg.trainer.max_steps > 1


def test_hparams_search_composes():
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["hparams_search=optuna_lr"], return_hydra_config=True)
    assert "optuna" in cfg.hydra.sweeper._target_.lower()
    assert set(cfg.hydra.sweeper.params) >= {"optimizer.lr", "optimizer.weight_decay"}
