"""What keeping the training history costs the paper's MNIST model (T=64, 256 LSTM units,
z=100, batch 64, 16+16 images per snapshot), and how large it gets.

    python benchmarks/history_overhead.py [--data-dir ../shared/data/mnist] [--steps 6] [--writes 3]

Measures the median time of a training step and of one history write (the snapshot's
forward passes, compression and the crash-safe write), then replays the keeping rule over
runs of 1,000, 10,000 and 100,000 steps with real snapshot files in a temp folder: how many
snapshots each run writes (thinned ones included), the share of training time they take,
and the history's final size and kept steps. The model trains a few steps only, so its
canvases are those of an early model; trained canvases have more ink and compress less.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drawstudio.config import RunConfig  # noqa: E402
from drawstudio.train.history import HISTORY_SIZE, HistoryWriter, stored_steps  # noqa: E402
from drawstudio.train.presets import apply_preset  # noqa: E402
from drawstudio.train.trainer import Trainer  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def timed(action) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--steps", type=int, default=6, help="timed training steps (median)")
    parser.add_argument("--writes", type=int, default=3, help="timed history writes (median)")
    args = parser.parse_args()

    paper = apply_preset(RunConfig().to_dict(), "mnist-attention")
    paper["train"].update(dataset="mnist", data_dir=str(args.data_dir), binarize="dynamic", batch_size=64,
                          steps=10**9, eval_every=0, eval_images=1000)
    config = RunConfig.from_dict(paper, "benchmark")
    trainer = Trainer(config, None)
    trainer.train_step()  # warm-up
    step_seconds = statistics.median(timed(trainer.train_step) for _ in range(args.steps))
    with tempfile.TemporaryDirectory() as folder:
        writer = HistoryWriter(Path(folder), resumed_step=0)
        snapshot = trainer.snapshot(*HISTORY_SIZE)
        write_seconds = statistics.median(
            timed(lambda: writer.write(trainer.snapshot(*HISTORY_SIZE))) for _ in range(args.writes))
        size = writer.bytes
    print(f"paper model, batch 64, on {trainer.device}: training step {step_seconds * 1000:.0f} ms, "
          f"history write {write_seconds * 1000:.0f} ms, snapshot file {size / 1e6:.2f} MB")
    for steps in (1_000, 10_000, 100_000):
        with tempfile.TemporaryDirectory() as folder:
            writer = HistoryWriter(Path(folder), resumed_step=0)
            written = sum(writer.after_step(s, lambda s=s: dataclasses.replace(snapshot, step=s))
                          for s in range(1, steps + 1))
            kept = stored_steps(Path(folder))
            share = written * write_seconds / (steps * step_seconds)
            print(f"{steps:>7,} steps: {written} snapshots written, {share:.2%} of training time; "
                  f"history {writer.bytes / 1e6:.1f} MB, {len(kept)} kept, spacing {writer.spacing:,} "
                  f"(last kept {kept[-1]:,})")


if __name__ == "__main__":
    main()
