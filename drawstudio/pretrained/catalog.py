"""The trained models shipped with DRAW Studio: each a folder `resources/pretrained/NAME/`
holding `weights.pt` (the model's weights in fp32 and the config it was built from) and
`card.json` (how it was made, what it measures, and the weights file's sha256).

A weights file is checked against its card's sha256 before it is read, and then read with
`weights_only=True`, so a tampered, truncated or swapped file is refused with one line and
nothing in it runs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from drawstudio.config import RunConfig
from drawstudio.errors import CheckpointError, ConfigError
from drawstudio.system.resource_files import resource_dir
from drawstudio.train import checkpoint as ckpt

WEIGHTS_FORMAT = "drawstudio-pretrained"
WEIGHTS_FILE = "weights.pt"
CARD_FILE = "card.json"


@dataclass(frozen=True)
class Pretrained:
    """One shipped model: its folder and its card."""

    name: str
    folder: Path
    card: dict[str, Any]

    @property
    def weights_path(self) -> Path:
        return self.folder / WEIGHTS_FILE

    @property
    def config(self) -> RunConfig:
        """The run config the model was trained with (where its data was: not kept)."""
        try:
            config = RunConfig.from_dict(self.card["config"], f"{self.folder / CARD_FILE} config")
        except KeyError:
            raise CheckpointError(f"{self.folder / CARD_FILE}: the card has no config") from None
        config.train.data_dir = None
        return config

    @property
    def title(self) -> str:
        return str(self.card.get("title", self.name))

    def headline(self) -> str:
        """One line of the card's numbers, for listings."""
        results = self.card.get("results", {})
        parts = []
        test = results.get("test")
        if test:
            parts.append(f"test bound {test['nll']:.2f} nats")
        iw = results.get("iw")
        if iw:
            parts.append(f"IW bound (K={iw['samples']}) {iw['nll']:.2f}")
        consistency = results.get("class_consistency")
        if consistency:
            parts.append(f"class consistency {consistency['overall']:.1%}")
        training = self.card.get("training", {})
        if "epochs" in training:
            parts.append(f"{training['epochs']:.1f} epochs, {training.get('hours', 0):.1f} h of training")
        return "; ".join(parts)

    def load_weights(self, map_location: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
        """The model's state dict, after checking the file against the card's sha256."""
        path = self.weights_path
        expected = self.card.get("weights", {}).get("sha256")
        if not isinstance(expected, str):
            raise CheckpointError(f"{self.folder / CARD_FILE}: the card gives no sha256 for {WEIGHTS_FILE}")
        try:
            actual = sha256_of(path)
        except OSError as error:
            raise CheckpointError(f"{path}: cannot read the pretrained weights ({error.strerror or error})") from None
        if actual != expected:
            raise CheckpointError(f"{path}: sha256 {actual[:12]}… does not match its card's {expected[:12]}…; "
                                  "the file was changed or damaged, nothing was loaded")
        stored = ckpt.load_file(path, map_location, WEIGHTS_FORMAT)
        model = stored.get("model")
        if not isinstance(model, dict):
            raise CheckpointError(f"{path}: no model weights in the file")
        return model


def pretrained_root() -> Path:
    return resource_dir("pretrained")


def available(root: Path | None = None) -> list[Pretrained]:
    """Every shipped model with a readable card, by name."""
    root = root or pretrained_root()
    if not root.is_dir():
        return []
    return [find(folder.name, root) for folder in sorted(root.iterdir()) if (folder / CARD_FILE).is_file()]


def names(root: Path | None = None) -> list[str]:
    root = root or pretrained_root()
    return sorted(p.name for p in root.iterdir() if (p / CARD_FILE).is_file()) if root.is_dir() else []


def find(name: str, root: Path | None = None) -> Pretrained:
    """The shipped model `name`; ConfigError naming the ones there are when it is not one."""
    root = root or pretrained_root()
    folder = root / name
    if "/" in name or name.startswith(".") or not (folder / CARD_FILE).is_file():
        known = ", ".join(names(root)) or "none"
        raise ConfigError(f"pretrained model {name!r}: not one of the shipped models ({known})")
    return Pretrained(name, folder, read_card(folder / CARD_FILE))


def read_card(path: Path) -> dict[str, Any]:
    try:
        card = json.loads(path.read_text())
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read the model card ({error.strerror or error})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path}: not a readable model card ({error})") from None
    if not isinstance(card, dict):
        raise CheckpointError(f"{path}: not a model card (a JSON object)")
    return card


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
