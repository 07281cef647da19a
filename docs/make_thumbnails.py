"""Regenerate the README thumbnails in docs/img/ from figures drawn by `python -m reactivation.figures`.

Usage (after training, analysing and drawing; see docs/seed0_check.md):

    python docs/make_thumbnails.py [--results results] [--width 520]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

# (task, figure name): the few panels the README shows.
THUMBNAILS = [
    ("spatial_navigation", "output_density_noisy_biased"),
    ("spatial_navigation", "pc_scatter_noisy_unbiased"),
    ("spatial_navigation", "kl_heatmap"),
    ("spatial_navigation", "learning_curves"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default="results", help="results root (default: results)")
    parser.add_argument("--width", type=int, default=520, help="thumbnail width in pixels (default: 520)")
    args = parser.parse_args()
    out_dir = Path(__file__).resolve().parent / "img"
    out_dir.mkdir(exist_ok=True)
    for task, name in THUMBNAILS:
        source = Path(args.results) / task / "figures" / f"{name}.png"
        if not source.is_file():
            raise SystemExit(f"error: {source} is missing; draw it with `python -m reactivation.figures task={task}`")
        with Image.open(source) as image:
            image.thumbnail((args.width, args.width * 4))
            image.convert("RGB").save(out_dir / f"{name}.png", optimize=True)
        print(f"wrote {out_dir / (name + '.png')}")


if __name__ == "__main__":
    main()
