"""Help that answers: every option of every verb says what it does and its default, in groups,
`drawstudio --version` names the version, and the studio's run-setup tooltips use the same
words as `drawstudio train --help`."""

from __future__ import annotations

import argparse
import importlib.metadata

import pytest

from drawstudio.cli.main import main
from drawstudio.cli.parser import MODEL_FLAGS, TRAIN_FLAGS, build_parser
from drawstudio.settings_help import SETTINGS, default_words, help_for
from drawstudio.version import PYPROJECT, version

VERBS = ("train", "eval", "sample", "classifier", "bench")
TRAIN_GROUPS = ("data", "model", "training", "output")


def verb_parser(name: str) -> argparse.ArgumentParser:
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return commands.choices[name]


def options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


@pytest.mark.parametrize("verb", VERBS)
def test_every_option_of_every_verb_has_help_naming_its_default(verb):
    for action in options(verb_parser(verb)):
        assert action.help, action.option_strings
        if not action.required:
            assert "default" in action.help, (action.option_strings, action.help)


def test_train_options_sit_in_the_data_model_training_and_output_groups():
    parser = verb_parser("train")
    grouped = {}
    for group in parser._action_groups:
        for action in group._group_actions:
            grouped[action.dest] = group.title.split(" ")[0]
    for action in options(parser):
        assert grouped[action.dest] in TRAIN_GROUPS, (action.option_strings, grouped[action.dest])
    assert grouped["dataset"] == "data" and grouped["T"] == "model"
    assert grouped["lr"] == "training" and grouped["run"] == "output"


def test_a_setting_flag_says_what_the_config_field_means_and_its_default():
    by_dest = {a.dest: a for a in options(verb_parser("train"))}
    for flag, field in {**MODEL_FLAGS, **TRAIN_FLAGS}.items():
        if flag != "dataset":  # a new run must name it, so its help says so instead of a default
            assert by_dest[flag].help == help_for(field)
    assert by_dest["tensorboard"].help.startswith(SETTINGS["tensorboard"][0])
    assert help_for("T") == f"{SETTINGS['T'][0]} (default: 64 steps)"
    assert default_words("log_every") == "1 step" and default_words("lr") == "0.001"
    assert default_words("compile") == "off" and default_words("data_dir") == "none"


def test_help_prints_the_groups_and_exits_0(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for title in ("data:", "model (fixed once the run exists):", "training:", "output:"):
        assert f"\n{title}\n" in out
    assert "(default: 180 seconds)" in out


def test_version_is_the_installed_one_and_falls_back_to_pyproject(capsys, monkeypatch):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"drawstudio {importlib.metadata.version('drawstudio')}\n"

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert f'version = "{version()}"' in PYPROJECT.read_text()


def test_run_setup_tooltips_are_the_command_lines_words(qtbot, run_kind_data):
    from drawstudio.studio.run_setup import RunSetupDialog

    dialog = RunSetupDialog(dataset="mnist", data_dir=str(run_kind_data / "mnist"), check_online=False)
    qtbot.addWidget(dialog)
    widgets = dialog.setting_widgets()
    assert {"T", "z_size", "batch_size", "lr", "lr_decay", "binarize", "device", "dataset"} <= set(widgets)
    for field, widget in widgets.items():
        assert widget.toolTip() == help_for(field), field
