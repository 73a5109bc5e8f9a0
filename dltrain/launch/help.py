"""``dltrain --help``: the config groups and their options, the top-level keys, examples; ``dltrain --help TOPIC``
prints a guide (docs/TOPIC.md, shipped inside the wheel), the page that error messages name.

Read straight from the config files (a directory listing and one YAML file), so it answers at once: Hydra's
own help builds a config repository per group and takes seconds for this tree. ``--hydra-help`` is still
Hydra's.
"""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

HIDDEN_GROUPS = {"hydra", "paths", "style_transfer"}  # Hydra's own, machine paths, a task's sub-config
EXAMPLES = """\
Examples:
  dltrain                                              an MLP on the offline digits
  dltrain model=resnet18 data=cifar10 optimizer=nesterov trainer.max_epochs=30
  dltrain experiment=vit_cifar10                       a known-good recipe (the experiment group above)
  dltrain -m optimizer=sgd,momentum,rmsprop,adam       a sweep: one run per value, summary.csv
  dltrain ckpt_path=last trainer.max_epochs=40         continue this config's run, for more epochs
  dltrain mode=eval ckpt_path=PATH                     test metrics of a checkpoint (in its run's eval_<time>/)
  dltrain mode=predict ckpt_path=PATH predict.inputs=photos/
  dltrain trainer=debug                                a few batches, to check a config (in outputs/debug/)
  dltrain --cfg job                                    print the composed config without running
  dltrain runs                                         a table of the runs in outputs/ (--sort, --model, --data)
  dltrain runs --compare RUN_A RUN_B                   their curves in one PNG
  tensorboard --logdir outputs                         the curves
Keys of a group: dltrain model=NAME --cfg job. Hydra's own options: dltrain --hydra-help."""


def config_groups(config_dir: Path) -> dict[str, list[str]]:
    """Every user-facing config group and its options (file names without .yaml), sorted."""
    groups = {}
    for folder in sorted(p for p in config_dir.iterdir() if p.is_dir() and p.name not in HIDDEN_GROUPS):
        groups[folder.name] = sorted(p.stem for p in folder.glob("*.yaml"))
    return groups


def top_level_keys(config_dir: Path) -> list[tuple[str, str]]:
    """(key, its comment) for the run-level keys of train.yaml: ``seed``, ``ckpt_path``, ``predict.inputs``..."""
    keys, comment, parent = [], "", ""
    for line in (config_dir / "train.yaml").read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comment = (comment + " " + stripped.lstrip("# ")).strip()
            continue
        match = re.match(r"^( *)([A-Za-z_]+):\s*([^#]*?)\s*(?:#\s*(.*))?$", line)
        if not match or line.startswith(("defaults", "  -")) or stripped.startswith("-"):
            comment = ""
            continue
        indent, key, value, trailing = match.groups()
        if indent:
            keys.append((f"{parent}.{key}", trailing or ""))
        elif value:
            keys.append((key, trailing or comment))
        else:
            parent = key
            keys.append((f"{key}.*", comment))
        comment = ""
    return [(k, c) for k, c in keys if k != "defaults.*"]


def topics(docs: Path) -> list[str]:
    """The guides ``dltrain --help TOPIC`` prints: docs/*.md by name."""
    return sorted(p.stem for p in docs.glob("*.md")) if docs.is_dir() else []


def topic_asked(args: list[str]) -> str | None:
    """TOPIC of ``dltrain --help TOPIC`` (a word after --help that is no override or option), else None."""
    for flag, following in zip(args, args[1:]):
        if flag in ("-h", "--help") and following and "=" not in following and not following.startswith("-"):
            return following
    return None


def render_topic(docs: Path, topic: str) -> str:
    from dltrain.errors import UserError

    known = topics(docs)
    if topic.removesuffix(".md") not in known:
        raise UserError(f"No guide named {topic}; the guides are: {', '.join(known)} (dltrain --help TOPIC).")
    return (docs / f"{topic.removesuffix('.md')}.md").read_text()


def render(config_dir: str | Path, docs: Path | None = None) -> str:
    config_dir = Path(config_dir)
    lines = ["dltrain: train any architecture of the notes with one command.",
             "  dltrain [group=option ...] [key=value ...]        (-m: sweep over comma-separated values)", "",
             "Config groups (choose one option each, e.g. model=resnet18):"]
    for group, options in config_groups(config_dir).items():
        wrapped = textwrap.wrap(" ".join(options), width=100, initial_indent=f"  {group:15s} ",
                                subsequent_indent=" " * 18)
        lines += wrapped
    lines += ["", "Run-level keys (e.g. seed=1, ckpt_path=last):"]
    for key, comment in top_level_keys(config_dir):
        lines += textwrap.wrap(comment, width=110, initial_indent=f"  {key:24s} ", subsequent_indent=" " * 27) \
            or [f"  {key}"]
    guides = topics(docs) if docs is not None else []
    if guides:
        lines += ["", "Guides (dltrain --help TOPIC prints one):"]
        lines += textwrap.wrap(" ".join(guides), width=100, initial_indent="  ", subsequent_indent="  ")
    return "\n".join(lines + ["", EXAMPLES])
