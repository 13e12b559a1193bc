"""Files some tests need but the repository does not hold (the shared MNIST copies, a Debian
dataset package). Locally a missing one skips those tests with the reason; under CI (CI=true)
it fails them, so a broken data path cannot turn into a green run of skipped tests."""

import os
from pathlib import Path

import pytest


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require_files(root: Path, names: tuple[str, ...], what: str) -> Path:
    """`root` when every file `root/name` exists; otherwise fail (CI) or skip, naming the first missing one."""
    missing = [root / name for name in names if not (root / name).is_file()]
    if not missing:
        return root
    reason = f"{what} {missing[0]} is missing"
    if under_ci():
        pytest.fail(f"{reason}; under CI=true the tests that need it must run, not skip", pytrace=False)
    pytest.skip(reason)
