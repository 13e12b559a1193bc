"""The studio's colours, one theme for every pane, read once from `resources/theme.json`.

A colour is a string pyqtgraph and Qt style sheets both read ("#rrggbb") or an (r, g, b)
or (r, g, b, a) tuple."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from drawstudio.errors import DrawStudioError
from drawstudio.system.resource_files import resource_path

Colour = str | tuple[int, ...]


@dataclass(frozen=True)
class Theme:
    background: Colour  # every plot's background
    text: Colour  # axis labels, titles, legends
    legend_hidden: Colour  # a hidden curve's name in a legend
    loss: Colour  # the curves, and the bars of KL per drawing step
    reconstruction: Colour
    kl: Colour
    learning_rate: Colour
    schedule_marker: Colour  # vertical lines where the schedule changed
    evaluation: Colour  # test-NLL markers
    schedule_preview: Colour  # the schedule with the edited, not yet applied, values
    now_line: Colour
    read: Colour  # read attention box and trajectory
    write: Colour  # write attention box and trajectory
    caption_text: Colour
    caption_fill: Colour
    error_text: Colour
    heatmap_cursor: Colour
    heatmap_colour_map: str  # a pyqtgraph colour map name
    reference_runs: tuple[Colour, ...]  # other runs' curves, in turn

    def css(self, field: str) -> str:
        """A colour for a Qt style sheet: `#rrggbb` or `rgb(r, g, b)`."""
        colour = getattr(self, field)
        return colour if isinstance(colour, str) else f"rgb({', '.join(map(str, colour[:3]))})"


def load_theme(name: str = "theme.json") -> Theme:
    path = resource_path(name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DrawStudioError(f"{path}: not a readable theme ({error})") from None
    fields = {f.name for f in dataclasses.fields(Theme)}
    if not isinstance(data, dict) or set(data) != fields:
        found = set(data) if isinstance(data, dict) else set()
        raise DrawStudioError(f"{path}: a theme sets exactly {sorted(fields)}; missing {sorted(fields - found)}, "
                              f"unknown {sorted(found - fields)}")
    return Theme(**{key: _colour(value) for key, value in data.items()})


def _colour(value: object) -> object:
    if isinstance(value, list):
        return tuple(_colour(v) for v in value) if any(isinstance(v, (str, list)) for v in value) else tuple(value)
    return value


THEME = load_theme()
