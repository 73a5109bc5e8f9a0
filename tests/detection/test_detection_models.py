"""Every detection model config: one tiny forward / backward through the task, and YOLO's pieces."""
from __future__ import annotations

import pytest
import torch

from dltrain import api
from dltrain.errors import UserError
from dltrain.launch import build
from dltrain.models.detection.torchvision_detectors import explicit_anchor_sizes, scaled_anchor_sizes
from dltrain.models.detection.yolo import YOLO

TINY = {
    "faster_rcnn": ["model.backbone=resnet18", "model.fpn_channels=16", "model.representation_size=32"],
    "mask_rcnn": ["model.backbone=resnet18", "model.fpn_channels=16", "model.representation_size=32"],
    "retinanet": ["model.backbone=resnet18", "model.fpn_channels=16"],
    "ssd": ["model.backbone=resnet18", "model.extra_channels=32"],
    "yolo": ["model.widths=[8,16,32]"],
}
SMALL_DATA = ["data=shapes_det", "data.num_train=4", "data.num_val=4", "data.num_test=4", "data.batch_size=2"]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convolutions on a shared CPU: one thread is fastest
    yield
    torch.set_num_threads(threads)


def _task_and_data(model: str, *extra: str):
    cfg = api.compose([f"model={model}", *SMALL_DATA, *TINY[model], *extra])
    data = build.build_data(cfg)
    return build.build_task(cfg), data


@pytest.mark.parametrize("model", sorted(TINY))
def test_model_config_trains_one_step_and_validates(model):
    task, data = _task_and_data(model)
    task.check_data(data)
    task.train()
    output = task.training_step(next(iter(data.train_dataloader())), 0)
    output["loss"].backward()
    assert torch.isfinite(output["loss"]) and all(k.startswith("train/") for k in output["log"])
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in task.model.parameters())
    task.eval()
    with torch.no_grad():
        batch = next(iter(data.val_dataloader()))
        (prediction,) = task.example_forward(batch)
        assert {"boxes", "scores", "labels"} <= set(prediction)
        task.validation_step(batch, 0)
    metrics = task.compute_metrics("val")
    assert 0.0 <= metrics["val/map"] <= 1.0
    assert ("val/mask_map" in metrics) == (model == "mask_rcnn")


def test_mobilenet_backbone_builds_and_runs():
    task, data = _task_and_data("faster_rcnn", "model.backbone=mobilenet_v3_large")
    task.train()
    assert torch.isfinite(task.training_step(next(iter(data.train_dataloader())), 0)["loss"])


def test_unknown_backbone_and_maskless_data_fail_in_one_sentence():
    with pytest.raises(Exception, match="model.backbone=vgg11 is not supported"):  # wrapped by Hydra
        _task_and_data("faster_rcnn", "model.backbone=vgg11")
    task, data = _task_and_data("mask_rcnn", "data.with_masks=false")
    with pytest.raises(UserError, match="with_masks=true"):
        task.check_data(data)


def test_anchor_sizes_scale_with_the_image():
    assert scaled_anchor_sizes(800, 5) == ((32,), (64,), (128,), (256,), (512,))  # torchvision's defaults
    assert scaled_anchor_sizes(64, 5)[2] == (10,)
    assert len(scaled_anchor_sizes(64, 3)[0]) == 5  # fewer levels than octaves: every size everywhere


def test_explicit_anchor_sizes_give_one_base_size_per_level():
    assert explicit_anchor_sizes([8, 16], 2) == ((8,), (16,))
    assert explicit_anchor_sizes([12], 1, scales_per_octave=3) == ((12, 15, 19),)  # 12 * 2^(0, 1/3, 2/3)
    with pytest.raises(UserError, match="anchor_sizes has 2 sizes but the detector has 5"):
        explicit_anchor_sizes([8, 16], 5)
    task, _ = _task_and_data("retinanet", "model.anchor_sizes=[12,24,48,96,192]")
    assert task.model.anchor_generator.sizes[0] == (12, 15, 19)


def test_yolo_assigns_centre_cells_and_the_smaller_box_wins():
    yolo = YOLO(num_classes=2, widths=(8, 8, 8))  # stride 8
    centres = yolo.cell_centres(8, 8, torch.device("cpu"))
    big, tiny = torch.tensor([0.0, 0.0, 40.0, 40.0]), torch.tensor([17.0, 17.0, 22.0, 22.0])
    assigned = yolo.assign(centres, torch.stack([big, tiny]))
    # the tiny box (no cell centre inside it but (20, 20)) takes the cell holding its centre
    assert assigned[2 * 8 + 2] == 1
    assert (assigned == 0).sum() >= 4 and (assigned == -1).sum() > 0
    assert (yolo.assign(centres, torch.zeros(0, 4)) == -1).all()


def test_yolo_decodes_distances_around_cell_centres():
    yolo = YOLO(num_classes=2, widths=(8, 8, 8))
    boxes = yolo.decode(torch.tensor([[4.0, 4.0]]), torch.zeros(1, 4))  # exp(0) * stride = 8 on every side
    assert torch.equal(boxes, torch.tensor([[-4.0, -4.0, 12.0, 12.0]]))
