"""Does a speed path train as well as the reference? The paper's model on binarized MNIST for
2,000 steps, per path and seed, then its bound on the full test split; a path counts when its
mean is within the reference's seed-to-seed spread (issue 28's rule).

    python benchmarks/equal_quality.py --data-dir ../shared/data/binarized_mnist --out runs/quality \\
        --paths reference,ranks,amp,ranks+amp --seeds 0,1,2 --steps 2000

A path is "+"-joined flags: ranks (`--ranks 2 --threads 2`), amp (`--amp`); "reference" is one
process on the thread rule in fp32. Each (path, seed) is a run directory under --out that a
second invocation resumes or, once trained, only re-reads; the table goes to stdout and
quality.json beside the runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

PATH_FLAGS = {"ranks": ["--ranks", "2", "--threads", "2"], "amp": ["--amp"]}


def flags_of(path: str) -> list[str]:
    if path == "reference":
        return []
    flags = []
    for part in path.split("+"):
        if part not in PATH_FLAGS:
            raise SystemExit(f"equal_quality: unknown path part {part!r} (known: reference, {', '.join(PATH_FLAGS)})")
        flags += PATH_FLAGS[part]
    return flags


def drawstudio(*argv: str) -> str:
    done = subprocess.run([sys.executable, "-m", "drawstudio", *argv], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"drawstudio {' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def left_plateau(run: Path, below: float, window: int = 50) -> int | None:
    """The first logged step at which the mean training loss of the last `window` logged steps fell
    below `below`, or None if it never did (one batch's loss is too noisy to tell).

    DRAW trains through a plateau (a loss near 185 nats on binarized MNIST for the paper's model)
    before its attention takes hold, and when a seed leaves it decides much of the bound at
    2,000 steps; this step says how much of a path's number is that luck."""
    losses: list[float] = []
    for line in (run / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("kind") == "train":
            losses.append(record["loss"])
            if len(losses) >= window and statistics.fmean(losses[-window:]) < below:
                return record["step"]
    return None


def bound(run: Path, data_dir: str, path: str, seed: int, steps: int) -> float:
    drawstudio("train", "--preset", "mnist-attention", "--data-dir", data_dir, "--run", str(run), "--steps", str(steps),
               "--seed", str(seed), "--eval-every", "0", "--quiet", *flags_of(path))
    return json.loads(drawstudio("eval", "--run", str(run), "--data-dir", data_dir, "--json"))["nll"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--paths", default="reference,ranks,amp,ranks+amp")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--plateau-loss", type=float, default=170.0,
                        help="a run has left the early plateau once its training loss falls below this (default: 170)")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    results: dict[str, list[float]] = {}
    exits: dict[str, list[int | None]] = {}
    for path in args.paths.split(","):
        flags_of(path)
        results[path] = [bound(args.out / f"{path}-seed{seed}", args.data_dir, path, seed, args.steps)
                         for seed in seeds]
        exits[path] = [left_plateau(args.out / f"{path}-seed{seed}", args.plateau_loss) for seed in seeds]
        print(f"{path}: {results[path]}", file=sys.stderr)
    reference = results.get("reference")
    spread = (min(reference), max(reference)) if reference else None
    print(f"| path | {' | '.join(f'seed {s}' for s in seeds)} | mean | within the reference's spread "
          f"| left the plateau (loss < {args.plateau_loss:g}) at step |")
    print("|---|" + "---:|" * (len(seeds) + 1) + "---|---|")
    for path, bounds in results.items():
        mean = statistics.mean(bounds)
        verdict = "—" if spread is None or path == "reference" else (
            "yes" if spread[0] <= mean <= spread[1] or mean < spread[0] else "no")
        steps = " / ".join("never" if step is None else str(step) for step in exits[path])
        print(f"| {path} | {' | '.join(f'{b:.2f}' for b in bounds)} | {mean:.2f} | {verdict} | {steps} |")
    (args.out / "quality.json").write_text(json.dumps(
        {"steps": args.steps, "seeds": seeds, "bounds": results, "left_plateau_at": exits}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
