"""Neural style transfer (Gatys, Ecker & Bethge, 2015): optimise an image, not a network.

A fixed convolutional network (VGG-19) describes images at several depths.
The synthesised image x starts as the content image c and is changed by
gradient descent on

    L = w_content * L_content + w_style * L_style + w_tv * L_tv

* content: the mean squared difference of the conv4_2 feature maps of x and c
  (deep features keep *what* is where, not the exact pixels);
* style: at conv1_1, conv2_1, conv3_1, conv4_1 and conv5_1 the Gram matrix of
  the C x (H W) feature matrix F, normalised by the map's size,

      G = F F^T / (C H W),

  holds which channels fire together, with the positions summed out: the
  texture. L_style is the mean over the five layers of ||G(x) - G(s)||_F^2;
* total variation: the mean absolute difference of neighbouring pixels, a
  smoothness prior against high-frequency noise.

The image is the only parameter: here it is the task's ``model``
(``SynthesisedImage``, pixels in [0, 1] at the start), so the
trainer's checkpoints hold the image; the VGG is a frozen loss network, not
saved (rebuilt from its weights each run). ``model=`` is ignored.

**Which VGG.** ``vgg_weights=PATH`` (any state dict of a VGG-19, e.g.
torchvision's ``vgg19-dcbb9e9d.pth``; the convolution tensors are taken in
order), else torchvision's VGG-19 file if it is in the torch hub cache, else
the project's VGG-19 (``dltrain.models.classification.vgg``) with random
weights, logged as a warning: random convolutional features still capture
local texture statistics, so the style's colours and textures transfer, but
the result is less faithful than with ImageNet features.

**Optimiser.** ``optimizer=lbfgs`` (the paper's, the default) needs a closure
that re-evaluates the loss; the trainer's optimizers are stepped without one,
so this task uses manual optimisation and runs its own ``torch.optim.LBFGS``
(``lbfgs_iterations`` L-BFGS iterations with a strong-Wolfe line search per
training step; step size ``lr``; its state is not in checkpoints). Pixels
may leave [0, 1] during L-BFGS (clamping would break its curvature
estimates; the total-variation and style terms keep them near) and are
clamped for display. ``optimizer=adam`` steps the trainer's optimizer
instead (the optimizer config, e.g. ``optimizer.lr=0.02 scheduler=none``)
and clamps after each step.

One training epoch is ``log_every`` steps (the data module's step stream);
each validation logs the losses and the image, and writes it to
``<run dir>/stylised.png``.

``mode=predict`` writes the image a checkpoint holds (stylised.png). It takes
no input files: Gatys' method optimises one image per run, there is no
network that could stylise a new one; train again with the new content image.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.utils import save_image

from dltrain.engine.optimization import Optimization
from dltrain.errors import UserError
from dltrain.models.classification.vgg import CONFIGS, make_layers
from dltrain.predict.records import Prediction
from dltrain.tasks.base import ManualOptimizationTask
from dltrain.visuals.grids import to_uint8

log = logging.getLogger(__name__)

# Output indices in VGG-19's ``features`` (torchvision's numbering): each convolution's ReLU.
STYLE_LAYERS = {"relu1_1": 1, "relu2_1": 6, "relu3_1": 11, "relu4_1": 20, "relu5_1": 29}
CONTENT_LAYER = ("relu4_2", 22)
TORCHVISION_VGG19_FILE = "vgg19-dcbb9e9d.pth"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
OPTIMIZERS = ("lbfgs", "adam")


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """G = F F^T / (C H W) for every map of a (N, C, H, W) batch: (N, C, C)."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between vertically and horizontally neighbouring pixels."""
    return ((image[..., 1:, :] - image[..., :-1, :]).abs().mean()
            + (image[..., :, 1:] - image[..., :, :-1]).abs().mean())


class VGGFeatures(nn.Module):
    """VGG-19's convolutional layers up to relu5_1, returning the named feature maps."""

    def __init__(self, image_size: int) -> None:
        super().__init__()
        last = max(STYLE_LAYERS["relu5_1"], CONTENT_LAYER[1])
        self.layers = make_layers(CONFIGS["vgg19"], 3, image_size, batch_norm=False)[: last + 1]
        names = {**{i: n for n, i in STYLE_LAYERS.items()}, CONTENT_LAYER[1]: CONTENT_LAYER[0]}
        self.names = names
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)

    def forward(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (pixels - self.mean) / self.std  # the ImageNet normalisation VGG was trained with
        outputs = {}
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index in self.names:
                outputs[self.names[index]] = x
        return outputs

    def randomise(self) -> None:
        """He initialisation by fan-in, biases 0: every layer's features keep a standard deviation near 1, so
        the losses of a random network have the same scale at every depth (the classifier's fan-out
        initialisation shrinks them layer by layer)."""
        for layer in self.layers:
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(layer.bias)

    def load_convolutions(self, state: dict[str, torch.Tensor], source: str) -> None:
        """Fill the convolutions from a VGG state dict, tensors taken in order (its ``features.*`` if named so)."""
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
        tensors = [v for k, v in state.items() if "features." in k] or list(state.values())
        ours = list(self.layers.state_dict().items())
        if len(tensors) < len(ours) or any(t.shape != v.shape for t, (_, v) in zip(tensors, ours)):
            raise UserError(f"{source} does not hold VGG-19 convolution weights in torchvision's order; "
                            "pass a VGG-19 state dict with style_transfer.vgg_weights=PATH, or null.")
        self.layers.load_state_dict({name: t.float() for (name, _), t in zip(ours, tensors)})


def load_vgg(vgg: VGGFeatures, vgg_weights: str | None) -> str:
    """Weights into ``vgg`` from the path, else torchvision's cached file; returns where they came from."""
    path = Path(vgg_weights) if vgg_weights else Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_VGG19_FILE
    if not path.is_file():
        if vgg_weights:
            raise UserError(f"style_transfer.vgg_weights={vgg_weights} is not a file; give a VGG-19 checkpoint "
                            "path, or null to use torchvision's cached weights (or random ones).")
        log.warning("no VGG-19 weights (no %s, no style_transfer.vgg_weights): using a randomly initialised "
                    "VGG-19; textures and colours still transfer, less faithfully than with ImageNet features", path)
        vgg.randomise()
        return "random"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle / zip errors: the file is not a state dict
        raise UserError(f"{path} cannot be read as a PyTorch state dict ({type(error).__name__}); "
                        "pass a VGG-19 checkpoint with style_transfer.vgg_weights=PATH.") from None
    vgg.load_convolutions(state, str(path))
    return str(path)


class SynthesisedImage(nn.Module):
    """The image being optimised: one (1, 3, H, W) parameter in [0, 1]; sized by ``reset``."""

    def __init__(self) -> None:
        super().__init__()
        self.pixels = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def reset(self, start: torch.Tensor) -> None:
        self.pixels = nn.Parameter(start.detach().clone().unsqueeze(0))

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        """A checkpoint's image brings its own size (before ``reset``, e.g. in mode=predict, the image is 1x1)."""
        stored = state_dict.get(f"{prefix}pixels")
        if stored is not None and stored.shape != self.pixels.shape:
            self.reset(torch.zeros(stored.shape[1:], device=self.pixels.device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self) -> torch.Tensor:
        return self.pixels


class StyleTransferTask(ManualOptimizationTask):
    data_parallel = False  # one image is the whole training set
    predict_inputs = "unused"  # mode=predict writes the checkpoint's image

    def __init__(self, model: nn.Module | None = None, loss: nn.Module | None = None, name: str = "style_transfer",
                 monitor: str = "val/loss", monitor_mode: str = "min", vgg_weights: str | None = None,
                 image_size: int = 256, optimizer: str = "lbfgs", lr: float = 1.0, lbfgs_iterations: int = 3,
                 content_weight: float = 1.0, style_weight: float = 10.0, tv_weight: float = 1.0,
                 init: str = "content") -> None:
        """``model`` and ``loss`` (the root config's) are ignored: the model is the image."""
        super().__init__(SynthesisedImage(), name, monitor, monitor_mode)
        if image_size < 16:  # four max-pools come before conv5_1
            raise UserError(f"style_transfer.image_size={image_size} is too small for VGG-19; use at least 16 "
                            "(64 for a quick run, 256 for a real one).")
        if optimizer not in OPTIMIZERS:
            raise UserError(f"style_transfer.optimizer={optimizer} is not one of {', '.join(OPTIMIZERS)}.")
        if init not in ("content", "noise"):
            raise UserError(f"style_transfer.init={init} is not one of content, noise.")
        self.vgg = VGGFeatures(image_size)
        self.weights_source = load_vgg(self.vgg, vgg_weights)
        self.optimizer, self.lr, self.lbfgs_iterations = optimizer, lr, lbfgs_iterations
        self.content_weight, self.style_weight, self.tv_weight = content_weight, style_weight, tv_weight
        self.init = init
        self.lbfgs: torch.optim.LBFGS | None = None
        self.targets: dict[str, torch.Tensor] | None = None
        self.register_buffer("content", torch.zeros(1, 3, 1, 1), persistent=False)
        self.register_buffer("style", torch.zeros(1, 3, 1, 1), persistent=False)
        self.last: dict[str, torch.Tensor] = {}

    # --- the losses -------------------------------------------------------------
    def target_features(self) -> dict[str, torch.Tensor]:
        """Content features of c and Gram matrices of s, computed once (on the current device)."""
        if self.targets is None or self.targets["content"].device != self.content.device:
            with torch.no_grad():
                content = self.vgg(self.content)[CONTENT_LAYER[0]]
                style = self.vgg(self.style)
                self.targets = {"content": content, **{n: gram_matrix(style[n]) for n in STYLE_LAYERS}}
        return self.targets

    def losses(self) -> dict[str, torch.Tensor]:
        targets = self.target_features()
        image = self.model()
        features = self.vgg(image)
        content = F.mse_loss(features[CONTENT_LAYER[0]], targets["content"])
        style = torch.stack([(gram_matrix(features[n]) - targets[n]).square().sum() for n in STYLE_LAYERS]).mean()
        tv = total_variation(image)
        loss = self.content_weight * content + self.style_weight * style + self.tv_weight * tv
        return {"loss": loss, "content_loss": content, "style_loss": style, "tv_loss": tv}

    # --- training -----------------------------------------------------------------
    def optimizer_groups(self) -> dict[str, list[tuple[str, nn.Parameter]]]:
        return {"image": list(self.model.named_parameters())}

    def training_step(self, batch: Any, batch_idx: int, optim: Optimization) -> dict[str, Any]:
        if self.optimizer == "lbfgs":
            if self.lbfgs is None:
                self.lbfgs = torch.optim.LBFGS([self.model.pixels], lr=self.lr, max_iter=self.lbfgs_iterations,
                                               history_size=50, line_search_fn="strong_wolfe")

            def closure() -> torch.Tensor:
                self.lbfgs.zero_grad(set_to_none=True)
                self.last = self.losses()
                self.last["loss"].backward()
                return self.last["loss"]

            self.lbfgs.step(closure)  # no clamping in between: it would break L-BFGS's curvature pairs
        else:
            self.last = self.losses()
            optim.backward(self.last["loss"], "image")
            optim.step("image")
            with torch.no_grad():
                self.model.pixels.clamp_(0, 1)
        log_values = {f"train/{k}": v.detach() for k, v in self.last.items() if k != "loss"}
        return {"loss": self.last["loss"].detach(), "log": log_values}

    # --- validation ----------------------------------------------------------------
    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.last = self.losses()

    def compute_metrics(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}/{k}": float(v) for k, v in self.last.items()}

    def reset_metrics(self) -> None:
        """Nothing accumulates: the metrics are the last step's losses."""

    def log_visuals(self, logger: Any, step: int, prefix: str) -> None:
        image = self.model().detach().clamp(0, 1)[0].cpu()  # L-BFGS leaves pixels unclamped
        logger.log_image(f"{prefix}/stylised", (image * 255).round().to(torch.uint8), step)
        folder = run_directory()
        if folder is not None:
            save_image(image, folder / "stylised.png")

    def predict_step(self, batch: None, options: Any) -> list[Prediction]:
        image = self.model()[0]  # L-BFGS leaves pixels unclamped; to_uint8 clamps
        height, width = image.shape[-2:]
        return [Prediction("stylised", {"width": int(width), "height": int(height)}, {"": to_uint8(image)})]

    # --- before training -------------------------------------------------------------
    def check_data(self, data: Any) -> None:
        content, style = getattr(data, "content_image", None), getattr(data, "style_image", None)
        if content is None or style is None:
            raise UserError(f"The style transfer task needs data=style_images (a content and a style image), "
                            f"not {type(data).__name__}; run `dltrain task=style_transfer "
                            "style_transfer.content=A.jpg style_transfer.style=B.jpg`.")
        self.content, self.style = content.unsqueeze(0), style.unsqueeze(0)
        noise = torch.Generator().manual_seed(data.seed)
        start = content if self.init == "content" else torch.rand(content.shape, generator=noise)
        self.model.reset(start)
        self.lbfgs, self.targets = None, None
        log.info("style transfer: %dx%d image, VGG-19 weights: %s", content.shape[1], content.shape[2],
                 self.weights_source)

    def example_forward(self, batch: Any) -> dict[str, torch.Tensor]:
        return self.vgg(self.model())

    # --- checkpoints: the image is the model; the VGG is rebuilt, not saved ------------
    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Nothing beyond the image (the model) is saved."""

    def named_weight_tensors(self):
        return self.model.named_parameters()


def run_directory() -> Path | None:
    """The run directory of a ``dltrain`` command (Hydra's output dir); None from the Python API."""
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir) if HydraConfig.initialized() else None
