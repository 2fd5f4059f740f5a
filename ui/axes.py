"""The hardware axes the dashboard edits, sweeps and displays: one entry per variant axis.

`miredo_core.variants.VARIANT_AXES` sets an axis; this table adds what a form needs and the
library does not describe: how to read an axis's current value off a Hardware, its label and
unit, its widget, and the YAML paths it edits (to show a ConfigError item next to the input
that edits that place).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from miredo_core.hardware import Hardware
from miredo_core.variants import BITS_PER_KIB, VARIANT_AXES

SLIDER = "slider"
NUMBER = "number"
TOGGLE = "toggle"


@dataclass(frozen=True)
class AxisSpec:
    name: str
    label: str
    widget: str
    read: Callable[[Hardware], Any]
    yaml_paths: tuple[str, ...]
    slider_max: int = 0
    sweep_default: str = ""


def _kib(bits: int) -> int | float:
    value = bits / BITS_PER_KIB
    return int(value) if value.is_integer() else value


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


_LEVELS = "hardware.levels."
AXIS_SPECS: dict[str, AxisSpec] = {
    spec.name: spec
    for spec in (
        AxisSpec(
            "cores", "Cores", SLIDER, lambda hw: hw.cores, ("hardware.cores",), 64, "4, 8, 16"
        ),
        AxisSpec(
            "macro_rows", "Macro rows", SLIDER, lambda hw: hw.macro.rows,
            ("hardware.macro.rows",), 256, "16, 32, 64",
        ),
        AxisSpec(
            "macro_columns", "Macro columns", SLIDER, lambda hw: hw.macro.columns,
            ("hardware.macro.columns",), 256, "8, 16, 32",
        ),
        AxisSpec(
            "compartment_depth", "Compartment depth (weights per cell)", SLIDER,
            lambda hw: hw.macro.compartment_depth, ("hardware.macro.compartment_depth",), 64,
            "4, 8, 16",
        ),
        AxisSpec(
            "ping_pong", "Ping-pong macro (weight double buffering)", TOGGLE,
            lambda hw: hw.macro.ping_pong, ("hardware.macro.ping_pong",), 0, "off, on",
        ),
        AxisSpec(
            "gb_kib", "Global buffer (KiB)", NUMBER,
            lambda hw: _kib(hw.global_buffer.size_bits),
            (_LEVELS + "global_buffer.size_bits",), 0, "128, 256, 512",
        ),
        AxisSpec(
            "ibuf_kib", "Input buffer per core (KiB)", NUMBER,
            lambda hw: _kib(hw.input_buffer.size_bits),
            (_LEVELS + "input_buffer.size_bits",), 0, "4, 8, 16",
        ),
        AxisSpec(
            "obuf_kib", "Output buffer per core (KiB)", NUMBER,
            lambda hw: _kib(hw.output_buffer.size_bits),
            (_LEVELS + "output_buffer.size_bits",), 0, "8, 16, 32",
        ),
        AxisSpec(
            "gb_bw", "Global buffer bandwidth (bits/cycle)", NUMBER,
            lambda hw: _number(hw.global_buffer.read_bw_bits_per_cycle),
            (_LEVELS + "global_buffer.read_bw", _LEVELS + "global_buffer.write_bw"), 0,
            "64, 128, 256",
        ),
        AxisSpec(
            "dram_bw", "DRAM bandwidth (bits/cycle)", NUMBER,
            lambda hw: _number(hw.dram.read_bw_bits_per_cycle),
            (_LEVELS + "dram.read_bw", _LEVELS + "dram.write_bw"), 0, "32, 64, 128",
        ),
    )
}  # fmt: skip

_UNDESCRIBED = set(VARIANT_AXES) - set(AXIS_SPECS)
if _UNDESCRIBED:  # a new library axis must be described here before the dashboard offers it
    raise ImportError(f"ui.axes has no AxisSpec for variant axes {sorted(_UNDESCRIBED)}")


def read_axes(hardware: Hardware) -> dict[str, Any]:
    """The current value of every axis, in the units the axis is set in."""
    return {name: spec.read(hardware) for name, spec in AXIS_SPECS.items()}


def matches(spec: AxisSpec, path: str) -> bool:
    """Whether a ConfigError path points into what this axis edits."""
    return any(path.startswith(prefix) for prefix in spec.yaml_paths)
