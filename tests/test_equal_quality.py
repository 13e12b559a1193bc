"""benchmarks/equal_quality.py: when a run left DRAW's early plateau, read from its training log."""

import json
from pathlib import Path

from benchmark_scripts import load_benchmark


def write_log(run: Path, losses: list[float]) -> None:
    run.mkdir()
    lines = [{"kind": "train", "step": step, "loss": loss} for step, loss in enumerate(losses, 1)]
    lines.insert(2, {"kind": "checkpoint", "step": 2, "file": "step-000000002.pt"})
    (run / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_a_run_leaves_the_plateau_when_its_windowed_mean_loss_falls_below_the_line_not_at_one_lucky_batch(
        tmp_path):
    # step 3 alone dips below 170, but the windows of three steps ending at steps 3-6 average
    # 176.7, 176.7, 171 and 173; the one ending at step 7, (168 + 166 + 164) / 3 = 166, is the first under 170
    write_log(tmp_path / "run", [185, 185, 160, 185, 168, 166, 164, 160])
    assert load_benchmark("equal_quality").left_plateau(tmp_path / "run", 170.0, window=3) == 7


def test_a_run_that_never_falls_below_the_line_never_left_the_plateau(tmp_path):
    write_log(tmp_path / "run", [185, 184, 186, 183])
    assert load_benchmark("equal_quality").left_plateau(tmp_path / "run", 170.0, window=2) is None
