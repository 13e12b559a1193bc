"""The README and docs/ say how to run things; these tests hold them to the code.

Every `drawstudio …` and `./studio …` line of a fenced ```bash block in README.md or
docs/**/*.md must parse with the parser that will read it, nothing left unrecognised; a
command quoted inline in prose must use only flags its verb defines. Abbreviations are
switched off for the check: argparse would take `--iw-sample` for `--iw-samples`, and a reader
copying it should not depend on that. A `python script.py …` line must name a script that
exists and flags its --help lists. Nothing is trained: commands are parsed, scripts asked for
--help only.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from drawstudio.cli.parser import build_parser as build_cli_parser
from drawstudio.studio.app import build_parser as build_studio_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
README_MAX_LINES = 250

# The docs' placeholders for values a reader fills in; numbers where the parser wants a number.
PLACEHOLDERS = {"N": "100", "S": "0", "STEPS": "100", "K": "2", "F": "0.5", "RATE": "0.5"}

FENCE = re.compile(r"^[ \t]*```bash\n(.*?)^[ \t]*```", re.S | re.M)  # list items indent their fences
INLINE = re.compile(r"`((?:drawstudio|\./studio) [^`]+)`")


def fenced_lines(text: str) -> list[str]:
    lines = []
    for block in FENCE.findall(text):
        joined = re.sub(r"\\\n\s*", " ", block)  # a command continued with a trailing backslash
        lines += [line.strip() for line in joined.splitlines() if line.strip()]
    return lines


def inline_commands(text: str) -> list[str]:
    # prose names a verb without options ("`drawstudio sample` makes the same files"); a span
    # that stands for a family of commands ("drawstudio COMMAND --help", "-- train ...") is a
    # pattern, not a command
    spans = [" ".join(span.split()) for span in INLINE.findall(text)]
    return [span for span in spans if " -" in span and "..." not in span and "…" not in span
            and not re.search(r"\b(COMMAND|OPTIONS)\b", span)]


def commands_in(path: Path) -> list[tuple[str, list[str], bool]]:
    """(the line as written, its words with placeholders filled, whether it is whole) for each
    command in `path`. A fenced line is a whole command; an inline span is often a part of one
    that the prose completes ("`--iw-samples 20` on the run above"), so only its flags count."""
    text = path.read_text()
    found = []
    lines = [(line, True) for line in fenced_lines(text)] + [(span, False) for span in inline_commands(text)]
    for line, whole in lines:
        words = [PLACEHOLDERS.get(word, word) for word in shlex.split(line, comments=True)]
        while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # VAR=value before a command
            words = words[1:]
        if words:
            found.append((line, words, whole))
    return found


def doc_commands(program: str) -> list[tuple[str, str, list[str], bool]]:
    return [(path.relative_to(ROOT).as_posix(), line, words, whole)
            for path in DOCS for line, words, whole in commands_in(path) if words[0] == program]


def drawstudio_args(words: list[str]) -> list[str] | None:
    """The arguments `drawstudio` gets from this command line, or None when it is not one."""
    if words[0] == "drawstudio":
        return words[1:]
    if words[0] == "torchrun" and "-m" in words and words[words.index("-m") + 1] == "drawstudio":
        return words[words.index("-m") + 2:]
    return None


def without_abbreviations(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.allow_abbrev = False
    for sub in subparsers(parser).values():
        without_abbreviations(sub)
    return parser


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return {name: sub for action in parser._actions if isinstance(action, argparse._SubParsersAction)
            for name, sub in action.choices.items()}


def leftovers(parser: argparse.ArgumentParser, args: list[str]) -> str:
    """What `parser` refuses or does not recognise in `args`: '' when it takes them all."""
    error = io.StringIO()
    try:
        with contextlib.redirect_stderr(error):
            _, unknown = parser.parse_known_args(args)
    except SystemExit:
        return error.getvalue().strip()
    return " ".join(unknown) and f"unrecognised: {' '.join(unknown)}"


def unknown_flags(parser: argparse.ArgumentParser, words: list[str]) -> str:
    """The flags in `words` that `parser` does not define, spelled out in full."""
    known = {flag for action in parser._actions for flag in action.option_strings}
    flags = [word.strip("[]").split("=")[0] for word in words if word.strip("[").startswith("-")]
    unknown = [flag for flag in flags if flag not in known]
    return unknown and f"unknown flags: {' '.join(unknown)}"


def check_drawstudio(args: list[str], whole: bool) -> str:
    cli = without_abbreviations(build_cli_parser())
    if args[:1] == ["gui"]:  # `drawstudio gui` hands everything after it to the studio
        return check_studio(args[1:], whole)
    if whole:
        return leftovers(cli, args)
    if args[0].startswith("-"):  # `drawstudio --version`
        return unknown_flags(cli, args)
    verb = subparsers(cli).get(args[0])
    return unknown_flags(verb, args[1:]) if verb else f"no verb {args[0]}"


def check_studio(args: list[str], whole: bool) -> str:
    studio = without_abbreviations(build_studio_parser())
    return leftovers(studio, args) if whole else unknown_flags(studio, args)


def all_drawstudio_commands() -> list[tuple[str, str, list[str], bool]]:
    return [(doc, line, args, whole) for path in DOCS for line, words, whole in commands_in(path)
            for doc in [path.relative_to(ROOT).as_posix()] if (args := drawstudio_args(words)) is not None]


def test_the_readme_stays_a_users_readme_of_at_most_250_lines():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move reference text to docs/"


def test_the_docs_quote_drawstudio_commands_of_every_kind():
    # guards the extraction itself: a broken pattern would otherwise pass by finding nothing
    verbs = {args[0] for _, _, args, whole in all_drawstudio_commands() if whole}
    assert {"train", "eval", "sample", "history", "bench", "presets", "pretrained"} <= verbs
    assert len(doc_commands("./studio")) >= 2


@pytest.mark.parametrize("doc, line, args, whole", all_drawstudio_commands(), ids=str)
def test_every_documented_drawstudio_command_parses(doc, line, args, whole):
    problem = check_drawstudio(args, whole)
    assert not problem, f"{doc}: `{line}`: {problem}"


@pytest.mark.parametrize("doc, line, words, whole", doc_commands("./studio"), ids=str)
def test_every_documented_studio_command_parses(doc, line, words, whole):
    problem = check_studio(words[1:], whole)
    assert not problem, f"{doc}: `{line}`: {problem}"


@cache
def script_help(script: str) -> str:
    done = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, f"{script} --help: {done.stderr.strip()}"
    return done.stdout


@pytest.mark.parametrize("doc, line, words, whole", doc_commands("python"), ids=str)
def test_every_documented_python_script_exists_and_takes_its_flags(doc, line, words, whole):
    script = words[1]
    assert (ROOT / script).is_file(), f"{doc}: `{line}`: no {script}"
    flags = [word.split("=")[0] for word in words[2:] if word.startswith("--") and word != "--"]
    unknown = [flag for flag in flags if not re.search(rf"{re.escape(flag)}\b", script_help(script))]
    assert not unknown, f"{doc}: `{line}`: {script} --help does not list {unknown}"


def test_every_relative_link_in_the_docs_points_at_a_file():
    broken = []
    for path in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            if not (path.parent / target.split("#")[0]).exists():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert not broken
