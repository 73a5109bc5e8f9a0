"""Neural style transfer: Gram matrices by hand, the losses, the VGG weights' sources, a CLI run, (slow) learning.

The images are scikit-learn's two bundled sample photos (china.jpg, flower.jpg): real and offline.
"""
from __future__ import annotations

import csv
import json

import pytest
import torch
from helpers import run_dirs
from PIL import Image
from sklearn.datasets import load_sample_images

from dltrain.data.vision.style_images import StyleImagesData
from dltrain.errors import UserError
from dltrain.tasks.style_transfer import StyleTransferTask, VGGFeatures, gram_matrix, load_vgg, total_variation


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("photos")
    china, flower = load_sample_images().images
    Image.fromarray(china).save(folder / "content.jpg")
    Image.fromarray(flower).save(folder / "style.jpg")
    return str(folder / "content.jpg"), str(folder / "style.jpg")


def test_gram_matrix_against_a_hand_computation():
    features = torch.tensor([[[[1.0, 2.0], [0.0, 1.0]], [[3.0, 0.0], [1.0, 2.0]]]])  # C=2, H=W=2
    # rows of F: (1, 2, 0, 1) and (3, 0, 1, 2); F F^T = [[6, 5], [5, 14]]; divided by C*H*W = 8
    expected = torch.tensor([[[6.0, 5.0], [5.0, 14.0]]]) / 8
    torch.testing.assert_close(gram_matrix(features), expected)


def test_total_variation_of_a_step_edge():
    image = torch.zeros(1, 3, 4, 4)
    image[..., 2:] = 1.0  # a vertical edge between columns 1 and 2
    assert total_variation(image).item() == pytest.approx(1 / 3)  # one of three horizontal gaps per row


def test_vgg_weights_come_from_a_path_in_order_and_bad_paths_say_so(tmp_path):
    vgg = VGGFeatures(64)
    source = VGGFeatures(64)
    torch.save({f"features.{k}": v for k, v in source.layers.state_dict().items()}, tmp_path / "vgg.pth")
    assert load_vgg(vgg, str(tmp_path / "vgg.pth")) == str(tmp_path / "vgg.pth")
    torch.testing.assert_close(vgg.layers[0].weight, source.layers[0].weight)
    with pytest.raises(UserError, match="vgg_weights"):
        load_vgg(vgg, str(tmp_path / "missing.pth"))
    torch.save({"fc.weight": torch.zeros(3, 3)}, tmp_path / "other.pth")
    with pytest.raises(UserError, match="VGG-19"):
        load_vgg(vgg, str(tmp_path / "other.pth"))


def test_the_image_is_the_only_parameter_and_starts_as_the_content(photos, caplog):
    data = StyleImagesData(*photos, image_size=32, steps_per_epoch=3)
    data.setup()
    assert data.content_image.shape == (3, 32, 48) and data.style_image.shape == (3, 32, 48)
    task = StyleTransferTask(image_size=32)
    assert "random" in caplog.text  # offline without weights: a warning
    task.check_data(data)
    (group,) = task.optimizer_groups().values()
    assert [name for name, _ in group] == ["pixels"] and not any(p.requires_grad for p in task.vgg.parameters())
    losses = task.losses()
    assert losses["content_loss"].item() == pytest.approx(0, abs=1e-6) and losses["style_loss"] > 0
    losses["loss"].backward()
    assert task.model.pixels.grad.abs().sum() > 0


def test_style_transfer_needs_its_images(tmp_path):
    with pytest.raises(UserError, match="style_transfer.content"):
        StyleImagesData(str(tmp_path / "none.jpg"), str(tmp_path / "none.jpg")).setup()


def test_style_transfer_command_writes_the_stylised_image(cli, monkeypatch, photos):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cli("task=style_transfer", f"style_transfer.content={photos[0]}", f"style_transfer.style={photos[1]}",
        "style_transfer.image_size=32", "trainer=debug")
    (run_dir,) = run_dirs(cli.root, "mlp_style_images", debug=True)
    with Image.open(run_dir / "stylised.png") as image:
        assert image.size == (48, 32)
    results = json.loads((run_dir / "results.json").read_text())
    assert {"val/style_loss", "val/content_loss", "val/tv_loss"} <= set(results["final"])


@pytest.mark.slow
def test_style_loss_falls_tenfold_while_content_loss_stays_bounded(cli, monkeypatch, photos):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cli("task=style_transfer", f"style_transfer.content={photos[0]}", f"style_transfer.style={photos[1]}",
        "style_transfer.image_size=64", "logger=csv", timeout=400)
    (run_dir,) = run_dirs(cli.root, "mlp_style_images")
    rows = [r for r in csv.DictReader((run_dir / "metrics.csv").open()) if r.get("val/style_loss")]
    style = [float(r["val/style_loss"]) for r in rows]
    content = [float(r["val/content_loss"]) for r in rows]
    data = StyleImagesData(*photos, image_size=64)
    data.setup()
    task = StyleTransferTask(image_size=64)  # another random VGG: its features have the same unit scale
    task.check_data(data)
    with torch.no_grad():  # the content loss of pure noise: the scale "bounded" is measured against
        task.model.pixels.copy_(torch.rand(task.model.pixels.shape, generator=torch.Generator().manual_seed(0)))
        noise_content = task.losses()["content_loss"].item()
    assert style[-1] < 0.1 * style[0], style
    assert max(content) < noise_content, (content, noise_content)
    assert (run_dir / "stylised.png").is_file()
