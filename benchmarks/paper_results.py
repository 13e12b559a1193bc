"""The binarized-MNIST benchmark of a run: a per-epoch table (markdown) and a learning-curve PNG.

    python benchmarks/paper_results.py RUN_DIR [--png docs/learning-curve.png] [--card CARD]

Reads only the run's metrics.jsonl (evaluations logged by `--eval-every`; a run restored from a
kept model starts with its earlier parts' evaluations, which carry their own epoch, hours and
rate); with `--card` (a kept model's card.json) the curve marks where each part began. The
importance-weighted bound comes from `drawstudio eval --run RUN_DIR --iw-samples K`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from drawstudio.train.metrics import read_metrics

PAPER = 80.97  # Gregor et al. 2015, Table 2, with attention
PUBLIC = {"jbornschein/draw, 100 epochs": 90.5, "jbornschein/draw, ~300 epochs": 81.9}


def epoch_table(records: list[dict]) -> list[dict]:
    """One row per evaluation step: epoch, training seconds, images/s (median of the 50 logged
    iterations before it), the learning rate then, test/valid bound."""
    trains = [r for r in records if r["kind"] == "train"]
    rows: dict[int, dict] = {}
    for record in records:
        if record["kind"] != "eval":
            continue
        row = rows.setdefault(record["step"], {"step": record["step"]})
        row[record["split"]] = record["nll"]
    kept = {r["step"]: r for r in records if r["kind"] == "eval" and "epoch" in r}  # an earlier part's
    for step, row in rows.items():
        before = [r for r in trains if r["step"] <= step]
        last = before[-1] if before else None
        if step in kept and (last is None or last["step"] < step):
            row.update(epoch=kept[step]["epoch"], elapsed=kept[step]["hours"] * 3600, lr=kept[step]["lr"])
            row["images_per_s"] = float("nan")
            continue
        row["epoch"] = last["epoch"] if last else 0.0
        row["elapsed"] = last["elapsed"] if last else 0.0
        row["lr"] = last["lr"] if last else float("nan")
        recent = [r["images_per_s"] for r in before[-50:]]
        row["images_per_s"] = float(np.median(recent)) if recent else float("nan")
    return [rows[s] for s in sorted(rows)]


def _number(value: float | None, spec: str) -> str:
    return "—" if value is None or not np.isfinite(value) else format(value, spec)


def markdown(rows: list[dict]) -> str:
    lines = ["| epoch | training time | images/s | learning rate | test bound (nats) | valid bound (nats) |",
             "|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        hours = row["elapsed"] / 3600
        cells = [f"{row['epoch']:.1f}", f"{hours:.2f} h", _number(row["images_per_s"], ".0f"), _number(row["lr"], ".2e"),
                 _number(row.get("test"), ".2f"), _number(row.get("valid"), ".2f")]
        lines.append(f"| {' | '.join(cells)} |")
    return "\n".join(lines)


def plot(rows: list[dict], records: list[dict], path: Path, parts: list[dict] | None = None) -> None:
    """The curve whole (left) and, where the bound is within a few nats of the paper's (right),
    close up: on one axis the last tens of epochs are a flat line."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg
    import pyqtgraph.exporters
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    layout = pg.GraphicsLayoutWidget()
    layout.resize(1200, 500)
    whole, close = layout.addPlot(), layout.addPlot()
    evaluated = [r for r in rows if "test" in r and r["epoch"] > 0]
    for item in (whole, close):
        _draw(item, evaluated, records, parts)
    whole.setYRange(PAPER - 5, 220)
    near = [r for r in evaluated if r["test"] < PAPER + 12]
    if near:
        close.setXRange(near[0]["epoch"], evaluated[-1]["epoch"], padding=0.02)
        close.setYRange(PAPER - 1, max(r["test"] for r in near) + 1, padding=0)
    close.setTitle("close up")
    layout.show()  # laid out at its size only once shown (offscreen here)
    app.processEvents()
    pyqtgraph.exporters.ImageExporter(layout.scene()).export(str(path))


def _draw(item, evaluated: list[dict], records: list[dict], parts: list[dict] | None) -> None:
    import pyqtgraph as pg

    item.setLabel("bottom", "epoch")
    item.setLabel("left", "nats per image")
    item.addLegend(offset=(-10, 10))
    trains = [r for r in records if r["kind"] == "train"]
    if trains and not parts:  # a restored run holds only its own part's training records
        epochs = np.array([r["epoch"] for r in trains])
        loss = np.array([r["loss"] for r in trains])
        window = max(1, len(loss) // 200)
        smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
        item.plot(epochs[window - 1:], smooth, pen=pg.mkPen((150, 150, 150), width=1), name="training loss")
    item.plot([r["epoch"] for r in evaluated], [r["test"] for r in evaluated], pen=pg.mkPen("b", width=2),
              symbol="o", symbolSize=5, symbolBrush="b", name="test bound")
    dashed = pg.QtCore.Qt.PenStyle.DashLine
    item.addItem(pg.InfiniteLine(PAPER, angle=0, pen=pg.mkPen("r", style=dashed),
                                 label=f"paper: {PAPER}", labelOpts={"position": 0.25, "color": "r"}))
    public_label, public = next(iter(PUBLIC.items()))
    item.addItem(pg.InfiniteLine(public, angle=0, pen=pg.mkPen((120, 120, 120), style=dashed),
                                 label=f"{public_label}: {public}",
                                 labelOpts={"position": 0.6, "color": (90, 90, 90)}))
    for index, change in enumerate(r for r in records if r["kind"] == "schedule"):
        at = next((r["epoch"] for r in trains if r["step"] > change["step"]), None)
        if at is not None:
            item.addItem(pg.InfiniteLine(at, angle=90, pen=pg.mkPen((200, 120, 0), style=dashed),
                                         label=_change_label(change),
                                         # one row each, so labels of changes close together do not overlap
                                         labelOpts={"position": 0.65 - 0.08 * (index % 4), "color": (200, 120, 0)}))
    last = evaluated[-1] if evaluated else None
    per_step = last["epoch"] / last["step"] if last and last["step"] else 0.0
    for index, part in enumerate((parts or [])[1:]):
        item.addItem(pg.InfiniteLine(part["steps"][0] * per_step, angle=90, pen=pg.mkPen((90, 90, 90)),
                                     label=f"part {part['part']}",
                                     # alternate rows: a short part puts two part lines close together
                                     labelOpts={"position": 0.8 + 0.07 * (index % 2), "color": (90, 90, 90)}))


def _change_label(change: dict) -> str:
    """A schedule change as the curve marks it: the rate it starts from and how it moves on."""
    moves = "held" if change["decay"] == 1 else f"×{change['decay']:g} per {change['every']:,} steps"
    return f"lr {change['lr']:.1e}, {moves}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--png", type=Path, help="write the learning curve here")
    parser.add_argument("--card", type=Path, help="a kept model's card.json: mark where each part began")
    args = parser.parse_args(argv)
    records = read_metrics(args.run / "metrics.jsonl")
    if not records:
        print(f"{args.run}: no metrics", file=sys.stderr)
        return 1
    rows = epoch_table(records)
    print(markdown(rows))
    if args.png:
        parts = json.loads(args.card.read_text())["training"]["parts"] if args.card else None
        plot(rows, records, args.png, parts)
        print(f"wrote {args.png}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
