"""Shipped trained models: their files match their cards, a damaged file is refused in one
line, the card's numbers are what eval measures, the command line reads them, a run started
from one never writes it, and a kept long run continues exactly where it stopped."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from drawstudio.errors import CheckpointError, ConfigError, DataError, RunDirError
from drawstudio.pretrained import keeping
from drawstudio.pretrained.catalog import available, find, sha256_of

SHIPPED = [model.name for model in available()]


# ---- the shipped files -------------------------------------------------------------------


def test_the_two_models_the_studio_offers_are_shipped():
    assert {"mnist-attention", "fashion-conditional"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_model_loads_and_matches_its_cards_sha256(name):
    model = find(name)
    assert sha256_of(model.weights_path) == model.card["weights"]["sha256"]
    weights = model.load_weights()
    assert sum(t.numel() for t in weights.values()) == model.card["weights"]["parameters"]
    assert all(t.dtype == torch.float32 for t in weights.values())
    assert model.weights_path.stat().st_size < 8 * 2**20  # a few MB


def _data_dir_for(name: str, shared_data: Path) -> list[str]:
    """--data-dir for a model's dataset where the tests keep it (Fashion-MNIST: the usual place)."""
    dataset = find(name).card["config"]["train"]["dataset"]
    return ["--data-dir", str(shared_data / "binarized_mnist")] if dataset == "binarized-mnist" else []


@pytest.mark.parametrize("name", SHIPPED)
def test_eval_on_the_500_image_subset_agrees_with_the_card(name, capsys, shared_data):
    from drawstudio.cli.main import main

    code = main(["eval", "--pretrained", name, "--max-images", "500", "--json", "--threads", "1",
                 *_data_dir_for(name, shared_data)])
    out, err = capsys.readouterr()
    assert code == 0, err
    measured = json.loads(out)
    assert measured["images"] == 500
    assert measured["nll"] == pytest.approx(find(name).card["results"]["test_subset_500"]["nll"], abs=0.05)


# ---- damaged files -------------------------------------------------------------------------


def test_a_tampered_weights_file_is_refused_in_one_line(tiny_root):
    path = tiny_root / "tiny" / "weights.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as caught:
        find("tiny").load_weights()
    message = str(caught.value)
    assert "\n" not in message and str(path) in message and "does not match its card" in message


def test_a_truncated_weights_file_is_refused_in_one_line(tiny_root, error_line, run_cli):
    path = tiny_root / "tiny" / "weights.pt"
    path.write_bytes(path.read_bytes()[:1000])
    code, err = run_cli("eval", "--pretrained", "tiny")
    assert code == 1
    assert "does not match its card" in error_line(err) and str(path) in error_line(err)


def test_a_card_naming_the_right_sha_of_a_damaged_file_is_still_refused(tiny_root):
    """The sha check is not the only guard: a damaged archive whose card was rewritten to match
    is refused by the checkpoint reader, with nothing loaded."""
    path = tiny_root / "tiny" / "weights.pt"
    path.write_bytes(path.read_bytes()[:1000])
    card_path = tiny_root / "tiny" / "card.json"
    card = json.loads(card_path.read_text())
    card["weights"]["sha256"] = sha256_of(path)
    card_path.write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="corrupt or truncated|corrupt checkpoint"):
        find("tiny").load_weights()


def test_an_unknown_model_name_lists_the_shipped_ones(tiny_root, run_cli, error_line):
    code, err = run_cli("sample", "--pretrained", "nope")
    assert code == 1
    assert error_line(err) == "drawstudio: error: pretrained model 'nope': not one of the shipped models (tiny)"


# ---- the command line ----------------------------------------------------------------------


def test_pretrained_lists_each_model_with_its_cards_numbers(tiny_root, capsys):
    from drawstudio.cli.main import main

    assert main(["pretrained"]) == 0
    out = capsys.readouterr().out
    card = find("tiny").card
    assert out.startswith("tiny: Tiny\n")
    assert f"test bound {card['results']['test']['nll']:.2f} nats" in out


def test_sample_from_a_pretrained_model_writes_the_png_and_gif(tiny_root, tmp_path, run_cli):
    from PIL import Image

    code, err = run_cli("sample", "--pretrained", "tiny", "--n", "4", "--png", tmp_path / "s.png",
                        "--gif", tmp_path / "s.gif")
    assert code == 0, err
    assert Image.open(tmp_path / "s.gif").n_frames == find("tiny").config.model.T
    assert Image.open(tmp_path / "s.png").size[0] > 0


def test_training_from_a_pretrained_model_starts_from_its_weights_and_never_writes_them(
        tiny_root, tmp_path, run_cli, shared_data):
    from drawstudio.train import checkpoint as ckpt

    shipped = tiny_root / "tiny" / "weights.pt"
    before = shipped.read_bytes()
    run = tmp_path / "continued"
    code, err = run_cli("train", "--from-pretrained", "tiny", "--run", run, "--steps", "2", "--quiet",
                        "--data-dir", shared_data / "mnist")
    assert code == 0, err
    assert shipped.read_bytes() == before
    first = ckpt.load_checkpoint(ckpt.checkpoint_path(run, 0))
    weights = find("tiny").load_weights()
    assert all(torch.equal(first["model"][k], weights[k]) for k in weights)
    assert first["config"]["train"]["lr"] == find("tiny").card["training"]["final_lr"]


def test_from_pretrained_refuses_other_model_sizes_and_an_existing_run(tiny_root, tmp_path, run_cli, error_line,
                                                                       tiny_run):
    code, err = run_cli("train", "--from-pretrained", "tiny", "--run", tmp_path / "new", "--T", "9")
    assert code == 1 and "its model is fixed (T=4, not 9)" in error_line(err)
    code, err = run_cli("train", "--from-pretrained", "tiny", "--run", tiny_run)
    assert code == 1 and "the run exists" in error_line(err)


# ---- a long run kept with the code ---------------------------------------------------------


def _weights(run: Path) -> dict[str, torch.Tensor]:
    from drawstudio.train import checkpoint as ckpt

    return ckpt.load_checkpoint(ckpt.list_checkpoints(run)[0])["model"]


def test_a_kept_run_restored_and_trained_on_matches_one_trained_straight_through(
        tiny_run_template, tiny_root, tmp_path, tiny_train_argv, run_cli):
    straight = Path(shutil.copytree(tiny_run_template, tmp_path / "straight"))
    assert run_cli(*tiny_train_argv(straight, "--steps", "6"))[0] == 0
    restored = tmp_path / "restored"
    keeping.restore("tiny", restored, data_dir=json.loads((tiny_run_template / "config.json").read_text())
                    ["train"]["data_dir"], root=tiny_root)
    assert run_cli(*tiny_train_argv(restored, "--steps", "6"))[0] == 0
    ours, theirs = _weights(restored), _weights(straight)
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


def test_a_run_that_averages_ships_the_average_and_continues_exactly_from_its_kept_state(
        tiny_run_template, tmp_path, tiny_train_argv, run_cli, shared_data, monkeypatch):
    from drawstudio.pretrained import catalog
    from drawstudio.pretrained.loading import open_pretrained

    straight = Path(shutil.copytree(tiny_run_template, tmp_path / "straight"))
    assert run_cli(*tiny_train_argv(straight, "--steps", "5", "--ema-decay", "0.5"))[0] == 0
    kept = Path(shutil.copytree(straight, tmp_path / "kept"))
    root = tmp_path / "root"
    card = keeping.keep(kept, "averaged", root=root, with_state=True, threads=1)
    checkpoint = torch.load(sorted((kept / "checkpoints").glob("*.pt"))[-1], weights_only=True)
    shipped = find("averaged", root).load_weights()
    assert all(torch.equal(shipped[k], checkpoint["average"][k]) for k in shipped)
    assert not all(torch.equal(shipped[k], checkpoint["model"][k]) for k in shipped)
    assert "decay 0.5" in card["weights"]["averaged"]
    monkeypatch.setattr(catalog, "pretrained_root", lambda: root)
    shipped_bound = open_pretrained("averaged", data_dir=str(shared_data / "mnist"), threads=1).evaluate("test")
    # the card's bound is the average's, which is what the shipped file holds
    assert shipped_bound["nll"] == pytest.approx(card["results"]["test"]["nll"], abs=1e-4)
    restored = tmp_path / "restored"
    keeping.restore("averaged", restored, data_dir=str(shared_data / "mnist"), root=root)
    for run in (straight, restored):
        assert run_cli(*tiny_train_argv(run, "--steps", "7"))[0] == 0
    ours, theirs = (torch.load(sorted((run / "checkpoints").glob("*.pt"))[-1], weights_only=True)
                    for run in (restored, straight))
    for entry in ("model", "average"):
        assert all(torch.equal(ours[entry][k], theirs[entry][k]) for k in theirs[entry]), entry


def test_keeping_a_later_part_adds_it_to_the_cards_parts_and_curve(tiny_root, tmp_path, tiny_train_argv, run_cli):
    run = tmp_path / "part2"
    data_dir = find("tiny").card["config"]["train"]["data_dir"]
    keeping.restore("tiny", run, data_dir=data_dir, root=tiny_root)
    assert run_cli(*tiny_train_argv(run, "--steps", "5", "--eval-every", "1", "--eval-images", "20"))[0] == 0
    card = keeping.keep(run, "tiny", root=tiny_root, with_state=True, threads=1)
    assert [part["steps"] for part in card["training"]["parts"]] == [[0, 3], [3, 5]]
    # how the part trained, as its records say (the run's setting, 0, only means "the rule's choice")
    last = [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if r["kind"] == "train"][-1]
    assert {key: card["training"]["parts"][-1][key] for key in ("ranks", "threads")} == {
        "ranks": 1, "threads": last["threads"]}
    assert [r["step"] for r in card["curve"] if r["kind"] == "eval" and r["split"] == "test"] == [4, 5]
    assert card["training"]["steps"] == 5


def test_restore_refuses_a_folder_that_holds_a_run(tiny_root, tiny_run):
    with pytest.raises(RunDirError, match="already holds a run"):
        keeping.restore("tiny", tiny_run, root=tiny_root)


def test_restore_refuses_a_training_state_made_for_other_weights(tiny_root, tmp_path, kept_root):
    folder = tiny_root / "tiny"
    state = torch.load(folder / keeping.STATE_FILE, weights_only=True)
    state["weights_sha256"] = "0" * 64
    torch.save(state, folder / keeping.STATE_FILE)
    with pytest.raises(CheckpointError, match="made for other weights"):
        keeping.restore("tiny", tmp_path / "run", root=tiny_root)


def test_a_model_without_a_training_state_cannot_be_restored(tiny_root, tmp_path):
    (tiny_root / "tiny" / keeping.STATE_FILE).unlink()
    with pytest.raises(CheckpointError, match="keeps no training state"):
        keeping.restore("tiny", tmp_path / "run", root=tiny_root)


def test_a_name_that_is_a_path_is_not_a_model(tiny_root):
    with pytest.raises(ConfigError):
        find("../tiny")


def test_without_its_dataset_a_view_reconstructs_the_models_own_samples(tiny_root, tmp_path):
    from drawstudio.pretrained.loading import images_note, open_pretrained

    nowhere = str(tmp_path / "nowhere")
    with pytest.raises(DataError):  # a bound needs the real test split
        open_pretrained("tiny", data_dir=nowhere)
    viewed = open_pretrained("tiny", data_dir=nowhere, any_test_images=True)
    model = viewed.model
    c = viewed.config.model
    images = viewed.data.test.images(torch.arange(len(viewed.data.test)))
    assert images.shape == (64, c.channels, c.height, c.width) and images.dtype == torch.uint8
    noise = torch.randn(c.T, 64, c.z_size, generator=torch.Generator().manual_seed(viewed.config.train.seed))
    with torch.no_grad():
        drawn = model.generate(64, None, noise)[0][-1]
    grey = viewed.config.train.binarize == "none"
    expected = drawn if grey else (drawn > 0.5).float()
    assert torch.equal(images, expected.mul(255).round().to(torch.uint8))
    assert "reconstructs its own samples" in images_note(find("tiny"), nowhere)
    assert viewed.snapshot(4, 4).originals.shape[0] == 4


def test_a_view_with_its_dataset_present_needs_no_note(tiny_root, shared_data):
    from drawstudio.pretrained.loading import images_note

    assert images_note(find("tiny"), str(shared_data / "mnist")) == ""
