"""benchmarks/attention_paths.py: where a run's windows look at each drawing step."""

import re

import pytest

from benchmark_scripts import load_benchmark


@pytest.fixture
def attention_paths():
    return load_benchmark("attention_paths").main


def _window_lines(out: str, name: str) -> list[str]:
    lines = out.splitlines()
    start = lines.index(name) + 1
    return [line for line in lines[start:] if line.startswith("  t=")][:2]


def test_every_chosen_step_of_both_windows_is_shown_and_the_first_cannot_depend_on_the_image(
        attention_paths, tiny_run, shared_data, capsys, digest):
    before = digest(tiny_run)
    assert attention_paths([str(tiny_run), "--images", "40", "--every", "2"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(f"{tiny_run} at step 3: 40 test images, bound ")
    for name in ("read", "write"):
        first, third = _window_lines(out, name)
        assert first.startswith("  t=  0") and third.startswith("  t=  2")
    # the first read comes from the decoder's zero state, the same for every image; the first
    # write comes after the first latent sample, so it depends on the image
    same_place = r"centre x +[\d.]+ ± 0\.0  y +[\d.]+ ± 0\.0"
    assert re.search(same_place, _window_lines(out, "read")[0])
    assert not re.search(same_place, _window_lines(out, "write")[0])
    kl = out.splitlines()[-1].split(": ")[1].split()
    assert len(kl) == 4 and all(float(v) >= 0 for v in kl)  # one per drawing step of the T=4 model
    assert digest(tiny_run) == before  # reads the run, writes nothing


def test_the_images_are_spread_over_the_split_not_its_first(attention_paths, tiny_run, monkeypatch):
    taken = []
    real = attention_paths.__globals__["spread"]

    def recording(total, count):
        taken.append((total, count))
        return real(total, count)

    monkeypatch.setitem(attention_paths.__globals__, "spread", recording)
    assert attention_paths([str(tiny_run), "--images", "7"]) == 0
    assert len(taken) == 1 and taken[0][1] == 7 and taken[0][0] > 7


def test_a_folder_that_is_not_a_run_is_refused_in_one_line(attention_paths, tmp_path, capsys):
    assert attention_paths([str(tmp_path)]) == 1
    assert capsys.readouterr().err == f"attention_paths: error: {tmp_path}: not a run directory (no config.json)\n"
