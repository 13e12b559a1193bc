"""What watching costs: training throughput headless vs with the studio visible, and the
longest stall of the studio's event loop while it trains.

    python benchmarks/studio_overhead.py [--steps 40] [--repeats 2] [--T 16] [--hidden 128] [--batch-size 64]

Three phases alternate on the same config and step count, each after a few warm-up steps
in a fresh run folder, so load from other processes on the machine hits all alike; the
medians are reported:
  headless-main    the CLI's loop: Trainer.advance() on the main thread of a process of its own;
  headless-thread  the same loop on a background thread, as TrainingSession runs it, no GUI;
  headless-ranks   where the ranks rule trains the config on ranks (drawstudio/train/rank_choice.py):
                   `drawstudio train --ranks N`, timed by its own records;
  studio           the studio window training, visible and playing the drawing animation
                   throughout (the most the GUI does while training; --no-play leaves the
                   canvas on the finished drawing, redrawn as snapshots arrive); also the
                   CPU time its GUI thread used, a number the machine's load moves less.
This process's main thread stays serial, as the studio app's does (drawstudio/system/threads.py,
`serial_gui_thread`: otherwise OpenMP's workers of two threads exceed the cores and stop
spinning, and training from a thread loses 40%). The studio, which trains on ranks where the rule chooses them (its training thread rank 0,
worker processes the others), is compared with each.
Runs offscreen unless DISPLAY is set (e.g. under Xvfb).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from stall import StallMeter  # noqa: E402

from drawstudio.bench.speed import in_child  # noqa: E402
from drawstudio.config import ModelConfig, RunConfig, TrainConfig  # noqa: E402
from drawstudio.studio.app import configure_pyqtgraph  # noqa: E402
from drawstudio.studio.main_window import MainWindow  # noqa: E402
from drawstudio.system.threads import serial_gui_thread  # noqa: E402
from drawstudio.train.metrics import read_metrics  # noqa: E402
from drawstudio.train.rank_choice import automatic  # noqa: E402
from drawstudio.train.trainer import Trainer  # noqa: E402

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def make_config(args: argparse.Namespace) -> RunConfig:
    return RunConfig(
        model=ModelConfig(T=args.T, read_n=2, write_n=5, enc_size=args.hidden, dec_size=args.hidden, z_size=args.z),
        train=TrainConfig(dataset=args.dataset, data_dir=args.data_dir, batch_size=args.batch_size,
                          steps=10**9, eval_every=0, autosave_seconds=10**9),
    )


def headless(config: RunConfig, run_dir: Path, warmup: int, steps: int) -> float:
    """Images per second of `steps` steps of the engine's own loop, on the calling thread."""
    trainer = Trainer(config, run_dir)
    for _ in range(warmup):
        trainer.advance()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.advance()
    seconds = time.perf_counter() - start
    trainer.close()
    return steps * config.train.batch_size / seconds


def _headless_in_child(config: RunConfig, run_dir: Path, warmup: int, steps: int, queue: Any) -> None:
    queue.put(headless(config, run_dir, warmup, steps))


def headless_process(config: RunConfig, run_dir: Path, warmup: int, steps: int) -> float:
    """The CLI's loop in a process of its own: this one's GUI thread stays serial, as the studio's."""
    return in_child(_headless_in_child, config, run_dir, warmup, steps)


def headless_thread(config: RunConfig, run_dir: Path, warmup: int, steps: int) -> float:
    result: list[float] = []
    worker = threading.Thread(target=lambda: result.append(headless(config, run_dir, warmup, steps)))
    worker.start()
    worker.join()
    return result[0]


def headless_ranks(config: RunConfig, run_dir: Path, warmup: int, steps: int, ranks: int) -> float:
    """`drawstudio train --ranks RANKS`, timed by its records: the wall time from the end of
    step `warmup` to the end of step `warmup + steps`."""
    run_config = RunConfig.from_dict(config.to_dict())
    run_config.train.steps, run_config.train.log_every = warmup + steps, 1
    config_path = run_dir.with_suffix(".json")
    run_config.save(config_path)
    subprocess.run([sys.executable, "-m", "drawstudio", "train", "--run", str(run_dir), "--config", str(config_path),
                    "--ranks", str(ranks), "--quiet"], check=True)
    at = {r["step"]: r["time"] for r in read_metrics(run_dir / "metrics.jsonl") if r["kind"] == "train"}
    return steps * config.train.batch_size / (at[warmup + steps] - at[warmup])


def ranks_trained_on(run_dir: Path) -> int:
    """The most ranks the run's logged steps were trained on."""
    return max(r.get("ranks", 1) for r in read_metrics(run_dir / "metrics.jsonl") if r["kind"] == "train")


def wait_until(condition: Callable[[], bool], poll_ms: int = 20) -> None:
    """Run the Qt event loop until `condition` holds."""
    loop = QEventLoop()
    timer = QTimer()
    timer.timeout.connect(lambda: loop.quit() if condition() else None)
    timer.start(poll_ms)
    loop.exec()
    timer.stop()


def studio(config: RunConfig, run_dir: Path, warmup: int, steps: int, settings: Path, play: bool, ranks: int
           ) -> tuple[float, float, float]:
    """Images per second with the studio visible (playing the drawing when `play`) and training
    on `ranks` ranks (as the ranks rule chooses), its longest event-loop stall (ms), and the CPU
    its GUI thread used (share of one core)."""
    window = MainWindow(QSettings(str(settings), QSettings.Format.IniFormat))
    window.show()
    if not window.open_run(run_dir, config):
        raise SystemExit(f"could not open the run: {window.last_error}")
    trainer = window.run.session.trainer
    meter = StallMeter(interval_ms=10)
    window.toggle_training()
    wait_until(lambda: trainer.step >= warmup and trainer.dist.world_size == ranks)  # the team gathers meanwhile
    first, start, gui_start = trainer.step, time.perf_counter(), time.thread_time()
    meter.start()
    window.timeline.set_playing(play)
    wait_until(lambda: trainer.step >= first + steps)
    seconds, done = time.perf_counter() - start, trainer.step - first
    gui_share = (time.thread_time() - gui_start) / seconds
    meter.stop()
    window.close()
    return done * config.train.batch_size / seconds, meter.max_stall_ms, gui_share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="timed steps per phase")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--T", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--z", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", default=str(SHARED_MNIST))
    parser.add_argument("--no-play", action="store_true", help="don't play the drawing animation in the studio")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()

    serial_gui_thread()  # as the studio's app does
    configure_pyqtgraph()
    app = QApplication.instance() or QApplication([sys.argv[0]])
    config = make_config(args)
    ranks, _, _ = automatic(config)
    phases = {"headless-main": headless_process, "headless-thread": headless_thread}
    if ranks > 1:
        phases["headless-ranks"] = lambda *run: headless_ranks(*run, ranks=ranks)
    rates: dict[str, list[float]] = {name: [] for name in (*phases, "studio")}
    stalls: list[float] = []
    gui_shares: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for name, phase in phases.items():
                rates[name].append(phase(config, Path(tmp) / f"{name}-{repeat}", args.warmup, args.steps))
            rate, stall, gui_share = studio(config, Path(tmp) / f"studio-{repeat}", args.warmup, args.steps,
                                            Path(tmp) / "settings.ini", play=not args.no_play, ranks=ranks)
            assert ranks_trained_on(Path(tmp) / f"studio-{repeat}") == ranks
            rates["studio"].append(rate)
            stalls.append(stall)
            gui_shares.append(gui_share)
            print(f"repeat {repeat + 1}: " + ", ".join(f"{name} {values[-1]:.1f}" for name, values in rates.items())
                  + f" images/s, max stall {stall:.0f} ms, GUI thread {gui_share:.1%} of a core", file=sys.stderr)
    app.processEvents()
    medians = {name: statistics.median(values) for name, values in rates.items()}
    result = {
        "config": {"T": args.T, "hidden": args.hidden, "z": args.z, "batch_size": args.batch_size,
                   "steps": args.steps, "repeats": args.repeats, "platform": QApplication.platformName(),
                   "playing": not args.no_play, "ranks": ranks},
        "images_per_s": medians,
        "studio_fraction": {name: medians["studio"] / medians[name] for name in phases},
        "max_stall_ms": max(stalls),
        "gui_thread_cpu": statistics.median(gui_shares),
        "runs": {**rates, "stall_ms": stalls, "gui_thread_cpu": gui_shares},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"platform {result['config']['platform']}, T={args.T}, hidden {args.hidden}, batch {args.batch_size}, "
          f"{args.steps} steps x {args.repeats} repeats (medians), animation {'off' if args.no_play else 'playing'}, "
          f"the studio on {ranks} rank{'s' if ranks > 1 else ''} (the ranks rule)")
    for name, rate in medians.items():
        share = f"  (studio = {result['studio_fraction'][name]:.0%} of this)" if name in phases else ""
        print(f"{name:16s}{rate:8.1f} images/s{share}")
    print(f"max GUI event-loop stall while training: {result['max_stall_ms']:.0f} ms")
    print(f"GUI thread CPU while training: {result['gui_thread_cpu']:.1%} of one core")


if __name__ == "__main__":
    main()
