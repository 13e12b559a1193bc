"""The `drawstudio` command line: its verbs and options, each option with a help line that says
its default and unit, in groups (data, model, training, output).

One builder per verb and per group, so that a new option or verb is one more `add_argument`
or one more builder. The words for the run settings come from `drawstudio.settings_help`,
which the studio's run-setup dialog shows as tooltips.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from drawstudio.cli.usage import OneLineParser
from drawstudio.config import BINARIZE_MODES, LIKELIHOODS
from drawstudio.settings_help import CLASSIFIER_STEPS, SETTINGS, TENSORBOARD_DIR, default_words, help_for
from drawstudio.system.ranks_rule import MIN_RANK_GFLOP
from drawstudio.version import version

DESCRIPTION = "Train, evaluate and sample DRAW from the command line (the studio's twin)."
EPILOG = "exit codes: 0 done, 1 a user error (one line: what and where), 2 usage, 3 a non-finite loss"

# flag → config field; flags left unset keep the preset's / the run's value
MODEL_FLAGS = {
    "T": "T", "read_n": "read_n", "write_n": "write_n", "z": "z_size", "enc_size": "enc_size",
    "dec_size": "dec_size", "height": "height", "width": "width", "channels": "channels",
    "num_classes": "num_classes", "canvas_init": "canvas_init", "likelihood": "likelihood",
}
TRAIN_FLAGS = {
    "dataset": "dataset", "data_dir": "data_dir", "batch_size": "batch_size", "lr": "lr",
    "lr_decay": "lr_decay", "decay_every": "decay_every", "decay_start": "decay_start", "grad_clip": "grad_clip",
    "binarize": "binarize",
    "device": "device", "seed": "seed", "eval_every": "eval_every", "eval_images": "eval_images",
    "autosave": "autosave_seconds", "log_every": "log_every", "steps": "steps", "threads": "threads",
    "plateau_factor": "plateau_factor", "plateau_patience": "plateau_patience", "kl_warmup": "kl_warmup_steps",
    "ema_decay": "ema_decay",
}


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="drawstudio", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_verb in (add_train, add_eval, add_sample, add_classifier, add_bench, add_history):
        add_verb(commands)
    commands.add_parser("presets", help="list the paper's experiment presets and what each sets")
    commands.add_parser("pretrained", help="list the trained models shipped with DRAW Studio and their cards' numbers")
    # the studio parses its own options (`drawstudio gui --help` lists them)
    commands.add_parser("gui", help="open the studio (its options: drawstudio gui --help)", add_help=False)
    return parser


def _verb(commands: argparse._SubParsersAction, name: str, summary: str) -> argparse.ArgumentParser:
    return commands.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".")


def _run_option(group: argparse._ArgumentGroup, what: str) -> None:
    group.add_argument("--run", "--run-dir", dest="run", required=True, type=Path, metavar="RUN", help=what)


def _setting(group: argparse._ArgumentGroup, flag: str, field: str, **kwargs) -> None:
    """An option that sets the config field `field`: unset, it keeps the preset's or the run's value."""
    group.add_argument(flag, help=help_for(field), **kwargs)


# ---- train ------------------------------------------------------------------------------


def add_train(commands: argparse._SubParsersAction) -> None:
    train = _verb(commands, "train", "train a run (re-running resumes it)")
    train.epilog = ("The defaults are a new run's; on an existing run an option left out keeps the run's value, "
                    "and a new --lr, --lr-decay or --decay-every changes the schedule from the current step.")
    add_train_data(train.add_argument_group("data"))
    add_train_model(train.add_argument_group("model (fixed once the run exists)"))
    add_train_training(train.add_argument_group("training"))
    add_train_output(train.add_argument_group("output"))


def add_train_data(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--dataset", metavar="NAME|FOLDER",
                       help=f"{SETTINGS['dataset'][0]} "
                            "(default: none; a new run needs one unless --config or --preset names it)")
    _setting(group, "--data-dir", "data_dir", metavar="DIR")
    group.add_argument("--download", action="store_true",
                       help="download the dataset first when it is missing (needs internet; default: off)")
    _setting(group, "--binarize", "binarize", choices=BINARIZE_MODES)


def add_train_model(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--config", type=Path, metavar="FILE",
                       help="a config.json, whole or partial, to start a new run from: the settings it holds "
                            "apply over a --preset's, flags over both (default: the built-in settings)")
    group.add_argument("--preset", metavar="NAME",
                       help="the paper's settings for one of its experiments, for a new run "
                            "(see drawstudio presets; default: none)")
    group.add_argument("--from-pretrained", metavar="NAME",
                       help="a new run that starts from a shipped trained model's weights, with its model and "
                            "data, at the rate its training ended with (see drawstudio pretrained; default: none)")
    _setting(group, "--T", "T", type=int)
    _setting(group, "--read-n", "read_n", type=int, metavar="N")
    _setting(group, "--write-n", "write_n", type=int, metavar="N")
    group.add_argument("--no-attention", action="store_true",
                       help="read the whole image and write it linearly (default: attention "
                            f"{default_words('attention')})")
    _setting(group, "--z", "z_size", type=int, metavar="UNITS")
    group.add_argument("--hidden", type=int, metavar="UNITS",
                       help="encoder and decoder LSTM size, both at once "
                            f"(default: {default_words('enc_size')} each)")
    _setting(group, "--enc-size", "enc_size", type=int, metavar="UNITS")
    _setting(group, "--dec-size", "dec_size", type=int, metavar="UNITS")
    _setting(group, "--height", "height", type=int, metavar="PIXELS")
    _setting(group, "--width", "width", type=int, metavar="PIXELS")
    _setting(group, "--channels", "channels", type=int, choices=(1, 3))
    _setting(group, "--num-classes", "num_classes", type=int, metavar="K")
    group.add_argument("--conditional", action="store_true",
                       help="conditional DRAW on the dataset's class labels, as many classes as it has "
                            "(default: off)")
    _setting(group, "--canvas-init", "canvas_init", type=float, metavar="LOGIT")
    group.add_argument("--learn-canvas", action="store_true", help=help_for("learn_canvas"))
    group.add_argument("--layer-norm", action="store_true", help=help_for("layer_norm"))
    _setting(group, "--likelihood", "likelihood", choices=LIKELIHOODS)


def add_train_training(group: argparse._ArgumentGroup) -> None:
    length = group.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, metavar="N", help=help_for("steps"))
    length.add_argument("--epochs", type=float, metavar="PASSES",
                        help="train until this many passes over the training images "
                             "(default: none, --steps decides)")
    _setting(group, "--batch-size", "batch_size", type=int, metavar="IMAGES")
    _setting(group, "--lr", "lr", type=float)
    _setting(group, "--lr-decay", "lr_decay", type=float, metavar="RATE")
    _setting(group, "--decay-every", "decay_every", type=int, metavar="N")
    _setting(group, "--decay-start", "decay_start", type=int, metavar="STEP")
    _setting(group, "--plateau-factor", "plateau_factor", type=float, metavar="F")
    _setting(group, "--plateau-patience", "plateau_patience", type=int, metavar="K")
    _setting(group, "--kl-warmup", "kl_warmup_steps", type=int, metavar="STEPS")
    _setting(group, "--grad-clip", "grad_clip", type=float, metavar="NORM")
    _setting(group, "--ema-decay", "ema_decay", type=float, metavar="D")
    _setting(group, "--device", "device")
    _setting(group, "--threads", "threads", type=int, metavar="N")
    group.add_argument("--ranks", type=int, default=None, metavar="N",
                       help="train in N processes on this machine's CPU, each on its slice of every batch with "
                            "its share of the threads (the GPU stays unused; for GPUs or several machines use "
                            "torchrun); a run resumes with any number (default: the ranks rule, one rank per "
                            f"free core where each rank's slice of a step carries ≥ {MIN_RANK_GFLOP:g} GFLOP, "
                            "such as the paper's model at batch 128, else one process; --threads, --compile or "
                            "a GPU: one process)")
    _setting(group, "--seed", "seed", type=int)
    _setting(group, "--eval-every", "eval_every", type=int, metavar="N")
    _setting(group, "--eval-images", "eval_images", type=int, metavar="IMAGES")
    group.add_argument("--compile", action="store_true", help=help_for("compile"))
    group.add_argument("--amp", action="store_true", help=help_for("amp"))
    group.add_argument("--plain", action="store_true",
                       help="run the plain reference code instead of the fused fast path "
                            "(same numbers, slower; default: off)")


def add_train_output(group: argparse._ArgumentGroup) -> None:
    _run_option(group, "the run directory: created, or resumed when it holds a run; under torchrun write --run-dir")
    _setting(group, "--autosave", "autosave_seconds", type=float, metavar="SECONDS")
    _setting(group, "--log-every", "log_every", type=int, metavar="N")
    group.add_argument("--quiet", action="store_true", help="no progress bar (default: shown)")
    board = group.add_mutually_exclusive_group()
    board.add_argument("--tensorboard", nargs="?", const="", metavar="DIR",
                       help=f"{SETTINGS['tensorboard'][0]} (without DIR: RUN/{TENSORBOARD_DIR}; "
                            "needs the tensorboard package; default: none)")
    board.add_argument("--no-tensorboard", action="store_true",
                       help="stop writing the TensorBoard logs an existing run was writing (default: off)")


# ---- the verbs that use a trained run ------------------------------------------------------


def _run_group(parser: argparse.ArgumentParser, what: str, pretrained: bool = False) -> None:
    group = parser.add_argument_group("run")
    if pretrained:
        which = group.add_mutually_exclusive_group(required=True)
        which.add_argument("--run", "--run-dir", dest="run", type=Path, metavar="RUN",
                           help=f"{what} (default: none; this or --pretrained)")
        which.add_argument("--pretrained", metavar="NAME",
                           help="a trained model shipped with DRAW Studio instead of a run "
                                "(see drawstudio pretrained; default: none)")
    else:
        _run_option(group, what)
    group.add_argument("--device", metavar="DEVICE",
                       help="auto, cpu, cuda or cuda:N (default: the device the run was trained on)")
    group.add_argument("--data-dir", metavar="DIR",
                       help="where the run's dataset files are now (default: where they were)")
    group.add_argument("--threads", type=int, metavar="N",
                       help="CPU threads (0: one per core other processes leave free; default: the run's setting)")


def add_eval(commands: argparse._SubParsersAction) -> None:
    evaluate = _verb(commands, "eval", "test-set NLL bound of a run's newest checkpoint, in nats per image")
    _run_group(evaluate, "the run to evaluate", pretrained=True)
    data = evaluate.add_argument_group("data")
    data.add_argument("--split", default="test", choices=("test", "valid", "train"),
                      help="which split (default: test; valid only where the dataset has one)")
    data.add_argument("--max-images", type=int, metavar="IMAGES",
                      help="evaluate a fixed random subset of IMAGES images, the same every time "
                           "(default: the whole split)")
    bound = evaluate.add_argument_group("bound")
    bound.add_argument("--iw-samples", type=int, default=1, metavar="K",
                       help="also the importance-weighted bound with K posterior samples per image, "
                            "K passes per image (default: 1, the variational bound only)")
    output = evaluate.add_argument_group("output")
    output.add_argument("--json", action="store_true", help="print JSON instead of text (default: text)")


def add_sample(commands: argparse._SubParsersAction) -> None:
    sample = _verb(commands, "sample", "draw from a run's model: an animated GIF of the drawing and a PNG grid")
    _run_group(sample, "the run to draw from", pretrained=True)
    drawing = sample.add_argument_group("samples")
    drawing.add_argument("--n", type=int, default=64, metavar="IMAGES", help="how many images (default: 64)")
    drawing.add_argument("--label", type=int, metavar="CLASS",
                         help="draw only this class, 0..K-1 (conditional runs; default: every class in turn)")
    drawing.add_argument("--seed", type=int, default=0, help="seed of the prior noise (default: 0)")
    output = sample.add_argument_group("output")
    output.add_argument("--gif", type=Path, metavar="FILE",
                        help="the animation, one frame per drawing step "
                             "(default: RUN/samples/step-N.gif, or NAME.gif here for --pretrained)")
    output.add_argument("--png", type=Path, metavar="FILE",
                        help="the finished images as a grid "
                             "(default: RUN/samples/step-N.png, or NAME.png here for --pretrained)")


def add_classifier(commands: argparse._SubParsersAction) -> None:
    classifier = _verb(commands, "classifier",
                       "train the run's classifier, which eval uses for class consistency")
    _run_group(classifier, "the run whose dataset the classifier learns")
    training = classifier.add_argument_group("training")
    training.add_argument("--steps", type=int, metavar="N",
                          help=f"training steps of 128 images (default: {CLASSIFIER_STEPS} steps)")


def add_bench(commands: argparse._SubParsersAction) -> None:
    bench = _verb(commands, "bench", "training speed against a textbook DRAW run beside it, model FLOP "
                                     "utilisation, evaluation and sampling speed")
    measured = bench.add_argument_group("measurement")
    measured.add_argument("--cases", default="paper:128,small:64", metavar="NAME:BATCH,...",
                          help="models and batch sizes, comma-separated: paper = the paper's T=64 MNIST model, "
                               "small = T=16 (default: paper:128,small:64)")
    measured.add_argument("--steps", type=int, default=10, metavar="N",
                          help="timed steps per measurement, the median reported (default: 10 steps)")
    measured.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    measured.add_argument("--compile", action="store_true", help="torch.compile the model (default: off)")
    measured.add_argument("--amp", action="store_true",
                          help="train with bf16 products, as drawstudio train --amp does (default: off, fp32)")
    output = bench.add_argument_group("output")
    output.add_argument("--json", action="store_true", help="print JSON instead of the table (default: table)")
    output.add_argument("--out", type=Path, default=Path("drawstudio-bench.json"), metavar="FILE",
                        help="where the JSON is written (default: drawstudio-bench.json)")


def add_history(commands: argparse._SubParsersAction) -> None:
    history = _verb(commands, "history", "timelapse of a run's samples from fixed noise across training")
    run = history.add_argument_group("run")
    _run_option(run, "the run whose training history to show")
    output = history.add_argument_group("output")
    output.add_argument("--gif", required=True, type=Path, metavar="FILE",
                        help="the timelapse, one frame per kept training step, captioned with its step")
    output.add_argument("--png", type=Path, metavar="FILE",
                        help="also every frame side by side in one image (default: none)")
