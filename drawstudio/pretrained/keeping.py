"""Keeping a run with the code: a run's newest checkpoint written into a shipped model's folder
(its weights, its card and, for a long run trained in parts, its training state), and such a
folder made into a run directory again so that the next part continues exactly.

The training state is the run's checkpoint without the weights (the optimiser's moments,
the schedule, the batch order and the random streams), in `training-state.pt` beside
`weights.pt`, which holds the weights once for both the studio and the next part. The
state file is not installed with the package; the weights and card are.

    python -m drawstudio.pretrained.keeping restore NAME --run DIR [--data-dir D]
    python -m drawstudio.pretrained.keeping keep NAME --run DIR [--iw-samples K] [--title T]

(`scripts/long-run` wraps both for the long run.)
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
from pathlib import Path
from typing import Any

import torch

from drawstudio.config import RunConfig
from drawstudio.errors import CheckpointError, DrawStudioError, RunDirError
from drawstudio.pretrained.catalog import CARD_FILE, WEIGHTS_FILE, WEIGHTS_FORMAT, find, pretrained_root, sha256_of
from drawstudio.system.atomic import atomic_write, atomic_write_bytes
from drawstudio.train import checkpoint as ckpt
from drawstudio.train.metrics import MetricsWriter, read_metrics
from drawstudio.train.runs import is_run, open_run

STATE_FILE = "training-state.pt"
STATE_FORMAT = "drawstudio-training-state"
SUBSET_IMAGES = 500  # the card's figure on a fixed subset, which the tests check in seconds
CARD_KINDS = ("eval", "schedule")  # the records a card's curve keeps, and a restored run starts with


def restore(name: str, run_dir: Path, data_dir: str | None = None, root: Path | None = None) -> Path:
    """Make `run_dir` the run that `name`'s kept state came from, at its last step; its
    metrics start with the card's curve, so the run's history spans every part. Returns the
    checkpoint written. A folder that already holds a run is refused."""
    pretrained = find(name, root)
    run_dir = Path(run_dir)
    if is_run(run_dir):
        raise RunDirError(f"{run_dir}: already holds a run; restore into a new directory")
    state_path = pretrained.folder / STATE_FILE
    if not state_path.is_file():
        raise CheckpointError(f"{state_path}: pretrained model {name!r} keeps no training state to continue")
    state = ckpt.load_file(state_path, "cpu", STATE_FORMAT)
    if state.get("weights_sha256") != pretrained.card["weights"]["sha256"]:
        raise CheckpointError(f"{state_path}: made for other weights than {pretrained.weights_path.name}; "
                              "the two files are from different parts")
    state = {k: v for k, v in state.items() if k not in ("format", "version", "weights_sha256")}
    # weights.pt holds the trained weights, or, when the state holds those, their average
    state["average" if "model" in state else "model"] = pretrained.load_weights()
    state["config"]["train"]["data_dir"] = data_dir
    config = RunConfig.from_dict(state["config"], f"{state_path} config")
    try:
        ckpt.checkpoint_dir(run_dir).mkdir(parents=True, exist_ok=True)
        config.save(run_dir / "config.json")
        path = ckpt.save_checkpoint(run_dir, state)
        metrics = MetricsWriter(run_dir / "metrics.jsonl")
        for record in pretrained.card.get("curve", []):
            metrics.write(record)
        metrics.close()
    except OSError as error:
        raise RunDirError(f"{run_dir}: cannot write the run ({error.strerror or error})") from None
    return path


def keep(run_dir: Path, name: str, *, root: Path | None = None, title: str | None = None,
         summary: str | None = None, also_shows: list[str] | None = None, with_state: bool = False,
         iw_samples: int = 1,
         data_dir: str | None = None, threads: int | None = None, commands: dict[str, str] | None = None
         ) -> dict[str, Any]:
    """Write the newest checkpoint of `run_dir` as the shipped model `name` (created when new):
    weights, card (measured here on the full test split, a fixed 500-image subset, and with
    `iw_samples` > 1 the importance-weighted bound) and, `with_state`, the training state.
    Returns the card."""
    root = root or pretrained_root()
    folder = root / name
    previous = find(name, root).card if (folder / CARD_FILE).is_file() else {}
    trainer = open_run(run_dir, data_dir=data_dir, threads=threads)
    assert trainer.resumed_from is not None
    state = ckpt.load_checkpoint(trainer.resumed_from)
    config = RunConfig.from_dict(state["config"], "checkpoint config")
    config.train.data_dir = None
    folder.mkdir(parents=True, exist_ok=True)

    # a run that averages its weights is measured, drawn and shipped with the average; its
    # trained weights go into the training state, where the next part continues them
    shipped = state.get("average", state["model"])
    weights = {"format": WEIGHTS_FORMAT, "version": 1, "name": name, "step": trainer.step,
               "config": config.to_dict(), "model": {k: v.float() for k, v in shipped.items()}}
    atomic_write(folder / WEIGHTS_FILE, lambda handle: torch.save(weights, handle))
    weights_sha = sha256_of(folder / WEIGHTS_FILE)
    card: dict[str, Any] = {
        "name": name,
        "title": title or previous.get("title", name),
        "summary": summary or previous.get("summary", ""),
        "also_shows": also_shows if also_shows is not None else previous.get("also_shows", []),
        "weights": {"file": WEIGHTS_FILE, "sha256": weights_sha, "bytes": (folder / WEIGHTS_FILE).stat().st_size,
                    "dtype": "float32", "parameters": sum(v.numel() for v in state["model"].values()),
                    **({"averaged": f"a moving average of the trained weights, decay {config.train.ema_decay} "
                                    "a step (drawstudio train --ema-decay)"} if "average" in state else {})},
    }
    if with_state:
        left_out = ("format", "version", "average" if "average" in state else "model")
        kept = {"format": STATE_FORMAT, "version": 1, "weights_sha256": weights_sha,
                **{k: v for k, v in state.items() if k not in left_out}}
        atomic_write(folder / STATE_FILE, lambda handle: torch.save(kept, handle))
        card["training_state"] = {
            "file": STATE_FILE, "sha256": sha256_of(folder / STATE_FILE),
            "bytes": (folder / STATE_FILE).stat().st_size,
            "stored_as": "the run's checkpoint without the weights weights.pt holds (Adam's moments, the schedule, "
                         "the batch order, the random streams, and the trained weights when weights.pt holds "
                         "their average); scripts/long-run restore joins the two files into a run directory "
                         "that continues exactly where the part stopped; not installed with the package.",
        }
    records = read_metrics(Path(run_dir) / "metrics.jsonl")
    card["config"] = config.to_dict()
    card["data"] = previous.get("data", config.train.dataset)
    if config.model.num_classes:
        card["classes"] = trainer.data.classes
    card["training"] = _training_facts(trainer, state, config, records, previous)
    card["results"] = _measure(trainer, folder, previous.get("results", {}), iw_samples)
    card["commands"] = {**previous.get("commands", {}), **(commands or {})}
    card["curve"] = curve(records, trainer)
    atomic_write_bytes(folder / CARD_FILE, (json.dumps(card, indent=1) + "\n").encode())
    return card


def _training_facts(trainer: Any, state: dict[str, Any], config: RunConfig, records: list[dict[str, Any]],
                    previous: dict[str, Any]) -> dict[str, Any]:
    before = previous.get("training", {})
    parts = list(before.get("parts", []))
    start = int(before.get("steps", 0))
    hours = float(state.get("elapsed", 0.0)) / 3600
    if trainer.step > start or not parts:
        parts.append({"part": len(parts) + 1, "steps": [start, trainer.step], "date": datetime.date.today().isoformat(),
                      "hours": round(hours - float(before.get("hours", 0.0)), 3), "cpu": cpu_name(),
                      **_processes(records, start, config)})
    return {"steps": trainer.step, "epochs": round(trainer.epoch, 3),
            "images": trainer.step * trainer.config.train.batch_size, "hours": round(hours, 3),
            "final_lr": trainer.lr, "parts": parts,
            "schedule_changes": [r for r in records if r["kind"] == "schedule"]}


def _processes(records: list[dict[str, Any]], start: int, config: RunConfig) -> dict[str, int]:
    """How the part trained: its ranks (processes) and threads per rank, as its last train record
    says (the run's setting when it has none)."""
    trained = [r for r in records if r["kind"] == "train" and r["step"] > start]
    last = trained[-1] if trained else {}
    return {"ranks": int(last.get("ranks", 1)), "threads": int(last.get("threads", config.train.threads))}


def _measure(trainer: Any, folder: Path, previous: dict[str, Any], iw_samples: int) -> dict[str, Any]:
    """The card's numbers; an IW bound measured at an earlier part stays, with its step."""
    results: dict[str, Any] = {}
    test = trainer.evaluate("test", log=False)
    results["test"] = _result(test)
    results[f"test_subset_{SUBSET_IMAGES}"] = _result(trainer.evaluate("test", SUBSET_IMAGES, log=False))
    if iw_samples > 1:
        iw = trainer.evaluate("test", iw_samples=iw_samples, log=False)
        results["iw"] = {"nll": iw["iw_nll"], "samples": iw_samples, "step": trainer.step, "images": iw["images"]}
    elif "iw" in previous:
        results["iw"] = previous["iw"]
    if trainer.config.model.num_classes:
        from drawstudio.recognition.consistency import class_consistency

        results["class_consistency"] = class_consistency(trainer, folder)
    return results


def _result(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in ("nll", "recon", "kl", "images", "step")}


def curve(records: list[dict[str, Any]], trainer: Any) -> list[dict[str, Any]]:
    """The run's evaluations and schedule changes, each eval with its epoch, the training
    hours before it and the rate in force: the learning curve over every part."""
    hours_at: dict[int, float] = {}
    for record in records:
        if record["kind"] == "train":
            hours_at[record["step"]] = record["elapsed"] / 3600
    kept = []
    per_epoch = trainer.config.train.batch_size / len(trainer.data.train)
    last_hours = 0.0
    for record in records:
        if record["kind"] not in CARD_KINDS:
            continue
        entry = dict(record)
        if record["kind"] == "eval":
            last_hours = entry.setdefault("hours", round(hours_at.get(record["step"], last_hours), 4))
            entry.setdefault("epoch", round(record["step"] * per_epoch, 3))
            entry.setdefault("lr", trainer.rate.lr(record["step"]))
        kept.append(entry)
    return kept


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drawstudio.pretrained.keeping",
                                     description="Keep a run with the code as a shipped model, or restore one.")
    verbs = parser.add_subparsers(dest="verb", required=True)
    back = verbs.add_parser("restore", help="make a run directory from a kept model's training state")
    back.add_argument("name")
    back.add_argument("--run", type=Path, required=True)
    back.add_argument("--data-dir")
    store = verbs.add_parser("keep", help="write a run's newest checkpoint as a shipped model, measured")
    store.add_argument("name")
    store.add_argument("--run", type=Path, required=True)
    store.add_argument("--data-dir")
    store.add_argument("--threads", type=int)
    store.add_argument("--iw-samples", type=int, default=1)
    store.add_argument("--with-state", action="store_true", help="also keep the training state (a long run)")
    store.add_argument("--title")
    store.add_argument("--summary")
    store.add_argument("--also-shows", action="append", metavar="DATASET",
                       help="a dataset the studio may draw test images from when the model's own is missing")
    store.add_argument("--command", action="append", default=[], metavar="WHAT=COMMAND",
                       help="a command for the card, e.g. train='drawstudio train ...' (repeatable)")
    args = parser.parse_args(argv)
    try:
        if args.verb == "restore":
            path = restore(args.name, args.run, args.data_dir)
            print(f"restored {args.name} into {args.run} ({path.name}); train it on with drawstudio train --run {args.run}")
            return 0
        commands = dict(item.split("=", 1) for item in args.command)
        card = keep(args.run, args.name, title=args.title, summary=args.summary, also_shows=args.also_shows,
                    with_state=args.with_state, iw_samples=args.iw_samples, data_dir=args.data_dir,
                    threads=args.threads, commands=commands)
    except DrawStudioError as error:
        print(f"keeping: error: {error}", file=sys.stderr)
        return 1
    print(f"kept {args.run} as {args.name}: step {card['training']['steps']}, "
          f"test bound {card['results']['test']['nll']:.2f} nats")
    return 0


if __name__ == "__main__":
    sys.exit(main())
