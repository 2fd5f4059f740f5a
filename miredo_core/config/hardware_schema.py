"""The `hardware:` schema: YAML document <-> `Hardware`, and plausibility warnings.

Validation (`hardware_from_dict`) is strict: wrong types, impossible values (a size of zero, a
negative energy), unknown keys and missing levels are errors. Plausibility is advisory: a value
that is possible but far outside any real accelerator (10**12 cores, 10**300 bits per cycle) is
usually a typo or a unit mistake, so it is logged as a warning and listed by
`plausibility_warnings`, but accepted. The plausible ranges (inclusive), by field:

=============================================  ===================  ==========================
field                                          range                why
=============================================  ===================  ==========================
cores                                          1 .. 4,096           largest CIM chips: hundreds
macro.rows, macro.columns                      1 .. 4,096           SRAM arrays: 64 .. 1,024
macro.compartment_depth                        1 .. 1,024           weights per cell
macro.weight_bits, input_bits_per_cycle        1 .. 32              quantized precisions
macro.psum_bits                                1 .. 64              accumulator width
levels.*.size_bits                             8 .. 2**46 (8 TiB)   registers .. DRAM
*_bw_bits_per_cycle                            0.001 .. 2**20       narrow links .. wide SRAM
*_energy_pj_per_bit                            0 .. 1,000           DRAM is ~10-100
*_mm2                                          0 .. 10,000          a reticle is ~860 mm2
*_pj_per_cycle                                 0 .. 10**9           leakage of a whole chip
=============================================  ===================  ==========================
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from miredo_core.config.rules import (
    POSITIVE_INT,
    TEXT,
    ConfigError,
    ConfigIssue,
    Issues,
    check_keys,
    describe,
    is_mapping,
    join_path,
    read_record,
    read_values,
    required_fields,
    unit_rule,
)
from miredo_core.config.text import MAX_HARDWARE_BYTES, dump, parse_yaml, read_text, section
from miredo_core.hardware import AXIS_ALLOWED_DIMS, Axis, Hardware, Level, Macro, MemoryLevel
from miredo_core.workload import DIMS, Dim

logger = logging.getLogger(__name__)

_LEVEL_RULES = {f.name: unit_rule(f) for f in dataclasses.fields(MemoryLevel)}
_MACRO_RULES = {f.name: unit_rule(f) for f in dataclasses.fields(Macro)}
_HARDWARE_RULES: dict[str, str] = {"name": TEXT, "description": TEXT, "cores": POSITIVE_INT}
_HARDWARE_KEYS = ("name", "description", "cores", "levels", "macro", "spatial_dims")
MEMORY_LEVELS: tuple[Level, ...] = tuple(level for level in Level if level is not Level.MACRO)
_AXIS_FIELDS: dict[Axis, str] = {
    Axis.CORES: "core_dims",
    Axis.ROWS: "row_dims",
    Axis.COLUMNS: "column_dims",
}

#: Plausible ranges by exact field name (see the module docstring).
PLAUSIBLE_BY_NAME: dict[str, tuple[float, float]] = {
    "cores": (1, 4096),
    "rows": (1, 4096),
    "columns": (1, 4096),
    "compartment_depth": (1, 1024),
    "weight_bits": (1, 32),
    "input_bits_per_cycle": (1, 32),
    "psum_bits": (1, 64),
    "size_bits": (8, 2**46),
}
#: Plausible ranges by unit suffix, for the fields not named above.
PLAUSIBLE_BY_SUFFIX: dict[str, tuple[float, float]] = {
    "_bw_bits_per_cycle": (1e-3, 2**20),
    "_energy_pj_per_bit": (0.0, 1e3),
    "_mm2": (0.0, 1e4),
    "_pj_per_cycle": (0.0, 1e9),
}


def plausible_range(field: str) -> tuple[float, float] | None:
    """The plausible (low, high) of a hardware field by its name, or None if it has none."""
    if field in PLAUSIBLE_BY_NAME:
        return PLAUSIBLE_BY_NAME[field]
    for suffix, bounds in PLAUSIBLE_BY_SUFFIX.items():
        if field.endswith(suffix):
            return bounds
    return None


def plausibility_warnings(hw: Hardware) -> list[ConfigIssue]:
    """One issue per numeric field of `hw` outside its plausible range (see the module
    docstring); these are warnings, `hw` is valid."""
    section_data = hardware_to_dict(hw)["hardware"]
    values: list[tuple[str, str, Any]] = [("hardware.cores", "cores", hw.cores)]
    for level in MEMORY_LEVELS:
        for key, value in section_data["levels"][level.value].items():
            values.append((f"hardware.levels.{level.value}.{key}", key, value))
    for key, value in section_data["macro"].items():
        values.append((f"hardware.macro.{key}", key, value))
    warnings = []
    for path, key, value in values:
        bounds = plausible_range(key)
        if bounds is None or isinstance(value, bool) or bounds[0] <= value <= bounds[1]:
            continue
        low, high = (_number_text(bound) for bound in bounds)
        message = (
            f"{_number_text(value)} is outside the plausible range {low} .. {high}; check the "
            "value and its unit (the range is in miredo_core/config/hardware_schema.py)"
        )
        warnings.append(ConfigIssue(path, message))
    return warnings


def _number_text(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:g}"


def _read_axis_dims(entries: Any, axis: Axis, path: str, issues: Issues) -> frozenset[Dim]:
    """One axis's dim list: known dims, each allowed on the axis, none twice."""
    if not isinstance(entries, list):
        issues.append(ConfigIssue(path, f"expected a list of dims, got {describe(entries)}"))
        return frozenset()
    allowed = ", ".join(d.value for d in DIMS if d in AXIS_ALLOWED_DIMS[axis])
    dims: list[Dim] = []
    for index, entry in enumerate(entries):
        where = join_path(path, index)
        if not isinstance(entry, str) or entry not in {d.value for d in DIMS}:
            shown = repr(entry) if isinstance(entry, str) and len(entry) < 20 else describe(entry)
            issues.append(ConfigIssue(where, f"unknown dim {shown}; allowed: {allowed}"))
        elif Dim(entry) not in AXIS_ALLOWED_DIMS[axis]:
            message = f"dim {entry} cannot be unrolled on {axis.value}; allowed: {allowed}"
            issues.append(ConfigIssue(where, message))
        elif Dim(entry) in dims:
            issues.append(ConfigIssue(where, f"dim {entry} is listed twice"))
        else:
            dims.append(Dim(entry))
    return frozenset(dims)


def _read_spatial_dims(data: Any, path: str, issues: Issues) -> dict[str, frozenset[Dim]]:
    """Per-axis dim lists; each narrows what the axis can physically unroll, never widens it."""
    if not is_mapping(data, path, issues):
        return {}
    check_keys(data, path, [axis.value for axis in Axis], [], issues)
    return {
        _AXIS_FIELDS[axis]: _read_axis_dims(
            data[axis.value], axis, join_path(path, axis.value), issues
        )
        for axis in Axis
        if axis.value in data
    }


def _read_levels(data: Any, path: str, issues: Issues) -> dict[str, MemoryLevel]:
    """All six memory levels; each is built only when it has no problem."""
    if not is_mapping(data, path, issues):
        return {}
    names = [level.value for level in MEMORY_LEVELS]
    check_keys(data, path, names, names, issues)
    required = required_fields(MemoryLevel)
    levels: dict[str, MemoryLevel] = {}
    for name in names:
        if name in data:
            values = read_record(data[name], join_path(path, name), _LEVEL_RULES, required, issues)
            if values is not None:
                levels[name] = MemoryLevel(**values)
    return levels


def _read_hardware(data: Any, issues: Issues) -> Hardware | None:
    """Collect every problem of a `hardware:` section; build it only if there are none."""
    before = len(issues)
    hardware = section(data, "hardware", issues)
    if hardware is None or not is_mapping(hardware, "hardware", issues):
        return None
    check_keys(hardware, "hardware", _HARDWARE_KEYS, ("name", "cores", "levels", "macro"), issues)
    top = read_values(hardware, "hardware", _HARDWARE_RULES, issues)
    if top.get("name") == "":
        issues.append(ConfigIssue("hardware.name", "must not be empty"))
    levels = {}
    if "levels" in hardware:
        levels = _read_levels(hardware["levels"], "hardware.levels", issues)
    macro_values = None
    if "macro" in hardware:
        required = required_fields(Macro)
        macro_values = read_record(
            hardware["macro"], "hardware.macro", _MACRO_RULES, required, issues
        )
    dims = {}
    if "spatial_dims" in hardware:
        dims = _read_spatial_dims(hardware["spatial_dims"], "hardware.spatial_dims", issues)
    if len(issues) > before or macro_values is None:
        return None
    return Hardware(**top, **levels, macro=Macro(**macro_values), **dims)


def hardware_from_dict(data: Any, source: str = "<dict>") -> Hardware:
    """Build Hardware from a loaded YAML document (`{"hardware": {...}}`), or raise ConfigError
    listing every problem. Implausible values are logged as warnings."""
    issues: Issues = []
    hardware = _read_hardware(data, issues)
    if issues or hardware is None:
        raise ConfigError(issues, source)
    for warning in plausibility_warnings(hardware):
        logger.warning("%s: %s", source, warning)
    return hardware


def parse_hardware(text: str, source: str = "<text>") -> Hardware:
    """Hardware from YAML text; `source` names the text in file-level messages."""
    return hardware_from_dict(parse_yaml(text, source, MAX_HARDWARE_BYTES), source)


def load_hardware(path: Any) -> Hardware:
    """Hardware from a YAML file; a missing, unreadable or oversized file is a ConfigError."""
    return parse_hardware(read_text(path, MAX_HARDWARE_BYTES), str(path))


def hardware_to_dict(hw: Hardware) -> dict[str, Any]:
    """The YAML document of `hw`; `hardware_from_dict` of it gives an equal object."""
    data: dict[str, Any] = {"name": hw.name}
    if hw.description:
        data["description"] = hw.description
    data["cores"] = hw.cores
    data["levels"] = {level.value: dataclasses.asdict(hw.memory(level)) for level in MEMORY_LEVELS}
    data["macro"] = dataclasses.asdict(hw.macro)
    data["spatial_dims"] = {
        axis.value: [d.value for d in DIMS if d in hw.axis_dims(axis)] for axis in Axis
    }
    return {"hardware": data}


def dump_hardware(hw: Hardware) -> str:
    """YAML text of `hw` (floats written exactly, so parsing it gives an equal object)."""
    return dump(hardware_to_dict(hw))
