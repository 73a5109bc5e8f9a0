"""Put images side by side at one height in a single PNG, e.g. style transfer's content | style | result.

    python scripts/side_by_side.py china.jpg flower.jpg <run>/stylised.png docs/img/style_transfer.png [--height 128]

Each image is resized (aspect kept, bicubic) to ``--height`` pixels high, default
the last image's height, and separated by a 4-pixel grey gap. Prints the size in KB.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

GAP, GREY = 4, (128, 128, 128)


def side_by_side(paths: list[Path], height: int | None = None) -> Image.Image:
    images = [Image.open(path).convert("RGB") for path in paths]
    height = height or images[-1].height
    resized = [image.resize((round(image.width * height / image.height), height), Image.Resampling.BICUBIC)
               for image in images]
    canvas = Image.new("RGB", (sum(image.width for image in resized) + GAP * (len(resized) - 1), height), GREY)
    x = 0
    for image in resized:
        canvas.paste(image, (x, 0))
        x += image.width + GAP
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", type=Path, nargs="+", help="the images, then the output PNG")
    parser.add_argument("--height", type=int, default=None)
    args = parser.parse_args()
    *inputs, output = args.images
    side_by_side(inputs, args.height).save(output, optimize=True)
    print(f"{output}: {output.stat().st_size / 1024:.1f} KB")


if __name__ == "__main__":
    main()
