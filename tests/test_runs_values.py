"""Opening an existing run as values: which checkpoint a read-only trainer holds, the settings
it may override, and the one-line errors for what is not a run."""

import pytest
import torch

from drawstudio.config import ModelConfig, RunConfig, TrainConfig
from drawstudio.data.base import ImageData, TensorImageSet
from drawstudio.errors import CheckpointError, ConfigError, RunDirError
from drawstudio.train.runs import load_run_config, open_run, reopen_config
from drawstudio.train.trainer import Trainer


def synthetic_data() -> ImageData:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (16, 1, 8, 8), dtype=torch.uint8, generator=generator)
    return ImageData("synthetic", TensorImageSet(images), TensorImageSet(images[:8]))


def config() -> RunConfig:
    return RunConfig(ModelConfig(T=2, height=8, width=8, read_n=2, write_n=2, enc_size=8, dec_size=8, z_size=3),
                     TrainConfig(dataset="mnist", data_dir="/nowhere", batch_size=4, steps=3, eval_every=0))


def trained_run(tmp_path, steps: int):
    run = tmp_path / "run"
    trainer = Trainer(config(), run, data=synthetic_data())
    for _ in range(steps):
        trainer.advance()
    path = trainer.save_checkpoint()
    trainer.close()
    return run, path, trainer


def test_an_opened_run_holds_its_newest_checkpoint_and_writes_nothing(tmp_path):
    run, path, trained = trained_run(tmp_path, steps=2)
    before = sorted((p.name, p.stat().st_size) for p in run.rglob("*"))
    opened = open_run(run, data=synthetic_data())
    assert opened.step == 2 and opened.resumed_from == path
    for name, value in trained.model.state_dict().items():
        assert torch.equal(opened.model.state_dict()[name], value), name
    assert sorted((p.name, p.stat().st_size) for p in run.rglob("*")) == before


def test_an_opened_run_takes_the_device_and_data_folder_asked_for(tmp_path):
    run, _, _ = trained_run(tmp_path, steps=1)
    opened = open_run(run, device="cpu", data_dir="/elsewhere", data=synthetic_data())
    assert (opened.config.train.device, opened.config.train.data_dir) == ("cpu", "/elsewhere")
    kept = open_run(run, data=synthetic_data())
    assert (kept.config.train.device, kept.config.train.data_dir) == ("auto", "/nowhere")


def test_a_run_without_a_checkpoint_says_so(tmp_path):
    config().save(tmp_path / "config.json")
    with pytest.raises(RunDirError, match=f"^{tmp_path}: the run has no checkpoint yet$"):
        open_run(tmp_path, data=synthetic_data())


def test_a_folder_that_is_not_a_run_says_what_is_missing(tmp_path):
    with pytest.raises(RunDirError, match=f"^{tmp_path / 'gone'}: no such run directory$"):
        load_run_config(tmp_path / "gone")
    with pytest.raises(RunDirError, match=rf"^{tmp_path}: not a run directory \(no config.json\)$"):
        load_run_config(tmp_path)


def test_every_differing_model_setting_is_named_in_one_list(tmp_path):
    config().save(tmp_path / "config.json")
    with pytest.raises(ConfigError, match=r"different model \(T: 2 → 4, z_size: 3 → 5\); use a new run"):
        reopen_config(tmp_path, {"T": 4, "z_size": 5})


def test_a_checkpoint_that_does_not_fit_the_run_s_config_is_refused_naming_the_file(tmp_path):
    run, path, _ = trained_run(tmp_path, steps=1)
    changed = config()
    changed.model.z_size = 4
    changed.save(run / "config.json")
    with pytest.raises(CheckpointError, match=f"^{path}: checkpoint is for a different model \\(z_size=3 there, 4 here"):
        open_run(run, data=synthetic_data())
