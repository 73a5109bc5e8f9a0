"""Seconds of one detection validation's mAP: the faster-coco-eval backend dltrain uses vs pycocotools'.

    python scripts/bench_coco_eval.py [--images 200] [--boxes 100] [--repeats 3]

The boxes are what an untrained or young detector hands the metric at the end of a validation pass on the
generated shapes: ``--boxes`` low-confidence detections per image (torchvision's 100 by default) against three
objects per image, 64-px images, three classes. Each backend computes the same MeanAveragePrecision as
DetectionTask (COCOeval's own thresholds; boxes, then boxes and masks as Mask R-CNN's validation does), and the
table gives the best and median seconds of `repeats` and the largest difference of any reported value.
pycocotools is a test dependency (`pip install -e ".[test]"`).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torchmetrics.detection import MeanAveragePrecision

from dltrain.tasks.detection import coco_mean_average_precision


def detections(images: int, boxes: int, masks: bool, seed: int = 0) -> tuple[list[dict], list[dict]]:
    generator = torch.Generator().manual_seed(seed)

    def random_boxes(n: int) -> torch.Tensor:
        corner = torch.rand(n, 2, generator=generator) * 44
        return torch.cat([corner, corner + 10 + torch.rand(n, 2, generator=generator) * 15], 1).round()

    def boolean_masks(box: torch.Tensor) -> torch.Tensor:
        grid = torch.arange(64.0)
        inside_x = (grid >= box[:, None, 0]) & (grid < box[:, None, 2])
        inside_y = (grid >= box[:, None, 1]) & (grid < box[:, None, 3])
        return inside_y[:, :, None] & inside_x[:, None, :]

    preds, targets = [], []
    for _ in range(images):
        pred = {"boxes": random_boxes(boxes), "scores": torch.rand(boxes, generator=generator),
                "labels": torch.randint(1, 4, (boxes,), generator=generator)}
        target = {"boxes": random_boxes(3), "labels": torch.randint(1, 4, (3,), generator=generator)}
        if masks:
            pred["masks"], target["masks"] = boolean_masks(pred["boxes"]), boolean_masks(target["boxes"])
        preds.append(pred)
        targets.append(target)
    return preds, targets


def timed(metric: MeanAveragePrecision, preds: list[dict], targets: list[dict], repeats: int):
    seconds, values = [], None
    for _ in range(repeats):
        metric.reset()
        metric.update(preds, targets)
        start = time.perf_counter()
        values = metric.compute()
        seconds.append(time.perf_counter() - start)
    return seconds, {k: float(v) for k, v in values.items() if v.numel() == 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--boxes", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{args.images} images x {args.boxes} detections, {torch.get_num_threads()} threads")
    print("| iou types | pycocotools best / median s | faster-coco-eval best / median s | speed-up | max diff |")
    print("|---|---:|---:|---:|---:|")
    for iou_type in ("bbox", ("bbox", "segm")):
        preds, targets = detections(args.images, args.boxes, masks=iou_type != "bbox")
        ours = coco_mean_average_precision(iou_type)
        reference = coco_mean_average_precision(iou_type, backend="pycocotools")  # the same thresholds and options
        ref_s, ref_values = timed(reference, preds, targets, args.repeats)
        our_s, our_values = timed(ours, preds, targets, args.repeats)
        diff = max(abs(ref_values[k] - our_values[k]) for k in ref_values)
        name = iou_type if isinstance(iou_type, str) else " + ".join(iou_type)
        print(f"| {name} | {min(ref_s):.2f} / {statistics.median(ref_s):.2f} | {min(our_s):.2f} / "
              f"{statistics.median(our_s):.2f} | {statistics.median(ref_s) / statistics.median(our_s):.1f}x | "
              f"{diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
