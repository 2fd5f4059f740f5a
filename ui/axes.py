"""Labels of the hardware axes the dashboard edits, sweeps and displays.

The axes themselves (setter, reader, value type, unit, range, YAML paths) are the library's
`miredo_core.AXES`; this module adds only what a form shows: a label and the values a new sweep
starts from. The widget follows the axis's type: a switch for on/off, a slider up to the axis's
typical maximum for a count, a number input otherwise. An axis without a label here is shown
under its name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from miredo_core import AXES, Hardware, VariantAxis, read_axes

__all__ = ["AXIS_SPECS", "NUMBER", "SLIDER", "TOGGLE", "AxisSpec", "matches", "read_axes"]

SLIDER = "slider"
NUMBER = "number"
TOGGLE = "toggle"

#: Axis name -> (label, values a new sweep starts from).
LABELS: dict[str, tuple[str, str]] = {
    "cores": ("Cores", "4, 8, 16"),
    "macro_rows": ("Macro rows", "16, 32, 64"),
    "macro_columns": ("Macro columns", "8, 16, 32"),
    "compartment_depth": ("Compartment depth (weights per cell)", "4, 8, 16"),
    "ping_pong": ("Ping-pong macro (weight double buffering)", "off, on"),
    "gb_kib": ("Global buffer (KiB)", "128, 256, 512"),
    "ibuf_kib": ("Input buffer per core (KiB)", "4, 8, 16"),
    "obuf_kib": ("Output buffer per core (KiB)", "8, 16, 32"),
    "gb_bw": ("Global buffer bandwidth (bits/cycle)", "64, 128, 256"),
    "dram_bw": ("DRAM bandwidth (bits/cycle)", "32, 64, 128"),
}


@dataclass(frozen=True)
class AxisSpec:
    """A library axis as a form shows it."""

    name: str
    label: str
    widget: str
    read: Callable[[Hardware], Any]
    yaml_paths: tuple[str, ...]
    slider_max: int = 0
    sweep_default: str = ""


def _spec(axis: VariantAxis) -> AxisSpec:
    label, sweep_default = LABELS.get(axis.name, (axis.name, ""))
    if axis.type is bool:
        widget, slider_max = TOGGLE, 0
    elif axis.type is int:
        widget, slider_max = SLIDER, int(axis.typical_maximum)
    else:
        widget, slider_max = NUMBER, 0
    return AxisSpec(axis.name, label, widget, axis.read, axis.yaml_paths, slider_max,
                    sweep_default)  # fmt: skip


#: Axis name -> AxisSpec, in the library's order.
AXIS_SPECS: dict[str, AxisSpec] = {name: _spec(axis) for name, axis in AXES.items()}


def matches(spec: AxisSpec, path: str) -> bool:
    """Whether a ConfigError path points into what this axis edits."""
    return any(path.startswith(prefix) for prefix in spec.yaml_paths)
