"""`drawstudio`: train, evaluate and sample DRAW from the command line (the studio's twin).

User errors (bad settings, files, datasets) print one line `drawstudio: error: ...` and
exit 1; a non-finite loss exits 3 with the last good checkpoint kept; usage errors exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from drawstudio.cli.parser import build_parser
from drawstudio.cli.train import cmd_train, warn_skipped
from drawstudio.cli.usage import EXIT_USAGE
from drawstudio.errors import ConfigError, DrawStudioError, NonFiniteError, RunDirError

EXIT_ERROR, EXIT_NONFINITE = 1, 3


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "gui":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        if args.command == "train" and args.ranks == 1:
            return cmd_train(args)
        if args.command == "train":
            from drawstudio.cli.ranks import launch

            return launch(args, sys.argv[1:] if argv is None else argv)
        if args.command == "eval":
            return cmd_eval(args)
        if args.command == "sample":
            return cmd_sample(args)
        if args.command == "classifier":
            return cmd_classifier(args)
        if args.command == "history":
            return cmd_history(args)
        if args.command == "pretrained":
            return cmd_pretrained()
        if args.command == "presets":
            from drawstudio.train.presets import describe

            print(describe())
            return 0
        if args.command == "bench":
            return cmd_bench(args)
        if args.command == "gui":
            from drawstudio.studio.app import main as studio_main

            return studio_main(rest, prog="drawstudio gui")
    except NonFiniteError as error:
        print(f"drawstudio: error: {error}", file=sys.stderr)
        return EXIT_NONFINITE
    except DrawStudioError as error:
        print(f"drawstudio: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("drawstudio: interrupted", file=sys.stderr)
        return 130
    return EXIT_USAGE


# ---- eval and sample ------------------------------------------------------------------


def _open_for_reading(args: argparse.Namespace) -> tuple[Any, Path, str]:
    """The trained model `eval` or `sample` reads (a run's newest checkpoint or a shipped
    model), the folder that holds its classifier, and how to name it."""
    if args.pretrained:
        from drawstudio.pretrained.catalog import find
        from drawstudio.pretrained.loading import open_pretrained

        trainer = open_pretrained(args.pretrained, device=args.device, data_dir=args.data_dir, threads=args.threads)
        return trainer, find(args.pretrained).folder, f"pretrained model {args.pretrained}"
    from drawstudio.train.runs import open_run

    trainer = open_run(args.run, device=args.device, data_dir=args.data_dir, threads=args.threads)
    warn_skipped(trainer)
    return trainer, args.run, f"run {args.run}"


def cmd_eval(args: argparse.Namespace) -> int:
    if args.iw_samples < 1:
        raise ConfigError(f"--iw-samples {args.iw_samples} must be at least 1")
    if args.max_images is not None and args.max_images < 1:
        raise ConfigError(f"--max-images {args.max_images} must be at least 1")
    trainer, folder, name = _open_for_reading(args)
    result = trainer.evaluate(args.split, args.max_images, iw_samples=args.iw_samples, log=False)
    result.pop("kind")
    result["checkpoint"] = trainer.resumed_from.name if trainer.resumed_from else None
    result["dataset"] = trainer.data.name
    if trainer.config.model.num_classes:
        from drawstudio.recognition.consistency import class_consistency

        # a shipped model's folder is never written: it carries its classifier
        result["class_consistency"] = class_consistency(trainer, folder, train_missing=not args.pretrained)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    where = f" ({result['checkpoint']})" if result["checkpoint"] else ""
    print(f"{name} at step {result['step']}{where}, {result['dataset']} {args.split} split, "
          f"{result['images']} images")
    print(f"  NLL bound       {result['nll']:.3f} nats  (reconstruction {result['recon']:.3f} + KL {result['kl']:.3f})")
    if "iw_nll" in result:
        print(f"  IW bound (K={result['iw_samples']}) {result['iw_nll']:.3f} nats")
    if "class_consistency" in result:
        cc = result["class_consistency"]
        print(f"  class consistency {cc['overall']:.1%} (classifier test accuracy {cc['classifier_accuracy']:.1%})")
    print(f"  {result['seconds']:.1f} s")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    import torch

    from drawstudio.export.images import save_gif, save_png

    if args.n < 1:
        raise ConfigError(f"--n {args.n} must be at least 1")
    if args.pretrained:  # a shipped model samples without its dataset
        from drawstudio.pretrained.loading import pretrained_model

        model, step = pretrained_model(args.pretrained, args.device, args.threads)
    else:
        trainer, _, _ = _open_for_reading(args)
        model, step = trainer.model, trainer.step
    device = next(model.parameters()).device
    classes = model.config.num_classes
    labels = None
    if classes:
        wanted = [args.label] * args.n if args.label is not None else [i % classes for i in range(args.n)]
        if any(not 0 <= k < classes for k in wanted):
            raise ConfigError(f"--label {args.label} must be in 0..{classes - 1}")
        labels = torch.tensor(wanted, device=device)
    elif args.label is not None:
        raise ConfigError("--label only applies to a conditional run")
    generator = torch.Generator(device).manual_seed(args.seed)
    noise = torch.randn(model.config.T, args.n, model.config.z_size, device=device, generator=generator)
    canvases, _ = model.generate(args.n, labels, noise)
    steps = canvases.float().cpu().numpy()
    gif, png = args.gif, args.png
    if args.pretrained:
        gif, png = gif or Path(f"{args.pretrained}.gif"), png or Path(f"{args.pretrained}.png")
    else:
        gif = gif or args.run / "samples" / f"step-{step}.gif"
        png = png or args.run / "samples" / f"step-{step}.png"
    try:
        for path in (gif, png):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        save_gif(steps, gif)
        save_png(steps[-1], png)
    except OSError as error:
        raise RunDirError(f"{error.filename or gif}: cannot write the samples ({error.strerror or error})") from None
    print(f"wrote {gif} ({model.config.T} frames) and {png}")
    return 0


def cmd_pretrained() -> int:
    from drawstudio.pretrained.catalog import available

    models = available()
    if not models:
        print("no pretrained models in this installation")
    for model in models:
        print(f"{model.name}: {model.title}\n  {model.headline()}")
    return 0


def cmd_classifier(args: argparse.Namespace) -> int:
    from drawstudio.recognition.classifier import save_classifier, train_classifier
    from drawstudio.train.runs import open_run

    if args.steps is not None and args.steps < 1:
        raise ConfigError(f"--steps {args.steps} must be at least 1")
    trainer = open_run(args.run, device=args.device, data_dir=args.data_dir, threads=args.threads)
    if not trainer.data.num_classes:
        raise ConfigError(f"{args.run}: dataset {trainer.data.name!r} has no class labels to learn")
    model, accuracy = train_classifier(trainer, args.steps, progress=lambda m: print(m, file=sys.stderr))
    path = save_classifier(args.run, model, accuracy, trainer.data.num_classes, trainer.config.model.channels)
    print(f"wrote {path}; test accuracy {accuracy:.1%}")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from drawstudio.export.timelapse import write_timelapse

    frames = write_timelapse(args.run, args.gif, args.png)
    print(f"wrote {args.gif} ({frames} training steps)" + (f" and {args.png}" if args.png else ""))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from drawstudio.bench import speed as bench

    cases = bench.parse_cases(args.cases)
    if args.steps < 1:
        raise ConfigError(f"--steps {args.steps}: must be at least 1")
    quiet = args.json
    report = bench.run(cases, args.steps, args.device, args.compile, args.amp,
                       progress=(lambda _message: None) if quiet else (lambda m: print(m, file=sys.stderr)))
    bench.save(report, args.out)
    print(json.dumps(report, indent=2) if args.json else bench.table(report))
    if not quiet:
        print(f"(JSON written to {args.out})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
