"""`drawstudio bench`: the textbook baseline it races and the report it prints."""

import json

import pytest
import torch

from drawstudio.bench import speed as bench
from drawstudio.bench.textbook import TextbookDraw
from drawstudio.config import ModelConfig
from drawstudio.errors import ConfigError
from drawstudio.model.draw import Draw
from drawstudio.system.threads import default_threads


def test_textbook_draw_computes_the_same_bound_as_the_project_model_with_the_same_weights():
    torch.manual_seed(0)
    config = ModelConfig(T=3, enc_size=16, dec_size=16, z_size=4, read_sigma_init=0, write_sigma_init=0)
    ours = Draw(config).double()
    textbook = TextbookDraw(3, 2, 5, 16, 16, 4).double()
    for name in ("encoder", "q", "decoder", "read_attention", "write_attention", "write_layer"):
        getattr(textbook, name).load_state_dict(getattr(ours, name).state_dict())
    x = (torch.rand(5, 28, 28) > 0.5).double()
    noise = torch.randn(3, 5, 4, dtype=torch.float64)
    expected = ours(x[:, None], noise=noise).loss
    got = textbook(x, noise)
    assert torch.allclose(got, expected, rtol=1e-10)


def test_parse_cases_reads_names_and_batches_and_refuses_anything_else():
    assert bench.parse_cases("paper:128,small:64") == [bench.Case("paper", 128), bench.Case("small", 64)]
    for bad in ("paper", "huge:64", "small:0", "small:x", "paper:128,"):
        with pytest.raises(ConfigError, match="--cases"):
            bench.parse_cases(bad)


def test_table_reports_the_speed_up_the_processor_the_thread_rule_and_the_ranks_train_chooses():
    report = {
        "machine": {"device": "cpu (2 threads)", "torch": "2", "wait_policy": "OpenMP's default",
                    "thread_rule": "one per core other processes leave free",
                    "processor": {"model": "Test CPU", "cores": 2, "vector_extensions": ["avx2", "fma"],
                                  "torch_cpu_capability": "AVX2"}},
        "cases": {"paper": {"T": 64}}, "peak_gflops": 200.0, "train_gflop_per_image": {"paper": 0.371},
        "results": [{"case": "paper:128", "train_images_per_s": 300.0, "textbook_images_per_s": 120.0,
                     "speedup": 2.5, "train_gflops": 111.3, "mfu": 0.5565, "eval_images_per_s": 900.0,
                     "peak_memory_mb": 1500.0, "threads": 2, "ranks": 2, "ranks_images_per_s": 330.0,
                     "ranks_speedup": 2.75, "faster": "ranks", "rule_ranks": 2},
                    {"case": "small:3", "train_images_per_s": 900.0, "textbook_images_per_s": 600.0,
                     "speedup": 1.5, "train_gflops": 50.0, "mfu": 0.25, "eval_images_per_s": 2000.0,
                     "peak_memory_mb": 800.0, "threads": 2, "ranks": 1, "ranks_images_per_s": 0.0,
                     "ranks_speedup": 0.0, "faster": "threads"}],
        "sample_64_seconds": 0.1, "sample_model": "paper",
    }
    text = bench.table(report)
    assert "Test CPU, 2 cores, avx2 fma (PyTorch kernels: AVX2)" in text
    assert "| paper:128 | 300.0 | 120.0 | 2.50x | 111.3 | 55.6% | 900.0 | 1500 MB | 2 | 2 × 1 thread: 330.0, 2.75x " \
           "(faster); train chooses 2 ranks |" in text
    assert ("| small:3 | 900.0 | 600.0 | 1.50x | 50.0 | 25.0% | 2000.0 | 800 MB | 2 | not measured; train chooses "
            "one process |") in text
    assert "ranks (`drawstudio train` without --ranks): one per free core where each rank's slice of a step " \
           "carries ≥ 20 GFLOP, else one process" in text
    assert "one per core other processes leave free" in text and "OpenMP's default" in text
    assert "products: fp32" in text and "products: bf16 (--amp)" in bench.table({**report, "amp": True})


def test_describe_processor_lists_only_known_vector_extensions():
    found = bench.describe_processor()
    assert found["cores"] >= 1 and found["model"]
    assert set(found["vector_extensions"]) <= set(bench.VECTOR_FLAGS)


def test_bench_command_races_the_textbook_and_writes_its_report(tmp_path, capsys):
    from drawstudio.cli.main import main

    out = tmp_path / "bench.json"
    assert main(["bench", "--cases", "small:4", "--steps", "1", "--amp", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| small:4 |" in printed and "speed-up vs textbook" in printed
    report = json.loads(out.read_text())
    assert report["amp"] is True and "products: bf16 (--amp)" in printed
    (result,) = report["results"]
    assert result["speedup"] == pytest.approx(result["train_images_per_s"] / result["textbook_images_per_s"])
    # bounded by the cores, not by the thread count now: the thread rule lowers that while other work runs
    assert result["textbook_images_per_s"] > 0 and 1 <= result["threads"] <= default_threads()
    assert result["rule_ranks"] == 1  # T = 16 at batch 4: far too little work for ranks


def test_data_parallel_ranks_run_together_and_report_images_per_second():
    from drawstudio.bench.ranks import measure_ranks

    tiny = ModelConfig(T=2, read_n=2, write_n=2, enc_size=8, dec_size=8, z_size=2)
    assert measure_ranks(tiny, 4, ranks=2, threads=1, steps=1, timed=bench._timed) > 0
    with pytest.raises(ConfigError, match="batch 5 does not split over 2 ranks"):
        measure_ranks(tiny, 5, ranks=2, threads=1, steps=1, timed=bench._timed)
