"""`drawstudio train`: the run's settings from flags, presets and files, and the training loop
that stops cleanly on Ctrl-C or SIGTERM and keeps the last good checkpoint on a non-finite loss."""

from __future__ import annotations

import argparse
import math
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

from drawstudio.cli.parser import MODEL_FLAGS, TRAIN_FLAGS
from drawstudio.config import RunConfig, start_lr
from drawstudio.errors import ConfigError, DrawStudioError, NonFiniteError
from drawstudio.settings_help import TENSORBOARD_DIR


def requested_values(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model and train fields the command line sets explicitly."""
    model = {field: getattr(args, flag) for flag, field in MODEL_FLAGS.items() if getattr(args, flag) is not None}
    train = {field: getattr(args, flag) for flag, field in TRAIN_FLAGS.items() if getattr(args, flag) is not None}
    if args.hidden is not None:
        model.setdefault("enc_size", args.hidden)
        model.setdefault("dec_size", args.hidden)
    if args.no_attention:
        model["attention"] = False
    for flag in ("learn_canvas", "layer_norm"):
        if getattr(args, flag):
            model[flag] = True
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
        from drawstudio.train.presets import apply_preset

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


def train_config(args: argparse.Namespace) -> tuple[RunConfig, dict[str, Any], dict[str, Any]]:
    """The config `drawstudio train ARGS` trains with (the run's own, or a new run's), the training
    settings given for a new run, and the schedule change asked of an existing one; a setting
    that cannot work raises ConfigError before anything is written."""
    from drawstudio.train.runs import is_run

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
        from drawstudio.export.tensorboard import require

        require(", or train on without it: --no-tensorboard")
    return config, given, schedule_change


def cmd_train(args: argparse.Namespace,
              settings: tuple[RunConfig, dict[str, Any], dict[str, Any]] | None = None) -> int:
    """Train in this process, with `settings` from `train_config(args)` where they are known."""
    from drawstudio.train.distributed import init_from_environment, leave_together, shutdown
    from drawstudio.train.trainer import Trainer

    config, given, schedule_change = settings or train_config(args)
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
    from drawstudio.train.presets import fitted_schedule

    for key, value in fitted_schedule(preset, config.train.steps).items():
        if key not in given:
            setattr(config.train, key, value)


def _tensorboard(trainer: Any) -> Any:
    from drawstudio.export.tensorboard import attach

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
    warn_skipped(trainer)
    if trainer.finished:
        print(f"{trainer.run_dir}: already at step {trainer.step} of {total}; use --steps to train longer",
              file=sys.stderr)
        return 0
    bar = tqdm(total=total, initial=trainer.step, disable=quiet, unit="step", dynamic_ncols=True)
    last_eval: dict[str, Any] = {}

    def show(record: dict[str, Any]) -> None:
        if record["kind"] == "eval":
            last_eval.update(record)
            bar.write(f"step {record['step']}: {record.get('split', 'test')} NLL bound {record['nll']:.2f} nats "
                      f"(recon {record['recon']:.2f} + KL {record['kl']:.2f})")
        elif record["kind"] == "train":
            bar.set_postfix(loss=f"{record['loss']:.2f}", kl=f"{record['kl']:.1f}",
                            img_s=f"{record['images_per_s']:.0f}", lr=f"{record['lr']:.2e}", refresh=False)

    trainer.events.connect(show)
    stopping = False
    try:
        while not trainer.finished:
            # the ranks of a distributed run agree, so that all stop after the same step
            stopping = trainer.dist.any_rank(bool(stop_requested))
            if stopping:
                break
            before = trainer.step
            try:
                trainer.advance()
            except NonFiniteError as error:
                _save_last_good_state(trainer, error)
            bar.update(trainer.step - before)
        if stopping:
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


def warn_skipped(trainer: Any) -> None:
    for problem in trainer.skipped_checkpoints:
        print(f"drawstudio: warning: skipped a damaged checkpoint: {problem}", file=sys.stderr)
