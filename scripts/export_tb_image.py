"""Write an image that a run logged to TensorBoard as a PNG file, e.g. a sample grid for docs/.

    python scripts/export_tb_image.py RUN_DIR test/translations docs/img/pix2pix.png [--step N]

Reads the event files under ``<run>/tb`` and writes the image logged under the tag
at the last step (or at ``--step``) byte for byte: TensorBoard stores PNGs already.
Prints the size in KB, so docs images can be kept small.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import IMAGES, EventAccumulator


def logged_image(run_dir: Path, tag: str, step: int | None = None) -> bytes:
    """The PNG bytes logged under ``tag`` (at ``step``, else the last one)."""
    events = EventAccumulator(str(run_dir / "tb"), size_guidance={IMAGES: 0})  # 0: keep every image
    events.Reload()
    tags = events.Tags()[IMAGES]
    if tag not in tags:
        sys.exit(f"{run_dir / 'tb'} has no image tag {tag!r}; it has {', '.join(sorted(tags)) or 'no images'}.")
    images = events.Images(tag)
    chosen = [image for image in images if step is None or image.step == step]
    if not chosen:
        sys.exit(f"{tag!r} was logged at steps {[image.step for image in images]}, not at {step}.")
    return chosen[-1].encoded_image_string


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("tag")
    parser.add_argument("output", type=Path)
    parser.add_argument("--step", type=int, default=None)
    args = parser.parse_args()
    png = logged_image(args.run_dir, args.tag, args.step)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(png)
    print(f"{args.output}: {len(png) / 1024:.1f} KB")


if __name__ == "__main__":
    main()
