"""`drawstudio`: train, evaluate and sample DRAW from the command line (the studio's twin).

User errors (bad settings, files, datasets) print one line `drawstudio: error: ...` and
exit 1; a non-finite loss exits 3 with the last good checkpoint kept; usage errors exit 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

from drawstudio.config import BINARIZE_MODES, RunConfig
from drawstudio.errors import ConfigError, DrawStudioError, NonFiniteError

EXIT_ERROR, EXIT_USAGE, EXIT_NONFINITE = 1, 2, 3

# flag → (section, field); flags left unset keep the preset's / the run's value
MODEL_FLAGS = {
    "T": "T", "read_n": "read_n", "write_n": "write_n", "z": "z_size", "enc_size": "enc_size",
    "dec_size": "dec_size", "height": "height", "width": "width", "channels": "channels",
    "num_classes": "num_classes", "canvas_init": "canvas_init", "likelihood": "likelihood",
}
TRAIN_FLAGS = {
    "dataset": "dataset", "data_dir": "data_dir", "batch_size": "batch_size", "lr": "lr",
    "lr_decay": "lr_decay", "decay_every": "decay_every", "grad_clip": "grad_clip", "binarize": "binarize",
    "device": "device", "seed": "seed", "eval_every": "eval_every", "eval_images": "eval_images",
    "autosave": "autosave_seconds", "log_every": "log_every", "steps": "steps", "threads": "threads",
    "plateau_factor": "plateau_factor", "plateau_patience": "plateau_patience", "kl_warmup": "kl_warmup_steps",
}
# on an existing run these may change; the rest of its config is fixed at creation
RESUMABLE = {"steps", "device", "threads", "data_dir", "eval_every", "eval_images", "autosave_seconds",
             "log_every", "compile", "amp", "fused", "plateau_factor", "plateau_patience"}
SCHEDULE_FIELDS = {"lr": "lr", "lr_decay": "decay", "decay_every": "every"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="drawstudio", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a run (re-running resumes it)")
    train.add_argument("--run", "--run-dir", dest="run", required=True, type=Path,
                       help="run directory (created, or resumed if it exists); under torchrun write --run-dir")
    train.add_argument("--dataset", help="mnist, fashion-mnist, binarized-mnist, two-digit-mnist or a folder")
    train.add_argument("--data-dir", help="where the dataset files are")
    train.add_argument("--download", action="store_true", help="download the dataset if missing (needs internet)")
    train.add_argument("--config", type=Path, help="a config.json to start from")
    train.add_argument("--preset", help="the paper's settings for an experiment (see `drawstudio presets`)")
    length = train.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, help="train until this global step")
    length.add_argument("--epochs", type=float, help="train until this many passes over the training set")
    train.add_argument("--batch-size", type=int)
    train.add_argument("--T", type=int, help="drawing steps")
    train.add_argument("--read-n", type=int)
    train.add_argument("--write-n", type=int)
    train.add_argument("--no-attention", action="store_true", help="read the whole image, write linearly")
    train.add_argument("--z", type=int, help="latent units per step")
    train.add_argument("--hidden", type=int, help="encoder and decoder LSTM units")
    train.add_argument("--enc-size", type=int)
    train.add_argument("--dec-size", type=int)
    train.add_argument("--height", type=int, help="image height (folders are resized to it)")
    train.add_argument("--width", type=int)
    train.add_argument("--channels", type=int, choices=(1, 3))
    train.add_argument("--num-classes", type=int, help="conditional DRAW on this many classes")
    train.add_argument("--conditional", action="store_true", help="condition on the dataset's class labels")
    train.add_argument("--canvas-init", type=float, help="initial canvas logit (0 = grey)")
    train.add_argument("--learn-canvas", action="store_true", help="learn the initial canvas")
    train.add_argument("--likelihood", choices=("bernoulli", "logistic"))
    train.add_argument("--lr", type=float)
    train.add_argument("--lr-decay", type=float, metavar="RATE", help="lr = lr0 * RATE^(step / decay-every)")
    train.add_argument("--decay-every", type=int, metavar="N")
    train.add_argument("--plateau-factor", type=float, metavar="F",
                       help="multiply the rate by F when the validation bound (test without one) stalls "
                            "(default 0.5; 1: never)")
    train.add_argument("--plateau-patience", type=int, metavar="K",
                       help="... after K evaluations in a row without a new best (default 2; 0: rule off)")
    train.add_argument("--kl-warmup", type=int, metavar="STEPS",
                       help="KL weight rises from 0 to 1 over the first STEPS steps (default 0; logs stay the bound)")
    train.add_argument("--grad-clip", type=float)
    train.add_argument("--binarize", choices=BINARIZE_MODES)
    train.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    train.add_argument("--threads", type=int, help="CPU threads (default: one per core)")
    train.add_argument("--seed", type=int)
    train.add_argument("--eval-every", type=int, help="test NLL every N steps (0: never)")
    train.add_argument("--eval-images", type=int)
    train.add_argument("--autosave", type=float, metavar="SECONDS", help="checkpoint at least this often")
    train.add_argument("--log-every", type=int)
    train.add_argument("--compile", action="store_true", help="torch.compile the model (GPU)")
    train.add_argument("--amp", action="store_true", help="bf16 autocast (GPU)")
    train.add_argument("--plain", action="store_true", help="run the plain reference model instead of the fused one")
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    evaluate = commands.add_parser("eval", help="test-set NLL bound of a run's newest checkpoint")
    evaluate.add_argument("--run", "--run-dir", dest="run", required=True, type=Path)
    evaluate.add_argument("--json", action="store_true", help="print JSON")
    evaluate.add_argument("--split", default="test", choices=("test", "valid", "train"))
    evaluate.add_argument("--iw-samples", type=int, default=1, metavar="K", help="importance-weighted bound")
    evaluate.add_argument("--max-images", type=int)
    evaluate.add_argument("--device")
    evaluate.add_argument("--data-dir")

    sample = commands.add_parser("sample", help="draw from a run's model: animated GIF and PNG grid")
    sample.add_argument("--run", "--run-dir", dest="run", required=True, type=Path)
    sample.add_argument("--n", type=int, default=64, help="number of images")
    sample.add_argument("--gif", type=Path, help="animation of the drawing (default RUN/samples/step-N.gif)")
    sample.add_argument("--png", type=Path, help="final images (default RUN/samples/step-N.png)")
    sample.add_argument("--label", type=int, help="class to draw (conditional runs)")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--device")
    sample.add_argument("--data-dir")

    bench = commands.add_parser("bench", help="training/eval/sampling speed and model FLOP utilisation")
    bench.add_argument("--batch-sizes", default="32,128,512", help="comma-separated (default 32,128,512)")
    bench.add_argument("--steps", type=int, default=5, help="timed steps per measurement (median)")
    bench.add_argument("--device", default="auto")
    bench.add_argument("--compile", action="store_true", help="torch.compile the model")
    bench.add_argument("--json", action="store_true", help="print JSON instead of the table")
    bench.add_argument("--out", type=Path, default=Path("drawstudio-bench.json"), help="where to write the JSON")

    classifier = commands.add_parser("classifier", help="train the run's classifier (for class consistency)")
    classifier.add_argument("--run", "--run-dir", dest="run", required=True, type=Path)
    classifier.add_argument("--steps", type=int, default=1500)
    classifier.add_argument("--device")
    classifier.add_argument("--data-dir")

    commands.add_parser("presets", help="list the paper's experiment presets")

    gui = commands.add_parser("gui", help="open the studio")
    gui.add_argument("studio_args", nargs=argparse.REMAINDER)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            return cmd_train(args)
        if args.command == "eval":
            return cmd_eval(args)
        if args.command == "sample":
            return cmd_sample(args)
        if args.command == "classifier":
            return cmd_classifier(args)
        if args.command == "presets":
            from drawstudio.presets import describe

            print(describe())
            return 0
        if args.command == "bench":
            return cmd_bench(args)
        if args.command == "gui":
            from drawstudio.studio.app import main as studio_main

            return studio_main(args.studio_args)
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


# ---- train --------------------------------------------------------------------------


def requested_values(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model and train fields the command line sets explicitly."""
    model = {field: getattr(args, flag) for flag, field in MODEL_FLAGS.items() if getattr(args, flag) is not None}
    train = {field: getattr(args, flag) for flag, field in TRAIN_FLAGS.items() if getattr(args, flag) is not None}
    if args.hidden is not None:
        model.setdefault("enc_size", args.hidden)
        model.setdefault("dec_size", args.hidden)
    if args.no_attention:
        model["attention"] = False
    if args.learn_canvas:
        model["learn_canvas"] = True
    for flag in ("compile", "amp"):
        if getattr(args, flag):
            train[flag] = True
    if args.plain:
        train["fused"] = False
    return model, train


def new_run_config(args: argparse.Namespace, model: dict[str, Any], train: dict[str, Any]) -> RunConfig:
    """Config for a new run: defaults, then --config, then --preset, then explicit flags."""
    base = RunConfig.load(args.config).to_dict() if args.config else RunConfig().to_dict()
    if args.preset:
        from drawstudio.presets import apply_preset

        base = apply_preset(base, args.preset)
    base["model"].update(model)
    base["train"].update(train)
    if args.conditional and not base["model"]["num_classes"]:
        base["model"]["num_classes"] = _dataset_classes(base["train"])
    return RunConfig.from_dict(base, "command line")


def _dataset_classes(train: dict[str, Any]) -> int:
    from drawstudio.data import load_dataset

    data = load_dataset(train["dataset"], train["data_dir"])
    if not data.num_classes:
        raise ConfigError(f"--conditional: dataset {data.name!r} has no class labels")
    return data.num_classes


def existing_run_config(args: argparse.Namespace, model: dict[str, Any], train: dict[str, Any]
                        ) -> tuple[RunConfig, dict[str, Any]]:
    """The stored config with allowed changes applied, and the schedule changes asked for."""
    from drawstudio.train.runs import load_run_config

    config = load_run_config(args.run)
    if args.config or args.preset or args.conditional:
        raise ConfigError(f"{args.run}: the run exists; --config/--preset/--conditional only apply to new runs")
    differing = {k: v for k, v in model.items() if getattr(config.model, k) != v}
    if differing:
        raise ConfigError(
            f"{args.run}: the run was created with a different model ({_describe(differing, config.model)}); "
            "use a new --run directory for a new model"
        )
    schedule = {SCHEDULE_FIELDS[k]: v for k, v in train.items() if k in SCHEDULE_FIELDS and getattr(config.train, k) != v}
    fixed = {k: v for k, v in train.items()
             if k not in RESUMABLE and k not in SCHEDULE_FIELDS and getattr(config.train, k) != v}
    if fixed:
        raise ConfigError(f"{args.run}: cannot change {_describe(fixed, config.train)} of an existing run")
    for key, value in train.items():
        if key in RESUMABLE:
            setattr(config.train, key, value)
    config.validate()
    # the schedule is changed only once the trainer exists, which already appends to the
    # run's metrics: an impossible value must be refused before that
    dataclasses.replace(config.train, **{k: v for k, v in train.items() if k in SCHEDULE_FIELDS}).validate()
    return config, schedule


def _describe(changes: dict[str, Any], current: Any) -> str:
    return ", ".join(f"{k}: {getattr(current, k)!r} → {v!r}" for k, v in changes.items())


def cmd_train(args: argparse.Namespace) -> int:
    from drawstudio.train.distributed import init_from_environment, shutdown
    from drawstudio.train.runs import is_run
    from drawstudio.train.trainer import Trainer

    model, train = requested_values(args)
    if args.epochs is not None and not args.epochs > 0:
        raise ConfigError(f"--epochs {args.epochs} must be a positive number")
    if is_run(args.run):
        config, schedule_change = existing_run_config(args, model, train)
    else:
        if not (args.dataset or args.config or args.preset):
            raise ConfigError("--dataset is required for a new run")
        config, schedule_change = new_run_config(args, model, train), {}
    dist = init_from_environment(config.train.device, config.train.batch_size)
    try:
        data = None
        if args.epochs is not None:  # the step count, which the run's config.json records, needs the data size
            from drawstudio.data import load_dataset

            m = config.model
            data = load_dataset(config.train.dataset, config.train.data_dir, image_size=(m.height, m.width),
                                channels=m.channels, download=args.download)
            config.train.steps = math.ceil(args.epochs * len(data.train) / config.train.batch_size)
        trainer = Trainer(config, args.run, data=data, dist=dist, download=args.download)
        if schedule_change:
            trainer.change_schedule(**schedule_change)
        return _train_loop(trainer, quiet=args.quiet or not dist.is_writer)
    finally:
        shutdown()


def _train_loop(trainer: Any, quiet: bool) -> int:
    from tqdm import tqdm

    stop_requested = []

    def request_stop(signum: int, _frame: Any) -> None:
        stop_requested.append(signum)

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    total = trainer.config.train.steps
    if trainer.resumed_from is not None and not quiet:
        print(f"resuming {trainer.run_dir} at step {trainer.step} from {trainer.resumed_from.name}", file=sys.stderr)
    _warn_skipped(trainer)
    if trainer.finished:
        print(f"{trainer.run_dir}: already at step {trainer.step} of {total}; use --steps to train longer",
              file=sys.stderr)
        return 0
    bar = tqdm(total=total, initial=trainer.step, disable=quiet, unit="step", dynamic_ncols=True)
    last_eval: dict[str, Any] = {}

    def show(record: dict[str, Any]) -> None:
        if record["kind"] == "eval":
            last_eval.update(record)
            bar.write(f"step {record['step']}: test NLL bound {record['nll']:.2f} nats "
                      f"(recon {record['recon']:.2f} + KL {record['kl']:.2f})")
        elif record["kind"] == "train":
            bar.set_postfix(loss=f"{record['loss']:.2f}", kl=f"{record['kl']:.1f}",
                            img_s=f"{record['images_per_s']:.0f}", lr=f"{record['lr']:.2e}", refresh=False)

    trainer.events.connect(show)
    try:
        while not trainer.finished and not stop_requested:
            before = trainer.step
            try:
                trainer.advance()
            except NonFiniteError as error:
                _save_last_good_state(trainer, error)
            bar.update(trainer.step - before)
        if stop_requested:
            trainer.save_checkpoint()
            bar.write(f"stopped at step {trainer.step}; checkpoint saved")
    finally:
        bar.close()
        trainer.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _save_last_good_state(trainer: Any, error: NonFiniteError) -> NoReturn:
    """The weights were left untouched by the failed step: checkpoint them so that a re-run
    with a lower --lr continues from exactly here, then stop with the reason."""
    path = trainer.save_checkpoint()
    if path is None:  # a distributed rank that does not write
        raise error
    raise NonFiniteError(
        f"{error} The last good state is saved as {path.name}; re-run with a lower --lr "
        f"(e.g. --lr {trainer.lr / 10:.3g}) to continue from it."
    ) from None


def _warn_skipped(trainer: Any) -> None:
    for problem in trainer.skipped_checkpoints:
        print(f"drawstudio: warning: skipped a damaged checkpoint: {problem}", file=sys.stderr)


# ---- eval and sample ------------------------------------------------------------------


def cmd_eval(args: argparse.Namespace) -> int:
    from drawstudio.train.runs import open_run

    if args.iw_samples < 1:
        raise ConfigError(f"--iw-samples {args.iw_samples} must be at least 1")
    trainer = open_run(args.run, device=args.device, data_dir=args.data_dir)
    _warn_skipped(trainer)
    result = trainer.evaluate(args.split, args.max_images, iw_samples=args.iw_samples, log=False)
    result.pop("kind")
    result["checkpoint"] = trainer.resumed_from.name if trainer.resumed_from else None
    result["dataset"] = trainer.data.name
    if trainer.config.model.num_classes:
        from drawstudio.consistency import class_consistency

        result["class_consistency"] = class_consistency(trainer, args.run)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"run {args.run} at step {result['step']} ({result['checkpoint']}), {result['dataset']} {args.split} split, "
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

    from drawstudio.export import save_gif, save_png
    from drawstudio.train.runs import open_run

    if args.n < 1:
        raise ConfigError(f"--n {args.n} must be at least 1")
    trainer = open_run(args.run, device=args.device, data_dir=args.data_dir)
    _warn_skipped(trainer)
    model = trainer.model
    classes = model.config.num_classes
    labels = None
    if classes:
        wanted = [args.label] * args.n if args.label is not None else [i % classes for i in range(args.n)]
        if any(not 0 <= k < classes for k in wanted):
            raise ConfigError(f"--label {args.label} must be in 0..{classes - 1}")
        labels = torch.tensor(wanted, device=trainer.device)
    elif args.label is not None:
        raise ConfigError("--label only applies to a conditional run")
    generator = torch.Generator(trainer.device).manual_seed(args.seed)
    noise = torch.randn(model.config.T, args.n, model.config.z_size, device=trainer.device, generator=generator)
    canvases, _ = model.generate(args.n, labels, noise)
    steps = canvases.float().cpu().numpy()
    out_dir = args.run / "samples"
    gif = args.gif or out_dir / f"step-{trainer.step}.gif"
    png = args.png or out_dir / f"step-{trainer.step}.png"
    for path in (gif, png):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_gif(steps, gif)
    save_png(steps[-1], png)
    print(f"wrote {gif} ({model.config.T} frames) and {png}")
    return 0


def cmd_classifier(args: argparse.Namespace) -> int:
    from drawstudio.classifier import save_classifier, train_classifier
    from drawstudio.train.runs import open_run

    if args.steps < 1:
        raise ConfigError(f"--steps {args.steps} must be at least 1")
    trainer = open_run(args.run, device=args.device, data_dir=args.data_dir)
    if not trainer.data.num_classes:
        raise ConfigError(f"{args.run}: dataset {trainer.data.name!r} has no class labels to learn")
    model, accuracy = train_classifier(trainer, args.steps, progress=lambda m: print(m, file=sys.stderr))
    path = save_classifier(args.run, model, accuracy, trainer.data.num_classes, trainer.config.model.channels)
    print(f"wrote {path}; test accuracy {accuracy:.1%}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from drawstudio import bench

    try:
        sizes = [int(b) for b in args.batch_sizes.split(",")]
    except ValueError:
        raise ConfigError(f"--batch-sizes {args.batch_sizes!r}: expected comma-separated integers") from None
    if any(b < 1 for b in sizes) or args.steps < 1:
        raise ConfigError("--batch-sizes and --steps must be positive")
    quiet = args.json
    report = bench.run(sizes, args.steps, args.device, args.compile,
                       progress=(lambda _message: None) if quiet else (lambda m: print(m, file=sys.stderr)))
    bench.save(report, args.out)
    print(json.dumps(report, indent=2) if args.json else bench.table(report))
    if not quiet:
        print(f"(JSON written to {args.out})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
