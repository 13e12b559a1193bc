"""Where a run's attention looks at each drawing step, and what each step's latents carry, on
test images spread over the split: the numbers behind docs/experiments/benchmark-schedule.md.
A model whose read and write stay at the same place at every step (varying only with the
image) sits on a plateau near 133 nats at T=64; one that has learned to draw sweeps
its windows over the digit.

    python benchmarks/attention_paths.py RUN [--images 256] [--every 8] [--data-dir DIR]

Reads the run's newest checkpoint; writes nothing.
"""

from __future__ import annotations

import argparse
import sys

import torch

from drawstudio.errors import DrawStudioError
from drawstudio.model.attention import AttentionParams
from drawstudio.train.evaluation import spread
from drawstudio.train.runs import open_run


def describe_window(name: str, params: AttentionParams, steps: range) -> list[str]:
    """One line per drawing step: the window's centre and stride (mean ± spread over the images),
    its filter width and intensity, in pixels of the image."""
    lines = [name]
    for t in steps:
        lines.append(f"  t={t:3d}  centre x {params.gx[t].mean():5.1f} ± {params.gx[t].std():3.1f}  "
                     f"y {params.gy[t].mean():5.1f} ± {params.gy[t].std():3.1f}  "
                     f"stride {params.delta[t].mean():5.2f}  σ {params.sigma2[t].sqrt().mean():4.2f}  "
                     f"γ {params.gamma[t].mean():7.3f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="the run directory")
    parser.add_argument("--images", type=int, default=256, help="test images, spread over the split")
    parser.add_argument("--every", type=int, default=8, help="show every this many drawing steps")
    parser.add_argument("--data-dir", help="where the run's dataset is, if not where it was trained")
    args = parser.parse_args(argv)
    try:
        trainer = open_run(args.run, data_dir=args.data_dir)
    except DrawStudioError as error:
        print(f"attention_paths: error: {error}", file=sys.stderr)
        return 1
    model = trainer.model
    model.eval()
    test = trainer.evaluation.eval_set("test")
    chosen = spread(len(test.images), args.images)
    labels = None if test.labels is None else test.labels[chosen]
    generator = torch.Generator(trainer.device).manual_seed(0)
    noise = torch.randn(model.config.T, len(chosen), model.config.z_size, device=trainer.device, generator=generator)
    with torch.no_grad():
        out = model(test.images[chosen], labels, noise, record=True)
    trace = out.trace
    assert trace is not None
    print(f"{args.run} at step {trainer.step}: {len(chosen)} test images, bound {out.loss.mean():.2f} nats "
          f"(reconstruction {out.recon.mean():.2f} + KL {out.kl.sum(1).mean():.2f})")
    if trace.read is None or trace.write is None:
        print("no attention")
    else:
        steps = range(0, model.config.T, max(1, args.every))
        print("\n".join(describe_window("read", trace.read, steps) + describe_window("write", trace.write, steps)))
    print("KL per drawing step (nats): " + " ".join(f"{v:.2f}" for v in out.kl.mean(0).tolist()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
