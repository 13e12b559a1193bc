"""Running out of memory as a user error that says what needed the memory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from drawstudio.errors import ConfigError


@contextmanager
def memory_guard(what: str) -> Iterator[None]:
    """Turn running out of memory into a user error that says what needed it."""
    try:
        yield
    except torch.OutOfMemoryError:
        raise ConfigError(f"out of GPU memory during {what}; use a smaller batch or model") from None
    except RuntimeError as error:
        if "can't allocate memory" not in str(error) and "not enough memory" not in str(error):
            raise
        raise ConfigError(f"out of memory during {what}; use a smaller batch or model") from None
