"""benchmarks/weight_averaging.py: a run's trained weights, their moving average and the mean of
its newest checkpoints, evaluated side by side without writing to the run."""

import json
import re

import torch

from benchmark_scripts import load_benchmark
from drawstudio.cli.main import main as cli_main


def test_the_mean_of_checkpoints_averages_each_float_entry_and_keeps_counters_from_the_newest():
    # newest first, as the script orders them
    states = [{"model": {"w": torch.tensor([1.0, 4.0]), "n": torch.tensor([9])}},
              {"model": {"w": torch.tensor([3.0, -2.0]), "n": torch.tensor([5])}},
              {"model": {"w": torch.tensor([2.0, 7.0]), "n": torch.tensor([1])}}]
    mean = load_benchmark("weight_averaging").mean_weights(states)
    assert torch.equal(mean["w"], torch.tensor([2.0, 3.0]))  # (1+3+2)/3, (4−2+7)/3
    assert torch.equal(mean["n"], torch.tensor([9]))


def bounds(out: str) -> dict[str, float]:
    return {m[1].strip(): float(m[2]) for m in re.finditer(r"^(.+?) test (\d+\.\d+) nats$", out, re.M)}


def test_it_bounds_the_newest_weights_their_average_and_the_mean_and_leaves_the_run_alone(
        tiny_run, tiny_train_argv, run_cli, capsys, digest):
    assert run_cli(*tiny_train_argv(tiny_run, "--steps", "5", "--ema-decay", "0.5"))[0] == 0
    capsys.readouterr()
    assert cli_main(["eval", "--run", str(tiny_run), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)  # eval bounds the average
    before = digest(tiny_run)
    assert load_benchmark("weight_averaging").main([str(tiny_run), "--k", "1", "2", "3"]) == 0
    found = bounds(capsys.readouterr().out)
    assert digest(tiny_run) == before
    assert set(found) == {"trained weights of the newest", "moving average (decay 0.5)",
                          "mean of the 1 newest (steps 5–5)", "mean of the 2 newest (steps 3–5)"}
    assert abs(found["moving average (decay 0.5)"] - evaluated["nll"]) < 0.005
    assert found["mean of the 1 newest (steps 5–5)"] == found["trained weights of the newest"]
    assert found["mean of the 2 newest (steps 3–5)"] != found["trained weights of the newest"]
    assert found["moving average (decay 0.5)"] != found["trained weights of the newest"]
