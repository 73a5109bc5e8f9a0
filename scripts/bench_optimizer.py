"""Seconds of one optimizer step: Adam / AdamW as PyTorch picks on a CPU (a loop over the tensors) vs fused.

    OMP_NUM_THREADS=1 python scripts/bench_optimizer.py [--models resnet18 deeplabv3_shapes] [--steps 20]

dltrain asks for the fused kernel where it applies (Adam and AdamW whose config names no implementation, on a
CPU or a CUDA device; engine/optimization.py): this prints what that saves per step, side by side with the
default PyTorch otherwise takes, on the parameters of real models (built from their configs at the digits' or the
experiment's shape; gradients random, the same for both) and the largest difference of the weights after the
steps (the kernels round differently, so runs are not bitwise the same, but they agree to float precision).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from hydra.utils import instantiate

from dltrain import api

MODELS = {"resnet18": ["model=resnet18", "data=digits"], "resnet152": ["model=resnet152", "data=digits"],
          "deeplabv3_shapes": ["experiment=deeplabv3_shapes"]}


def step_seconds(params: list[torch.Tensor], grads: list[torch.Tensor], optimizer: type, steps: int,
                 **options) -> tuple[list[float], list[torch.Tensor]]:
    weights = [p.detach().clone().requires_grad_() for p in params]
    for w, g in zip(weights, grads):
        w.grad = g.clone()
    opt = optimizer(weights, lr=1e-3, weight_decay=0.01, **options)
    opt.step()  # the moments allocated, first-call work done
    seconds = []
    for _ in range(steps):
        start = time.perf_counter()
        opt.step()
        seconds.append(time.perf_counter() - start)
    return seconds, weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    print(f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    print("| model | params | optimizer | loop ms / step (median, best) | fused ms / step | speed-up | max diff |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for name in args.models:
        model = instantiate(api.compose(MODELS[name]).model)
        params = [p.detach() for p in model.parameters()]
        torch.manual_seed(0)
        grads = [torch.randn_like(p) * 1e-2 for p in params]
        count = sum(p.numel() for p in params)
        for optimizer in (torch.optim.Adam, torch.optim.AdamW):
            loop, loop_weights = step_seconds(params, grads, optimizer, args.steps, foreach=False)
            fused, fused_weights = step_seconds(params, grads, optimizer, args.steps, fused=True)
            diff = max((a - b).abs().max().item() for a, b in zip(loop_weights, fused_weights))
            print(f"| {name} | {count / 1e6:.1f}M | {optimizer.__name__} | {statistics.median(loop) * 1e3:.1f}, "
                  f"{min(loop) * 1e3:.1f} | {statistics.median(fused) * 1e3:.1f}, {min(fused) * 1e3:.1f} | "
                  f"{statistics.median(loop) / statistics.median(fused):.1f}x | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
