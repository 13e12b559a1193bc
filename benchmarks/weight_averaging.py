"""Which weights bound the test split best at a low rate: a run's trained weights, their moving
average (`drawstudio train --ema-decay`), or the mean of its newest checkpoints.

    python benchmarks/weight_averaging.py RUN_DIR [CHECKPOINT ...] [--data-dir DIR] [--k 2 4 8]
        [--split test valid]

A run keeps only its two newest checkpoints; to average more, copy them aside while it trains
(`cp RUN_DIR/checkpoints/*.pt SAVED/` every few minutes) and name the copies. The newest of all
the checkpoints named (by step; RUN_DIR's own when none are) is evaluated with its trained
weights and, when it carries one, with its moving average; then, for each K, the plain mean of
the trained weights of the K newest. Nothing is written to the run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from drawstudio.train import checkpoint as ckpt
from drawstudio.train.runs import open_run


def mean_weights(states: list[dict]) -> dict[str, torch.Tensor]:
    """The entry-wise mean of the checkpoints' trained weights (integer entries from the first)."""
    first = states[0]["model"]
    return {name: torch.stack([s["model"][name] for s in states]).mean(0) if value.is_floating_point() else value
            for name, value in first.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="the run (its config, data and newest checkpoint)")
    parser.add_argument("checkpoints", type=Path, nargs="*", help="checkpoint files to average (default: the run's)")
    parser.add_argument("--data-dir", help="where the run's dataset files are now")
    parser.add_argument("--k", type=int, nargs="+", default=[2, 4, 8], help="how many newest checkpoints to average")
    parser.add_argument("--split", nargs="+", default=["test"], choices=["test", "valid"])
    args = parser.parse_args(argv)

    trainer = open_run(args.run, data_dir=args.data_dir)
    paths = args.checkpoints or ckpt.list_checkpoints(args.run)
    states = sorted((ckpt.load_checkpoint(p) for p in paths), key=lambda s: s["step"], reverse=True)
    newest = states[0]

    def bound(label: str, weights: dict[str, torch.Tensor]) -> None:
        trainer.model.load_state_dict(weights)
        figures = [f"{split} {trainer.evaluation.evaluate(newest['step'], split)['nll']:.2f}" for split in args.split]
        print(f"{label:<44} {' / '.join(figures)} nats")

    print(f"step {newest['step']}; checkpoints at steps {[s['step'] for s in states]}")
    bound("trained weights of the newest", newest["model"])
    if newest.get("average") is not None:
        bound(f"moving average (decay {trainer.config.train.ema_decay})", newest["average"])
    for k in args.k:
        if k <= len(states):
            bound(f"mean of the {k} newest (steps {states[k - 1]['step']}–{newest['step']})", mean_weights(states[:k]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
