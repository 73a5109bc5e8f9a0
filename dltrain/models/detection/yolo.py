"""A small single-stage detector in the YOLO family, anchor-free (FCOS / YOLOX style).

The idea of YOLO (Redmon et al., 2016): cut the image into an ``S x S`` grid
and let every cell predict, in one forward pass, whether an object is there,
its class and its box. This version follows the anchor-free successors
(FCOS, Tian et al., 2019; YOLOX, Ge et al., 2021) because they need no anchor
shapes tuned to the data — the documented choice for this project:

* **Grid.** A convolutional backbone downsamples by ``stride = 2^len(widths)``
  (8 by default: an 8x8 grid on 64-pixel images). Cell ``(i, j)`` has centre
  ``c = ((j + 0.5) s, (i + 0.5) s)``.
* **Outputs per cell** (decoupled head, as YOLOX): an objectness logit ``o``,
  class logits ``z_1..z_K`` and four distances ``(l, t, r, b) = s * exp(d)``
  from the centre to the box's sides, so the box is
  ``(c_x - l, c_y - t, c_x + r, c_y + b)`` (xyxy pixels).
* **Which cells answer for an object** (FCOS's centre sampling): the cells
  whose centre lies inside the ground-truth box *and* within ``radius * s`` of
  the box's centre, plus always the cell containing the box's centre (so tiny
  boxes get one). A cell claimed by two boxes takes the smaller one.
* **Loss**, normalised by the number of positive cells ``P``:
  ``L = (1/P) [ sum_all BCE(o, 1[positive]) + sum_pos CE(z, class)
  + w_box sum_pos (1 - GIoU(predicted box, true box)) ]``.
* **Inference.** Score of class ``k`` in a cell = ``sigmoid(o) * softmax(z)_k``;
  boxes above ``score_thresh`` go through per-class NMS (``batched_nms``).

``forward`` follows torchvision's detection interface: in training mode with
targets it returns a dict of losses, in eval mode a list of
``{"boxes", "scores", "labels"}`` per image, so one task drives every detector.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import batched_nms, clip_boxes_to_image, generalized_box_iou_loss

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ConvBlock(nn.Sequential):
    """Conv -> BatchNorm -> SiLU, the "CBS" unit of YOLOv5 / YOLOX."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.SiLU(inplace=True),
        )


class Residual(nn.Module):
    """Two ConvBlocks with a skip connection (Darknet's residual unit): x + F(x)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(ConvBlock(channels, channels // 2, 1), ConvBlock(channels // 2, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Backbone(nn.Sequential):
    """A stem, then one stage per width: a stride-2 ConvBlock followed by ``depth`` residual units."""

    def __init__(self, widths: Sequence[int], depth: int) -> None:
        layers: list[nn.Module] = [ConvBlock(3, widths[0] // 2)]
        width = widths[0] // 2
        for out in widths:
            layers.append(ConvBlock(width, out, stride=2))
            layers += [Residual(out) for _ in range(depth)]
            width = out
        super().__init__(*layers)


class DecoupledHead(nn.Module):
    """YOLOX's head: separate branches for "what" (classes) and "where" (box + objectness)."""

    def __init__(self, channels: int, num_classes: int, prior: float = 0.01) -> None:
        super().__init__()
        self.cls_branch = nn.Sequential(ConvBlock(channels, channels), ConvBlock(channels, channels))
        self.reg_branch = nn.Sequential(ConvBlock(channels, channels), ConvBlock(channels, channels))
        self.cls_out = nn.Conv2d(channels, num_classes, 1)
        self.box_out = nn.Conv2d(channels, 4, 1)
        self.obj_out = nn.Conv2d(channels, 1, 1)
        # RetinaNet's prior: start by saying "object" with probability 0.01, so the many empty
        # cells do not swamp the first steps with a huge objectness loss
        nn.init.constant_(self.obj_out.bias, -math.log((1 - prior) / prior))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cls_features, reg_features = self.cls_branch(x), self.reg_branch(x)
        return self.obj_out(reg_features), self.cls_out(cls_features), self.box_out(reg_features)


class YOLO(nn.Module):
    """Anchor-free single-stage detector; ``num_classes`` object classes, labels ``1..num_classes``."""

    def __init__(
        self,
        num_classes: int,
        widths: Sequence[int] = (32, 64, 128),
        depth: int = 1,
        radius: float = 1.5,
        box_weight: float = 5.0,
        score_thresh: float = 0.05,
        nms_thresh: float = 0.5,
        detections_per_img: int = 100,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.stride = 2 ** len(widths)
        self.radius, self.box_weight = radius, box_weight
        self.score_thresh, self.nms_thresh, self.detections_per_img = score_thresh, nms_thresh, detections_per_img
        self.backbone = Backbone(widths, depth)
        self.head = DecoupledHead(widths[-1], num_classes)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    # ------------------------------------------------------------------ forward
    def forward(self, images: Sequence[torch.Tensor] | torch.Tensor,
                targets: Sequence[dict[str, torch.Tensor]] | None = None
                ) -> dict[str, torch.Tensor] | list[dict[str, torch.Tensor]]:
        x = self.batch_images(images)
        objectness, class_logits, distances = self.head(self.backbone((x - self.mean) / self.std))
        # (B, C, H, W) -> (B, H*W, C): one row per cell, cells in row-major order
        objectness, class_logits, distances = (t.flatten(2).transpose(1, 2) for t in
                                               (objectness, class_logits, distances))
        centres = self.cell_centres(x.shape[-2] // self.stride, x.shape[-1] // self.stride, x.device)
        boxes = self.decode(centres, distances)
        if self.training:
            if targets is None:
                raise ValueError("YOLO needs targets in training mode")
            return self.loss(objectness.squeeze(-1), class_logits, boxes, centres, targets)
        return self.postprocess(objectness.squeeze(-1), class_logits, clip_boxes_to_image(boxes, x.shape[-2:]))

    def batch_images(self, images: Sequence[torch.Tensor] | torch.Tensor) -> torch.Tensor:
        """Stack images into one tensor, zero-padded at the bottom / right to a multiple of the stride."""
        if isinstance(images, torch.Tensor) and images.ndim == 4:
            images = list(images)
        height = max(image.shape[-2] for image in images)
        width = max(image.shape[-1] for image in images)
        height, width = (math.ceil(v / self.stride) * self.stride for v in (height, width))
        batch = images[0].new_zeros(len(images), 3, height, width)
        for slot, image in zip(batch, images):
            slot[:, : image.shape[-2], : image.shape[-1]].copy_(image)
        return batch

    def cell_centres(self, rows: int, cols: int, device: torch.device) -> torch.Tensor:
        """(rows*cols, 2) pixel coordinates (x, y) of the cell centres, row-major."""
        y, x = torch.meshgrid(torch.arange(rows, device=device), torch.arange(cols, device=device), indexing="ij")
        return (torch.stack([x, y], dim=-1).reshape(-1, 2).float() + 0.5) * self.stride

    def decode(self, centres: torch.Tensor, distances: torch.Tensor) -> torch.Tensor:
        """(l, t, r, b) = stride * exp(d), clamped so exp cannot overflow; box = centre -+ distances."""
        ltrb = self.stride * distances.float().clamp(max=8.0).exp()
        return torch.cat([centres - ltrb[..., :2], centres + ltrb[..., 2:]], dim=-1)

    # ------------------------------------------------------------------ training
    def assign(self, centres: torch.Tensor, gt_boxes: torch.Tensor) -> torch.Tensor:
        """Index of the ground-truth box each cell answers for, or -1 (centre sampling, smallest box wins)."""
        if len(gt_boxes) == 0:
            return torch.full((len(centres),), -1, dtype=torch.long, device=centres.device)
        x, y = centres[:, 0:1], centres[:, 1:2]  # (cells, 1) against (boxes,)
        x1, y1, x2, y2 = gt_boxes.unbind(dim=1)
        inside = (x > x1) & (x < x2) & (y > y1) & (y < y2)
        gt_cx, gt_cy = (x1 + x2) / 2, (y1 + y2) / 2
        reach = self.radius * self.stride
        near_centre = ((x - gt_cx).abs() < reach) & ((y - gt_cy).abs() < reach)
        # the cell whose square contains the box centre always answers, however small the box
        half = self.stride / 2
        holds_centre = ((x - gt_cx).abs() <= half) & ((y - gt_cy).abs() <= half)
        candidate = (inside & near_centre) | holds_centre
        area = ((x2 - x1) * (y2 - y1)).expand_as(candidate)
        area = torch.where(candidate, area, torch.full_like(area, float("inf")))
        smallest_area, index = area.min(dim=1)
        return torch.where(torch.isfinite(smallest_area), index, torch.full_like(index, -1))

    def loss(self, objectness: torch.Tensor, class_logits: torch.Tensor, boxes: torch.Tensor,
             centres: torch.Tensor, targets: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        assigned = torch.stack([self.assign(centres, t["boxes"]) for t in targets])  # (B, cells)
        positive = assigned >= 0
        num_positive = positive.sum().clamp(min=1).float()
        # targets of the positive cells, image by image, in the same order as boxes[positive]
        gt_boxes = torch.cat([t["boxes"][a[p]] for t, a, p in zip(targets, assigned, positive)])
        gt_classes = torch.cat([t["labels"][a[p]] for t, a, p in zip(targets, assigned, positive)]) - 1
        loss_objectness = F.binary_cross_entropy_with_logits(objectness.float(), positive.float(), reduction="sum")
        loss_classifier = F.cross_entropy(class_logits[positive].float(), gt_classes, reduction="sum")
        loss_box = generalized_box_iou_loss(boxes[positive], gt_boxes.float(), reduction="sum")
        return {
            "loss_objectness": loss_objectness / num_positive,
            "loss_classifier": loss_classifier / num_positive,
            "loss_box": self.box_weight * loss_box / num_positive,
        }

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def postprocess(self, objectness: torch.Tensor, class_logits: torch.Tensor,
                    boxes: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        scores = objectness.float().sigmoid().unsqueeze(-1) * class_logits.float().softmax(dim=-1)  # (B, cells, K)
        detections = []
        for image_scores, image_boxes in zip(scores, boxes):
            cell, k = (image_scores > self.score_thresh).nonzero(as_tuple=True)
            kept_scores, kept_boxes, labels = image_scores[cell, k], image_boxes[cell], k + 1
            keep = batched_nms(kept_boxes, kept_scores, labels, self.nms_thresh)[: self.detections_per_img]
            detections.append({"boxes": kept_boxes[keep], "scores": kept_scores[keep], "labels": labels[keep]})
        return detections
