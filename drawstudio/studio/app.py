"""Starting the studio: command-line arguments, the QApplication, and a clean stop on
SIGTERM/SIGINT (training is stopped and checkpointed as when the window is closed)."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from drawstudio.studio.main_window import MainWindow
from drawstudio.studio.plots import BACKGROUND, TEXT
from drawstudio.studio.run_setup import config_for_dataset
from drawstudio.train.runs import is_run

SIGNAL_POLL_MS = 200  # Python runs signal handlers only between bytecodes, so wake it this often


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="DRAW Studio: train DRAW and watch it draw.")
    parser.add_argument("--run", type=Path, help="run folder to open (created when it does not exist)")
    parser.add_argument("--dataset", help="dataset for a new run (default: the first found of fashion-mnist, "
                                          "mnist, binarized-mnist)")
    parser.add_argument("--data-dir", help="where the dataset files are")
    parser.add_argument("--autostart", action="store_true", help="start (or resume) training at once")
    parser.add_argument("--follow", action="store_true",
                        help="watch --run while another process trains it (read-only)")
    return parser


def configure_pyqtgraph() -> None:
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False, background=BACKGROUND, foreground=TEXT)


def open_from_args(window: MainWindow, args: argparse.Namespace) -> None:
    """Do what the command line asked: follow, open or create the run, perhaps start it;
    without --run, offer the setup dialog."""
    if args.run is None:
        QTimer.singleShot(0, lambda: window.show_run_setup(args.dataset, args.data_dir))
        return
    if args.follow:
        window.follow_run(args.run)
        return
    config = None if is_run(args.run) else config_for_dataset(args.dataset, args.data_dir)
    if window.open_run(args.run, config, data_dir=args.data_dir) and args.autostart:
        window.toggle_training()


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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_pyqtgraph()
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("DRAW Studio")
    window = MainWindow()
    install_signal_handlers(window)
    window.show()
    open_from_args(window, args)
    return app.exec()
