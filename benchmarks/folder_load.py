"""How long loading an image folder takes: N small random PNGs written to a scratch folder,
then load_folder timed (the median of a few repeats). It was a test's 4-second limit once;
a limit on a shared machine fails for the load, not the code, so it is measured here.

    python benchmarks/folder_load.py [--images 2000] [--size 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from drawstudio.data.folder import load_folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for i in range(args.images):
            pixels = rng.integers(0, 256, (args.size, args.size), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i:05d}.png")
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            load_folder(folder, image_size=(args.size, args.size), channels=1)
            seconds.append(time.perf_counter() - start)
    print(f"{args.images} PNGs of {args.size}x{args.size}: median {statistics.median(seconds):.2f} s "
          f"over {args.repeats} loads (each: {', '.join(f'{s:.2f}' for s in seconds)})")


if __name__ == "__main__":
    main()
