"""Start-up time: from process start to the first training step of the default run, and to the answer of
`dltrain --help` and of a config error, beside `python -c "import torch"` measured in the same run.

    python scripts/bench_startup.py [--rounds 5]

Each command is a fresh process, run in an empty temporary folder, `rounds` times in turn (so a busy moment
of the machine hits every command alike); the table gives the best and the median wall time of each. The
default run stops itself right after its first optimizer step: a SIGUSR1 sent by the fault-injection callback
`SignalAtStep` ends it there (exit 75, no checkpoint written), so its time is "process start -> first step
done". Goals (issue 15): --help and a config error under 1 s; the first step within 1.5 s of `import torch`.
The plain-PyTorch row is the floor of any training script: torch.optim's first optimizer imports
torch._dynamo (its ``add_param_group`` is wrapped by ``torch._disable_dynamo``), about a second by itself.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DLTRAIN = str(Path(sys.executable).parent / "dltrain")
FIRST_STEP = ["+callbacks.stop._target_=dltrain.engine.preemption.SignalAtStep", "+callbacks.stop.step=1",
              "+callbacks.stop.signal=SIGUSR1", "trainer.enable_checkpointing=false", "logger=none",
              "trainer.log_histograms=false", "trainer.enable_progress_bar=false"]
PLAIN_STEP = ("import torch; model = torch.nn.Linear(64, 10); adam = torch.optim.Adam(model.parameters()); "
              "model(torch.randn(64, 64)).sum().backward(); adam.step()")
COMMANDS = {
    'python -c "import torch"': ([sys.executable, "-c", "import torch"], 0),
    "plain PyTorch: import, Adam, one step": ([sys.executable, "-c", PLAIN_STEP], 0),
    "dltrain --help": ([DLTRAIN, "--help"], 0),
    "dltrain trainer.max_epoch=3 (config error)": ([DLTRAIN, "trainer.max_epoch=3"], 2),
    "dltrain (default run) to its first step": ([DLTRAIN, *FIRST_STEP], 75),
}


def timed(command: list[str], expected: int, cwd: str) -> float:
    env = {**os.environ, "DLTRAIN_OUTPUT_DIR": str(Path(cwd) / "outputs")}
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != expected:
        raise SystemExit(f"{' '.join(command)} exited {result.returncode}, expected {expected}:\n{result.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.rounds):
            for name, (command, expected) in COMMANDS.items():
                times[name].append(timed(command, expected, folder))
    torch_best = min(times['python -c "import torch"'])
    print(f"{'command':48s} {'best s':>8s} {'median s':>9s} {'best - import torch':>20s}")
    for name, values in times.items():
        print(f"{name:48s} {min(values):8.2f} {statistics.median(values):9.2f} {min(values) - torch_best:20.2f}")
    print(f"({args.rounds} rounds; {os.cpu_count()} CPUs; python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()
