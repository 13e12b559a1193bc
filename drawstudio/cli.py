"""`drawstudio`: train, evaluate and sample DRAW from the command line (the studio's twin).

User errors (bad settings, files, datasets) print one line `drawstudio: error: ...` and
exit 1; a non-finite loss exits 3 with the last good checkpoint kept; usage errors exit 2.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

from drawstudio.cli_parser import MODEL_FLAGS, TRAIN_FLAGS, build_parser
from drawstudio.config import RunConfig, start_lr
from drawstudio.errors import ConfigError, DrawStudioError, NonFiniteError, RunDirError
from drawstudio.settings_help import TENSORBOARD_DIR
from drawstudio.usage import EXIT_USAGE

EXIT_ERROR, EXIT_NONFINITE = 1, 3



def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "gui":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        if args.command == "train":
            return cmd_train(args)
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
            from drawstudio.presets import describe

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
    if args.tensorboard is not None:  # a folder named here is taken from where the command runs
        train["tensorboard"] = str(Path(args.tensorboard).resolve()) if args.tensorboard else TENSORBOARD_DIR
    if args.no_tensorboard:
        train["tensorboard"] = None
    return model, train


def new_run_config(args: argparse.Namespace, model: dict[str, Any], train: dict[str, Any]
                   ) -> tuple[RunConfig, dict[str, Any]]:
    """Config for a new run: defaults, then --preset, then the settings the --config file
    holds, then explicit flags (the more specific the source, the later it comes); and the
    training settings given in the file or as flags."""
    base = RunConfig().to_dict()
    if args.from_pretrained:
        from drawstudio.pretrained.loading import pretrained_run_config

        if args.preset or args.config or args.conditional:
            raise ConfigError("--from-pretrained takes the model's own settings: --preset, --config and "
                              "--conditional do not apply")
        base = pretrained_run_config(args.from_pretrained).to_dict()
        own = base["model"]
        fixed = ", ".join(f"{k}={own[k]!r}, not {v!r}" for k, v in model.items() if own[k] != v)
        if fixed:
            raise ConfigError(f"--from-pretrained {args.from_pretrained}: its model is fixed ({fixed})")
    if args.preset:
        from drawstudio.presets import apply_preset

        base = apply_preset(base, args.preset)
    written = RunConfig.settings_in(args.config, under=base) if args.config else {"model": {}, "train": {}}
    given = {**written["train"], **train}
    base["model"].update({**written["model"], **model})
    base["train"].update(given)
    if args.conditional and not base["model"]["num_classes"]:
        base["model"]["num_classes"] = _dataset_classes(base["train"])
    if "lr" not in given and not args.from_pretrained:  # a preset's rate follows the rule too, for the T it has
        base["train"]["lr"] = start_lr(base["model"]["T"])
    return RunConfig.from_dict(base, "command line"), given


def _dataset_classes(train: dict[str, Any]) -> int:
    from drawstudio.data import load_dataset

    data = load_dataset(train["dataset"], train["data_dir"])
    if not data.num_classes:
        raise ConfigError(f"--conditional: dataset {data.name!r} has no class labels")
    return data.num_classes


def existing_run_config(args: argparse.Namespace, model: dict[str, Any], train: dict[str, Any]
                        ) -> tuple[RunConfig, dict[str, Any]]:
    """The stored config with allowed changes applied, and the schedule changes asked for."""
    from drawstudio.train.runs import reopen_config

    if args.config or args.preset or args.conditional or args.from_pretrained:
        raise ConfigError(f"{args.run}: the run exists; --config/--preset/--conditional/--from-pretrained "
                          "only apply to new runs")
    return reopen_config(args.run, model, train)


def cmd_train(args: argparse.Namespace) -> int:
    from drawstudio.train.distributed import init_from_environment, leave_together, shutdown
    from drawstudio.train.runs import is_run
    from drawstudio.train.trainer import Trainer

    model, train = requested_values(args)
    if args.epochs is not None and not args.epochs > 0:
        raise ConfigError(f"--epochs {args.epochs} must be a positive number")
    given = train
    if is_run(args.run):
        config, schedule_change = existing_run_config(args, model, train)
    else:
        if not (args.dataset or args.config or args.preset or args.from_pretrained):
            raise ConfigError("--dataset is required for a new run")
        (config, given), schedule_change = new_run_config(args, model, train), {}
    if config.train.tensorboard is not None:
        from drawstudio.tensorboard_log import require

        require(", or train on without it: --no-tensorboard")
    dist = init_from_environment(config.train.device, config.train.batch_size)
    trainer = None
    try:
        data = None
        if args.epochs is not None:  # the step count, which the run's config.json records, needs the data size
            from drawstudio.data import load_dataset

            m = config.model
            data = load_dataset(config.train.dataset, config.train.data_dir, image_size=(m.height, m.width),
                                channels=m.channels, download=args.download)
            config.train.steps = math.ceil(args.epochs * len(data.train) / config.train.batch_size)
        if args.preset:  # a new run: an existing one refuses --preset
            _fit_preset_schedule(config, args.preset, given=given)
        trainer = Trainer(config, args.run, data=data, dist=dist, download=args.download)
        if args.from_pretrained:
            from drawstudio.pretrained.loading import start_from_pretrained

            start_from_pretrained(trainer, args.from_pretrained)
        if schedule_change:
            trainer.change_schedule(**schedule_change)
        board = _tensorboard(trainer)
        try:
            code = _train_loop(trainer, quiet=args.quiet or not dist.is_writer)
            leave_together()
            return code
        finally:
            if board is not None:
                board.close()
    finally:
        # in order: the DDP wrapper (Trainer.close drops it, whoever still holds the trainer), then
        # the process group it holds
        if trainer is not None:
            trainer.close()
        shutdown()


def _fit_preset_schedule(config: RunConfig, preset: str, given: dict[str, Any]) -> None:
    """Fit the preset's schedule to the run's length, but for the settings given (as flags or
    in the --config file)."""
    from drawstudio.presets import fitted_schedule

    for key, value in fitted_schedule(preset, config.train.steps).items():
        if key not in given:
            setattr(config.train, key, value)


def _tensorboard(trainer: Any) -> Any:
    from drawstudio.tensorboard_log import attach

    try:
        return attach(trainer)
    except DrawStudioError:
        trainer.close()
        raise


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
    _warn_skipped(trainer)
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
        from drawstudio.consistency import class_consistency

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

    from drawstudio.export import save_gif, save_png

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
    from drawstudio.classifier import save_classifier, train_classifier
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
    from drawstudio.timelapse import write_timelapse

    frames = write_timelapse(args.run, args.gif, args.png)
    print(f"wrote {args.gif} ({frames} training steps)" + (f" and {args.png}" if args.png else ""))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from drawstudio import bench

    cases = bench.parse_cases(args.cases)
    if args.steps < 1:
        raise ConfigError(f"--steps {args.steps}: must be at least 1")
    quiet = args.json
    report = bench.run(cases, args.steps, args.device, args.compile,
                       progress=(lambda _message: None) if quiet else (lambda m: print(m, file=sys.stderr)))
    bench.save(report, args.out)
    print(json.dumps(report, indent=2) if args.json else bench.table(report))
    if not quiet:
        print(f"(JSON written to {args.out})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
