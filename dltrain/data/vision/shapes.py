"""Generated shapes: an offline dataset for semantic segmentation and object detection.

Every image is drawn by this documented procedure, so the data needs no
download and the same ``seed`` always gives the same images:

1. **Background.** A random base colour (each channel uniform in 0..255) plus
   a texture: a low-resolution random field (``image_size // 8`` squared cells,
   amplitude +-40) upsampled bilinearly to full size, plus per-pixel noise
   (+-12). Texture keeps a model from segmenting by "anything that is not flat".
2. **Objects.** ``randint(1, max_objects)`` objects, each with a class drawn
   uniformly from ``classes``, a size ``s`` uniform in ``[image_size / 6,
   image_size / 2.5]`` and a centre uniform in the image (objects may be cut by
   the border). Shapes, with ``r = s / 2`` around the centre ``(cx, cy)``:
   ``circle`` = ``(x-cx)^2 + (y-cy)^2 <= r^2``; ``square`` = ``|x-cx| <= r and
   |y-cy| <= r``; ``triangle`` = upright isosceles, apex at ``(cx, cy-r)``, base
   from ``(cx-r, cy+r)`` to ``(cx+r, cy+r)``.
3. **Colour.** Class k has a base colour (red, green, blue, then yellow,
   magenta, cyan, ... for more classes); each object jitters every channel by
   uniform +-40, so colour hints at the class but shape decides it.
4. **Occlusion.** Objects are painted in order: a later object paints over
   earlier ones, and earlier masks lose those pixels. An object whose mask is
   left empty (fully covered or outside the image) is dropped.

Targets per image: ``semantic`` (HxW long: 0 background, class index + 1),
``masks`` (NxHxW bool, visible pixels of each object), ``boxes`` (Nx4 float,
xyxy pixel extent of each visible mask, ``x2 = max column + 1``), ``labels``
(N long, class index + 1).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

SHAPE_CLASSES = ("circle", "square", "triangle")
_BASE_COLOURS = ((220, 40, 40), (40, 200, 40), (40, 60, 220), (220, 220, 40), (200, 40, 200), (40, 200, 200))
_COLOUR_JITTER = 40
_TEXTURE_AMPLITUDE = 40
_NOISE_AMPLITUDE = 12


def _shape_mask(kind: str, cx: float, cy: float, r: float, size: int) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                          indexing="ij")
    if kind == "circle":
        return (x - cx) ** 2 + (y - cy) ** 2 <= r ** 2
    if kind == "square":
        return ((x - cx).abs() <= r) & ((y - cy).abs() <= r)
    if kind == "triangle":
        # inside when below the apex line and within the half-width that grows linearly towards the base
        depth = (y - (cy - r)) / (2 * r)  # 0 at the apex, 1 at the base
        return (depth >= 0) & (depth <= 1) & ((x - cx).abs() <= depth * r)
    raise ValueError(f"unknown shape {kind!r}; known shapes: {', '.join(SHAPE_CLASSES)}")


def _background(size: int, generator: torch.Generator) -> torch.Tensor:
    base = torch.rand(3, 1, 1, generator=generator) * 255
    cells = max(size // 8, 2)
    coarse = (torch.rand(1, 3, cells, cells, generator=generator) * 2 - 1) * _TEXTURE_AMPLITUDE
    texture = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)[0]
    noise = (torch.rand(3, size, size, generator=generator) * 2 - 1) * _NOISE_AMPLITUDE
    return base + texture + noise


def _uniform(low: float, high: float, generator: torch.Generator) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def generate_shapes(
    num_images: int,
    image_size: int = 64,
    seed: int = 0,
    max_objects: int = 3,
    classes: tuple[str, ...] = SHAPE_CLASSES,
) -> list[dict]:
    """Draw ``num_images`` images with their segmentation and detection targets (see the module docstring)."""
    if len(classes) > len(_BASE_COLOURS):
        raise ValueError(f"at most {len(_BASE_COLOURS)} classes have a base colour, got {len(classes)}")
    generator = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(num_images):
        image = _background(image_size, generator)
        masks: list[torch.Tensor] = []
        labels: list[int] = []
        for _ in range(int(torch.randint(1, max_objects + 1, (), generator=generator))):
            k = int(torch.randint(len(classes), (), generator=generator))
            s = _uniform(image_size / 6, image_size / 2.5, generator)
            cx, cy = _uniform(0, image_size - 1, generator), _uniform(0, image_size - 1, generator)
            jitter = (torch.rand(3, generator=generator) * 2 - 1) * _COLOUR_JITTER
            colour = torch.tensor(_BASE_COLOURS[k], dtype=torch.float32) + jitter
            mask = _shape_mask(classes[k], cx, cy, s / 2, image_size)
            image = torch.where(mask, colour[:, None, None], image)
            masks = [m & ~mask for m in masks]  # occlusion: the new object hides what lies under it
            masks.append(mask)
            labels.append(k + 1)
        keep = [i for i, m in enumerate(masks) if m.any()]
        masks_t = torch.stack([masks[i] for i in keep]) if keep else torch.zeros(0, image_size, image_size,
                                                                                 dtype=torch.bool)
        labels_t = torch.tensor([labels[i] for i in keep], dtype=torch.long)
        semantic = torch.zeros(image_size, image_size, dtype=torch.long)
        for mask, label in zip(masks_t, labels_t):
            semantic[mask] = label
        samples.append({
            "image": image.round().clamp(0, 255).to(torch.uint8),
            "semantic": semantic,
            "masks": masks_t,
            "boxes": _mask_boxes(masks_t),
            "labels": labels_t,
        })
    return samples


def _mask_boxes(masks: torch.Tensor) -> torch.Tensor:
    """xyxy extent of each mask: (min column, min row, max column + 1, max row + 1)."""
    boxes = torch.zeros(len(masks), 4)
    for i, mask in enumerate(masks):
        rows, cols = mask.any(dim=1).nonzero()[:, 0], mask.any(dim=0).nonzero()[:, 0]
        boxes[i] = torch.tensor([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=torch.float32)
    return boxes
