"""Starting the studio: command-line arguments, the QApplication, and a clean stop on
SIGTERM/SIGINT (training is stopped and checkpointed as when the window is closed)."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from drawstudio.cli.usage import OneLineParser
from drawstudio.data import DATASETS
from drawstudio.studio.main_window import MainWindow
from drawstudio.studio.new_run import PREFERRED_DATASETS, config_for_dataset, preset_dataset
from drawstudio.studio.theme import THEME
from drawstudio.system.resource_files import resource_path
from drawstudio.system.threads import serial_gui_thread
from drawstudio.train.presets import PRESETS
from drawstudio.train.runs import is_run

SIGNAL_POLL_MS = 200  # Python runs signal handlers only between bytecodes, so wake it this often


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=prog,
        description="DRAW Studio: train DRAW and watch it draw. Without --run it opens the first screen: "
                    "explore a trained model, or train a new run.",
        epilog="examples:\n"
               "  ./studio --run runs/demo --dataset mnist --data-dir ../shared/data/mnist --autostart\n"
               "  ./studio --run runs/paper --preset mnist-attention\n"
               "  ./studio --pretrained mnist-attention   (the paper's model, trained: scrub, sample, continue)\n"
               "  ./studio --run runs/ddp --follow      (watch a run that drawstudio train or torchrun writes)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, metavar="DIR",
                        help="run folder to open: resumed when it holds a run, else a new run is created there")
    parser.add_argument("--dataset", metavar="NAME",
                        help=f"dataset of a new run: {', '.join(DATASETS)} or a folder of images (default: the "
                             f"preset's, else the first found of {', '.join(PREFERRED_DATASETS)})")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="where the dataset files are (also for resuming a run whose data has moved)")
    parser.add_argument("--preset", choices=list(PRESETS), metavar="NAME",
                        help=f"the paper's settings for a new run: {', '.join(PRESETS)}")
    parser.add_argument("--autostart", action="store_true",
                        help="start training at once (resuming an existing run); without --run, once the "
                             "setup dialog has created the run")
    parser.add_argument("--follow", action="store_true",
                        help="watch --run read-only while another process trains it")
    parser.add_argument("--pretrained", metavar="NAME",
                        help="open a trained model shipped with DRAW Studio, read-only "
                             "(drawstudio pretrained lists them)")
    return parser


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse combinations that cannot mean anything (exits with a usage message)."""
    if args.pretrained and (args.run or args.follow or args.autostart or args.preset or args.dataset):
        parser.error("--pretrained opens a trained model read-only: --run, --follow, --autostart, --preset and "
                     "--dataset do not apply")
    if args.follow and args.run is None:
        parser.error("--follow needs --run DIR, the run to watch")
    if args.follow and (args.autostart or args.preset):
        parser.error("--follow only watches a run: --autostart and --preset do not apply")
    new_run = args.run is not None and not is_run(args.run)
    if new_run and args.preset and not args.dataset and preset_dataset(args.preset) is None:
        parser.error(f"--preset {args.preset} trains on a folder of images: name it with --dataset FOLDER")


def configure_pyqtgraph() -> None:
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False, background=THEME.background, foreground=THEME.text)


def open_from_args(window: MainWindow, args: argparse.Namespace) -> None:
    """Do what the command line asked: open a trained model, follow, open or create the run,
    perhaps start it; without --run, offer the first screen (or with --dataset or --preset,
    the setup dialog)."""
    if args.pretrained:
        window.open_trained_model(args.pretrained, args.data_dir)
        return
    if args.run is None:
        QTimer.singleShot(0, lambda: set_up_and_start(window, args))
        return
    if args.follow:
        window.follow_run(args.run)
        return
    existing = is_run(args.run)
    config = None if existing else config_for_dataset(args.dataset, args.data_dir, args.preset)
    if not window.open_run(args.run, config, data_dir=args.data_dir):
        return
    if existing and (args.dataset or args.preset):
        window.show_status(f"{args.run} is an existing run: resumed with its own settings (--dataset and "
                           "--preset only apply to new runs)")
    if args.autostart:
        window.toggle_training()


def set_up_and_start(window: MainWindow, args: argparse.Namespace) -> None:
    if args.dataset or args.preset or args.autostart:
        window.show_run_setup(args.dataset, args.data_dir, args.preset, start=True if args.autostart else None)
    else:
        window.show_start()


def install_signal_handlers(window: MainWindow) -> QTimer:
    """SIGTERM and SIGINT close the windows (a dialog too), which stops training and writes
    a checkpoint."""

    def request_close(_signum: int, _frame: object) -> None:
        QTimer.singleShot(0, QApplication.closeAllWindows)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, request_close)
    wake = QTimer(window)
    wake.timeout.connect(lambda: None)
    wake.start(SIGNAL_POLL_MS)
    return wake


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    check_args(parser, args)
    serial_gui_thread()  # before any PyTorch work on this thread: training gets the cores
    configure_pyqtgraph()
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("DRAW Studio")
    app.setDesktopFileName("drawstudio")  # pairs the window with resources/drawstudio.desktop once installed
    app.setWindowIcon(QIcon(str(resource_path("icon.svg"))))
    window = MainWindow()
    install_signal_handlers(window)
    if window.opens_maximised:
        window.showMaximized()
    else:
        window.show()
    open_from_args(window, args)
    return app.exec()
