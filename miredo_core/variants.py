"""Hardware variants: pure functions that derive a new Hardware with one thing changed.

Every function returns a new object built with `dataclasses.replace`, changes only the fields it
names (plus the hardware name, which records the change, e.g. `default_8core[cores=16]`) and
rejects values that make no physical sense with a ValueError instead of clamping them.

What is deliberately *not* rescaled (there is no CACTI in the loop, unlike the paper's
`build_hardware_variant`, which re-derives energies and leakage for most axes):

* per-bit energies stay per bit for every variant (a larger buffer is not made costlier per
  access here; change the energy explicitly if that matters);
* macro area and leakage stay per macro when rows, columns or compartment depth change;
* only `with_buffer_size` rescales area and leakage, linearly with capacity (an SRAM's area and
  static power are, to first order, proportional to its bit count).

`AXES` is the one table of the axes that sweeps, the CLI and the UI use: each axis's setter,
reader, value type, unit, range and YAML paths; `apply_variant` applies one, `read_axes` reads
them all, and `miredo_core.axes` parses axis values from text.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from miredo_core.hardware import Hardware, Level

#: Levels whose capacity a variant may change: the on-chip buffers. DRAM capacity is never a
#: constraint and the registers hold exactly one element by construction.
BUFFER_LEVELS: tuple[Level, ...] = (Level.GLOBAL_BUFFER, Level.INPUT_BUFFER, Level.OUTPUT_BUFFER)

BITS_PER_KIB = 8 * 1024

_TAGS = re.compile(
    r"^(?P<base>.*)\[(?P<tags>[A-Za-z_.]+=[^\[\]=,]*(?:,[A-Za-z_.]+=[^\[\]=,]*)*)\]$"
)


def _positive_int(value: Any, what: str) -> int:
    """An integer-like value (int, numpy integer) that is >= 1; booleans are not counts."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    try:
        count = operator.index(value)
    except TypeError:
        raise ValueError(f"{what} must be a positive integer, got {value!r}") from None
    if count < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return count


def _positive_number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a positive number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive finite number, got {value!r}")
    return float(value)


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def variant_name(name: str, key: str, value: Any) -> str:
    """`name` with `key=value` recorded in its trailing tag list, so a variant says what
    changed; setting a key again replaces its old value instead of stacking tags. The tags of
    the variant axes are listed in `AXES` order (other keys after them, as they came), so the
    same changes give the same name in whatever order they were applied."""
    match = _TAGS.match(name)
    base, tags = (match["base"], match["tags"].split(",")) if match else (name, [])
    pairs = dict(tag.split("=", 1) for tag in tags)
    pairs[key] = _format(value)
    rank = {axis: index for index, axis in enumerate(AXES)}
    ordered = sorted(pairs.items(), key=lambda item: rank.get(item[0], len(rank)))
    return f"{base}[{','.join(f'{k}={v}' for k, v in ordered)}]"


def _rename(hw: Hardware, key: str, value: Any) -> Hardware:
    return replace(hw, name=variant_name(hw.name, key, value))


def with_core_count(hw: Hardware, n: int) -> Hardware:
    """`n` cores; each keeps its own input / output buffer and macro, as in the template."""
    n = _positive_int(n, "core count")
    return replace(hw, cores=n, name=variant_name(hw.name, "cores", n))


def with_macro_rows(hw: Hardware, n: int) -> Hardware:
    """`n` macro rows (the reduction axis). Macro area and leakage stay as given per macro."""
    n = _positive_int(n, "macro rows")
    macro = replace(hw.macro, rows=n)
    return replace(hw, macro=macro, name=variant_name(hw.name, "macro_rows", n))


def with_macro_columns(hw: Hardware, n: int) -> Hardware:
    """`n` macro columns (one weight column each). Macro area and leakage stay per macro."""
    n = _positive_int(n, "macro columns")
    macro = replace(hw.macro, columns=n)
    return replace(hw, macro=macro, name=variant_name(hw.name, "macro_columns", n))


def with_compartment_depth(hw: Hardware, n: int) -> Hardware:
    """`n` weights stored per compute cell (the storage-to-compute ratio).

    The macro write energy is per bit and stays per bit: a deeper cell holds more bits, so a
    full reload costs proportionally more through the bit count, not through the per-bit figure.
    (The paper's variant scales its per-cell write energy linearly with depth instead, which is
    the same physics in other units.) Macro area and leakage stay as given per macro.
    """
    n = _positive_int(n, "compartment depth")
    macro = replace(hw.macro, compartment_depth=n)
    return replace(hw, macro=macro, name=variant_name(hw.name, "compartment_depth", n))


def with_buffer_size(hw: Hardware, level: Level | str, size_bits: int) -> Hardware:
    """Capacity of one on-chip buffer (global, input or output), per instance, in bits.

    That level's `area_mm2` and `leakage_pj_per_cycle` scale linearly with capacity (first-order
    SRAM model); its bandwidths and per-bit energies, and every other level, are unchanged.
    """
    level = _level(level)
    if level not in BUFFER_LEVELS:
        names = ", ".join(item.value for item in BUFFER_LEVELS)
        raise ValueError(f"buffer size can be changed for {names}, not {level.value}")
    size_bits = _positive_int(size_bits, f"{level.value} size_bits")
    old = hw.memory(level)
    scale = size_bits / old.size_bits
    new = replace(
        old,
        size_bits=size_bits,
        area_mm2=old.area_mm2 * scale,
        leakage_pj_per_cycle=old.leakage_pj_per_cycle * scale,
    )
    changed = replace(hw, **{level.value: new})
    return _rename(changed, f"{level.value}.size_bits", size_bits)


def with_bandwidth(hw: Hardware, level: Level | str, bits_per_cycle: float) -> Hardware:
    """Read and write bandwidth of one memory level (per instance), in bits per cycle.

    Any level but the macro, whose write bandwidth is a per-cell macro property."""
    level = _level(level)
    if level is Level.MACRO:
        raise ValueError(
            "the macro has no memory bandwidth to set; its write bandwidth is a Macro field"
        )
    bandwidth = _positive_number(bits_per_cycle, f"{level.value} bandwidth")
    new = replace(
        hw.memory(level), read_bw_bits_per_cycle=bandwidth, write_bw_bits_per_cycle=bandwidth
    )
    return _rename(replace(hw, **{level.value: new}), f"{level.value}.bw", bits_per_cycle)


def with_ping_pong(hw: Hardware, on: bool) -> Hardware:
    """Weight double buffering in the macro: weight writes overlap compute when on."""
    if not isinstance(on, bool):
        raise ValueError(f"ping_pong must be True or False, got {on!r}")
    macro = replace(hw.macro, ping_pong=on)
    return replace(hw, macro=macro, name=variant_name(hw.name, "ping_pong", on))


def _level(level: Level | str) -> Level:
    try:
        return Level(level)
    except ValueError:
        names = ", ".join(item.value for item in Level)
        raise ValueError(f"unknown memory level {level!r}; levels: {names}") from None


def _kib_to_bits(kib: Any, axis: str) -> int:
    """KiB (an integer or a float with a whole number of bits) to bits, never rounded."""
    if isinstance(kib, bool) or not isinstance(kib, int | float):
        raise ValueError(f"{axis} must be a positive number of KiB, got {kib!r}")
    if not math.isfinite(kib) or kib <= 0:
        raise ValueError(f"{axis} must be a positive number of KiB, got {kib!r}")
    bits = kib * BITS_PER_KIB
    if bits != int(bits):
        raise ValueError(f"{axis}={kib!r} is not a whole number of bits")
    return int(bits)


def _buffer_axis(level: Level, axis: str) -> Callable[[Hardware, Any], Hardware]:
    def apply(hw: Hardware, kib: Any) -> Hardware:
        changed = with_buffer_size(hw, level, _kib_to_bits(kib, axis))
        return replace(changed, name=variant_name(hw.name, axis, kib))

    apply.__doc__ = f"{level.value} capacity in KiB per instance (see with_buffer_size)."
    return apply


def _bandwidth_axis(level: Level, axis: str) -> Callable[[Hardware, Any], Hardware]:
    def apply(hw: Hardware, bits_per_cycle: Any) -> Hardware:
        changed = with_bandwidth(hw, level, bits_per_cycle)
        return replace(changed, name=variant_name(hw.name, axis, bits_per_cycle))

    apply.__doc__ = f"{level.value} read and write bandwidth in bits per cycle."
    return apply


def _kib(bits: int) -> int | float:
    value = bits / BITS_PER_KIB
    return int(value) if value.is_integer() else value


def _plain_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


@dataclass(frozen=True)
class VariantAxis:
    """One hardware axis that sweeps, the CLI and the dashboard set and read."""

    name: str
    """As sweeps, the CLI and the UI spell it."""
    set: Callable[[Hardware, Any], Hardware]
    """(hardware, value) -> a new hardware with the axis at `value`."""
    read: Callable[[Hardware], Any]
    """The axis's current value on a hardware, in the units it is set in."""
    type: type
    """int, float or bool: how values are parsed from text."""
    unit: str
    minimum: float
    """The smallest legal value (a form's lower end)."""
    typical_maximum: float
    """The top of the range a form offers (larger values are legal)."""
    yaml_paths: tuple[str, ...]
    """The hardware YAML paths the axis edits."""


_L = "hardware.levels."
#: Axis name -> VariantAxis, in the order forms list them.
AXES: dict[str, VariantAxis] = {axis.name: axis for axis in (
    VariantAxis("cores", with_core_count, lambda hw: hw.cores, int, "cores", 1, 64,
                ("hardware.cores",)),
    VariantAxis("macro_rows", with_macro_rows, lambda hw: hw.macro.rows, int, "rows", 1, 256,
                ("hardware.macro.rows",)),
    VariantAxis("macro_columns", with_macro_columns, lambda hw: hw.macro.columns, int,
                "columns", 1, 256, ("hardware.macro.columns",)),
    VariantAxis("compartment_depth", with_compartment_depth,
                lambda hw: hw.macro.compartment_depth, int, "weights per cell", 1, 64,
                ("hardware.macro.compartment_depth",)),
    VariantAxis("ping_pong", with_ping_pong, lambda hw: hw.macro.ping_pong, bool, "", 0, 1,
                ("hardware.macro.ping_pong",)),
    VariantAxis("gb_kib", _buffer_axis(Level.GLOBAL_BUFFER, "gb_kib"),
                lambda hw: _kib(hw.global_buffer.size_bits), float, "KiB", 1 / BITS_PER_KIB,
                4096, (_L + "global_buffer.size_bits",)),
    VariantAxis("ibuf_kib", _buffer_axis(Level.INPUT_BUFFER, "ibuf_kib"),
                lambda hw: _kib(hw.input_buffer.size_bits), float, "KiB", 1 / BITS_PER_KIB,
                256, (_L + "input_buffer.size_bits",)),
    VariantAxis("obuf_kib", _buffer_axis(Level.OUTPUT_BUFFER, "obuf_kib"),
                lambda hw: _kib(hw.output_buffer.size_bits), float, "KiB", 1 / BITS_PER_KIB,
                256, (_L + "output_buffer.size_bits",)),
    VariantAxis("gb_bw", _bandwidth_axis(Level.GLOBAL_BUFFER, "gb_bw"),
                lambda hw: _plain_number(hw.global_buffer.read_bw_bits_per_cycle), float,
                "bits/cycle", 1e-9, 4096, (_L + "global_buffer.read_bw",
                                           _L + "global_buffer.write_bw")),
    VariantAxis("dram_bw", _bandwidth_axis(Level.DRAM, "dram_bw"),
                lambda hw: _plain_number(hw.dram.read_bw_bits_per_cycle), float, "bits/cycle",
                1e-9, 4096, (_L + "dram.read_bw", _L + "dram.write_bw")),
)}  # fmt: skip

#: Axis name -> `(hardware, value) -> hardware` (the setters of AXES).
VARIANT_AXES: dict[str, Callable[[Hardware, Any], Hardware]] = {
    name: axis.set for name, axis in AXES.items()
}


def read_axes(hw: Hardware) -> dict[str, Any]:
    """The current value of every axis on `hw`, in the units the axis is set in."""
    return {name: axis.read(hw) for name, axis in AXES.items()}


def apply_variant(hw: Hardware, axis: str, value: Any) -> Hardware:
    """`hw` with one named axis set to `value`; an unknown axis lists the valid ones."""
    try:
        function = VARIANT_AXES[axis]
    except KeyError:
        raise ValueError(
            f"unknown variant axis {axis!r}; valid axes: {', '.join(VARIANT_AXES)}"
        ) from None
    return function(hw, value)


def apply_variants(hw: Hardware, values: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> Hardware:
    """`hw` with every (axis, value) applied in order (each checked by `apply_variant`; of an
    axis given twice, the last value), keeping the design as it is where a value changes
    nothing but the name: a design point equal to its base is the base itself, name included,
    as the dashboard names the designs it shows."""
    pairs = dict(values.items() if isinstance(values, Mapping) else values)
    for axis, value in pairs.items():
        changed = apply_variant(hw, axis, value)
        if replace(changed, name=hw.name) != hw:
            hw = changed
    return hw
