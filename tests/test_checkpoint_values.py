"""Checkpoint checks as values: the exact refusals for weights, optimiser state and stored
config, the one-line summaries of torch's errors, and the settings a checkpoint must match."""

import pytest
import torch
from torch import nn

from drawstudio.errors import CheckpointError
from drawstudio.train import checkpoint as ckpt


def test_an_error_is_summed_up_by_the_first_sentence_of_its_first_line_at_most_200_characters():
    assert ckpt.first_line("\n  First part. Second part.\nnext line", "fallback") == "First part"
    assert ckpt.first_line("x" * 250, "fallback") == "x" * 200
    assert ckpt.first_line(" \n ", "fallback") == "fallback"


def test_a_corrupt_pickle_is_described_by_what_the_weights_unpickler_said():
    message = ("Weights only load failed. Please file an issue.\n\nWeightsUnpickler error: Unsupported operand 118"
               "\n\nCheck the documentation of torch.load")
    assert ckpt._unpickling_problem(message) == (
        "corrupt checkpoint, refused without running anything (Unsupported operand 118)")
    assert ckpt._unpickling_problem("WeightsUnpickler error:") == (
        "corrupt checkpoint, refused without running anything (unpickling failed)")


def test_weights_for_another_model_name_at_most_three_missing_and_three_unexpected_tensors():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 2))  # 6 tensors
    stored = {f"x{i}": torch.zeros(1) for i in range(4)}
    with pytest.raises(CheckpointError) as raised:
        ckpt.check_model_state("c.pt", model, stored)
    assert str(raised.value) == ("c.pt: checkpoint is for a different model (missing ['0.bias', '0.weight', "
                                 "'1.bias'], unexpected ['x0', 'x1', 'x2'])")


def test_weights_of_another_shape_or_not_finite_are_refused_by_name():
    model = nn.Linear(2, 3)
    with pytest.raises(CheckpointError) as raised:
        ckpt.check_model_state("c.pt", model, {"weight": torch.zeros(3, 4), "bias": torch.zeros(3)})
    assert str(raised.value) == ("c.pt: checkpoint is for a different model (weight has shape (3, 4), "
                                 "this model needs (3, 2))")
    with pytest.raises(CheckpointError) as raised:
        ckpt.check_model_state("c.pt", model, {"weight": torch.zeros(3, 2), "bias": torch.tensor([0, 1, float("nan")])})
    assert str(raised.value) == "c.pt: weights in bias are not finite"


def adam() -> torch.optim.Adam:
    return torch.optim.Adam(nn.Linear(2, 1).parameters(), lr=1e-3, betas=(0.5, 0.9))


def test_the_settings_a_checkpoint_must_match_are_all_but_the_parameters_and_the_rate():
    optimizer = adam()
    [settings] = ckpt.optimizer_settings(optimizer)
    assert "params" not in settings and "lr" not in settings
    assert settings["betas"] == (0.5, 0.9) and set(settings) == set(optimizer.param_groups[0]) - {"params", "lr"}


def test_an_optimiser_without_moments_or_at_step_zero_passes_the_checks():
    optimizer = adam()
    settings = ckpt.optimizer_settings(optimizer)
    ckpt.check_optimizer_state("c.pt", optimizer, 0, settings)
    param = optimizer.param_groups[0]["params"][0]
    optimizer.state[param] = {"step": torch.tensor(0.0), "exp_avg": torch.zeros_like(param),
                              "exp_avg_sq": torch.zeros_like(param)}
    ckpt.check_optimizer_state("c.pt", optimizer, 0, settings)


def test_damaged_optimiser_moments_are_named():
    optimizer = adam()
    settings = ckpt.optimizer_settings(optimizer)
    param = optimizer.param_groups[0]["params"][0]
    optimizer.state[param] = ["not", "a", "dict"]
    with pytest.raises(CheckpointError) as raised:
        ckpt.check_optimizer_state("c.pt", optimizer, 5, settings)
    assert str(raised.value) == "c.pt: damaged optimiser state (a list for a parameter)"
    optimizer.state[param] = {"step": torch.tensor(0.0), "exp_avg": "text", "exp_avg_sq": torch.zeros_like(param)}
    with pytest.raises(CheckpointError) as raised:
        ckpt.check_optimizer_state("c.pt", optimizer, 5, settings)
    assert str(raised.value) == "c.pt: damaged optimiser state (exp_avg is a str)"


def test_a_stored_config_that_does_not_load_is_named_as_the_stored_config():
    with pytest.raises(CheckpointError) as raised:
        ckpt.check_config("c.pt", {"config": {"model": {"T": "many"}}})
    assert str(raised.value) == "c.pt: stored config: model.T: expected int, got str 'many'"


def saved(tmp_path, state) -> str:
    path = tmp_path / "c.pt"
    torch.save(state, path)
    return str(path)


def test_a_checkpoint_of_another_version_or_incomplete_is_refused_saying_which(tmp_path):
    path = saved(tmp_path, {"format": ckpt.FORMAT, "version": 2})
    with pytest.raises(CheckpointError, match=f"^{path}: checkpoint version 2, this build reads 1$"):
        ckpt.load_checkpoint(path)
    path = saved(tmp_path, {"format": ckpt.FORMAT, "version": 1, "config": {}})
    with pytest.raises(CheckpointError) as raised:
        ckpt.load_checkpoint(path)
    assert str(raised.value) == (f"{path}: incomplete checkpoint, missing ['step', 'model', 'optimizer', "
                                 "'schedule', 'sampler', 'rng']")


def test_a_file_of_another_kind_or_none_at_all_is_refused_saying_which(tmp_path):
    path = saved(tmp_path, {"format": "something-else"})
    with pytest.raises(CheckpointError, match=f"^{path}: not a DRAW Studio checkpoint file$"):
        ckpt.load_checkpoint(path)
    with pytest.raises(CheckpointError, match=f"^{tmp_path}: cannot read checkpoint \\(Is a directory\\)$"):
        ckpt.load_checkpoint(tmp_path)


def test_a_damaged_tensor_layout_deep_in_the_state_is_named_by_its_place():
    with pytest.raises(CheckpointError) as raised:
        ckpt.check_tensor_layouts("c.pt", {"rng": [torch.zeros(1), torch.zeros(2, 3).t()]})
    assert str(raised.value) == "c.pt: damaged tensor checkpoint['rng'][1] (shape (3, 2), strides (1, 3))"


def full_state(**changes) -> dict:
    state = {"format": ckpt.FORMAT, "version": 1, "config": {}, "step": 0, "model": {}, "optimizer": {},
             "schedule": [], "sampler": {}, "rng": {}}
    return {**state, **changes}


def test_a_stored_tensor_with_a_damaged_layout_is_refused_naming_the_file(tmp_path):
    path = saved(tmp_path, full_state(model={"w": torch.zeros(2, 3).t()}))
    with pytest.raises(CheckpointError) as raised:
        ckpt.load_checkpoint(path)
    assert str(raised.value) == f"{path}: damaged tensor checkpoint['model']['w'] (shape (3, 2), strides (1, 3))"


def test_a_truncated_checkpoint_is_refused_with_torch_s_first_words(tmp_path):
    path = tmp_path / "c.pt"
    torch.save(full_state(), path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError) as raised:
        ckpt.load_checkpoint(path)
    assert str(raised.value).startswith(f"{path}: corrupt or truncated checkpoint (PytorchStreamReader")


def test_the_newest_checkpoint_is_loaded_onto_the_cpu_by_default(tmp_path):
    ckpt.save_checkpoint(tmp_path, full_state(step=3, model={"w": torch.ones(2)}))
    path, state, problems = ckpt.newest_loadable(tmp_path)
    assert path.name == "step-000000003.pt" and state["step"] == 3 and problems == []
    assert state["model"]["w"].device.type == "cpu" and state["model"]["w"].tolist() == [1.0, 1.0]


def test_moments_under_other_names_are_refused_before_adam_trips_over_them():
    optimizer = adam()
    optimizer.zero_grad()
    optimizer.param_groups[0]["params"][0].sum().backward()
    optimizer.step()
    settings = ckpt.optimizer_settings(optimizer)
    moments = optimizer.state[optimizer.param_groups[0]["params"][0]]
    moments["exp_avh"] = moments.pop("exp_avg")  # one flipped byte in a key of the pickle
    with pytest.raises(CheckpointError) as raised:
        ckpt.check_optimizer_state("c.pt", optimizer, 1, settings)
    assert str(raised.value) == ("c.pt: damaged optimiser state (moments ['exp_avg_sq', 'exp_avh', 'step'], "
                                 "expected ['exp_avg', 'exp_avg_sq', 'step'])")

