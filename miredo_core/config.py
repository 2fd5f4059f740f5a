"""YAML <-> domain objects for hardware and workloads, with every problem reported at once.

All user-supplied YAML enters the library here, so this is the one place that turns text into
validated frozen objects. Parsing uses `yaml.safe_load` (plus `yaml.compose` with the safe
loader, which builds no objects, to find duplicate keys that `safe_load` would silently
collapse). Validation never stops at the first problem: every problem becomes a `ConfigIssue`
carrying the YAML path of the offending value (`hardware.levels.global_buffer.size_bits`,
`workload.layers[3].stride_h`), and they are raised together as one `ConfigError`. Input is never
clamped or repaired; unknown keys are rejected as likely typos, with a suggestion.

Hardware schema (units in the key names; sizes, bandwidths, area and leakage per instance)::

    hardware:
      name: default_8core
      description: optional free text
      cores: 8
      levels:          # all six required
        dram | global_buffer | input_buffer | output_buffer | input_register | output_register:
          size_bits, read_bw_bits_per_cycle, write_bw_bits_per_cycle,
          read_energy_pj_per_bit, write_energy_pj_per_bit,
          area_mm2 (optional, 0), leakage_pj_per_cycle (optional, 0)
      macro:           # the fields of hardware.Macro; rows, columns, compartment_depth required
      spatial_dims:    # optional; each list narrows hardware.AXIS_ALLOWED_DIMS
        cores: [P, Q, K, G, N]
        rows: [R, S, C]
        columns: [K]

Workload schema: `workload:` with `name`, `layers:` (a list of mappings with the fields of
`workload.Layer`; omitted fields take the Layer defaults) and optional `skipped:` (nodes of an
imported model that are not mapped: `name`, `op_type`, `reason`).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from miredo_core.hardware import AXIS_ALLOWED_DIMS, Axis, Hardware, Level, Macro, MemoryLevel
from miredo_core.workload import DIMS, Dim, Layer, Network, SkippedNode, WorkloadError


@dataclass(frozen=True)
class ConfigIssue:
    """One problem: where it is (a YAML path, or the file for file-level problems) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigError(ValueError):
    """Every problem found in one configuration; `str()` gives one `path: message` per line."""

    def __init__(self, items: Iterable[ConfigIssue], source: str = "") -> None:
        self.items: tuple[ConfigIssue, ...] = tuple(items)
        self.source = source
        super().__init__("\n".join(str(item) for item in self.items))

    def __reduce__(self) -> tuple:
        # Keeps the items when the error crosses a process boundary (sweeps use process pools);
        # the default would rebuild the error from its message string.
        return (ConfigError, (self.items, self.source))


_Issues = list[ConfigIssue]

#: Value rules: what a field must hold, phrased for messages. Ranges are the physical ones: a
#: size or bandwidth of zero is meaningless, an energy may be zero (reading a register that is
#: part of compute costs nothing extra).
POSITIVE_INT = "a positive integer"
INTEGER = "an integer"
POSITIVE_NUMBER = "a positive number"
NON_NEGATIVE_NUMBER = "a non-negative number"
BOOLEAN = "true or false"
TEXT = "text"


def _unit_rule(field: dataclasses.Field) -> str:
    """The rule of a spec field, read off its type and unit suffix, so a field added to
    MemoryLevel or Macro is validated without touching this module: counts and sizes are
    positive integers, energies / areas / leakage non-negative, other reals (bandwidths)
    positive."""
    if field.type == "bool":
        return BOOLEAN
    if field.type == "int":
        return POSITIVE_INT
    if field.name.endswith(("_energy_pj_per_bit", "_mm2", "_pj_per_cycle")):
        return NON_NEGATIVE_NUMBER
    return POSITIVE_NUMBER


_LEVEL_RULES = {f.name: _unit_rule(f) for f in dataclasses.fields(MemoryLevel)}
_MACRO_RULES = {f.name: _unit_rule(f) for f in dataclasses.fields(Macro)}
_HARDWARE_RULES: dict[str, str] = {"name": TEXT, "description": TEXT, "cores": POSITIVE_INT}
_HARDWARE_KEYS = ("name", "description", "cores", "levels", "macro", "spatial_dims")
_MEMORY_LEVELS: tuple[Level, ...] = tuple(level for level in Level if level is not Level.MACRO)
_AXIS_FIELDS: dict[Axis, str] = {
    Axis.CORES: "core_dims",
    Axis.ROWS: "row_dims",
    Axis.COLUMNS: "column_dims",
}
#: Layer fields are integers or text; their ranges and cross-field rules are Layer's own.
_LAYER_RULES: dict[str, str] = {
    f.name: TEXT if f.type == "str" else INTEGER for f in dataclasses.fields(Layer)
}
_SKIPPED_RULES: dict[str, str] = {f.name: TEXT for f in dataclasses.fields(SkippedNode)}


# ------------------------------------------------------------------ generic checks
def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _describe(value: Any) -> str:
    """A value as a message shows it: its YAML kind, and the value itself when short."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text {value!r}"
    return f"{type(value).__name__} {value!r}"


def _value_problem(value: Any, rule: str) -> str | None:
    """Why `value` breaks `rule`, or None. Never coerces: the text '8' is not the number 8."""
    if rule in (BOOLEAN, TEXT):
        ok = isinstance(value, bool if rule == BOOLEAN else str)
        return None if ok else f"expected {rule}, got {_describe(value)}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        hint = ""
        if isinstance(value, str) and _looks_numeric(value):
            hint = (
                " (YAML reads quoted numbers, and exponents without a decimal point such as"
                " 1e-3, as text; write 1.0e-3)"
            )
        return f"expected {rule}, got {_describe(value)}{hint}"
    if rule in (POSITIVE_INT, INTEGER) and not isinstance(value, int):
        return f"expected an integer, got {value!r}"
    if not math.isfinite(value):
        return f"must be finite, got {value!r}"
    if rule in (POSITIVE_INT, POSITIVE_NUMBER) and value <= 0:
        return f"must be > 0, got {value!r}"
    if rule == NON_NEGATIVE_NUMBER and value < 0:
        return f"must be >= 0, got {value!r}"
    return None


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_keys(
    data: Mapping, path: str, allowed: Iterable[str], required: Iterable[str], issues: _Issues
) -> None:
    """Unknown keys (with a did-you-mean) and missing required keys."""
    allowed = list(allowed)
    for key in data:
        if not isinstance(key, str):
            issues.append(ConfigIssue(path or "<root>", f"keys must be text, got {key!r}"))
        elif key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; expected one of {allowed}"
            issues.append(ConfigIssue(_join(path, key), f"unknown key {key!r}{hint}"))
    for key in required:
        if key not in data:
            issues.append(ConfigIssue(_join(path, key), "missing required key"))


def _read_values(data: Mapping, path: str, rules: Mapping[str, str], issues: _Issues) -> dict:
    """The values of the ruled keys present in `data` (real numbers as float); problems go to
    `issues`. Keys are checked separately, by `_check_keys`."""
    values: dict[str, Any] = {}
    for key, rule in rules.items():
        if key not in data:
            continue
        problem = _value_problem(data[key], rule)
        if problem:
            issues.append(ConfigIssue(_join(path, key), problem))
        elif rule in (POSITIVE_NUMBER, NON_NEGATIVE_NUMBER):
            values[key] = float(data[key])
        else:
            values[key] = data[key]
    return values


def _is_mapping(data: Any, path: str, issues: _Issues) -> bool:
    if isinstance(data, Mapping):
        return True
    issues.append(ConfigIssue(path, f"expected a mapping, got {_describe(data)}"))
    return False


def _read_record(
    data: Any, path: str, rules: Mapping[str, str], required: Iterable[str], issues: _Issues
) -> dict[str, Any] | None:
    """A flat mapping whose keys are exactly the ruled ones: its values, or None when any
    problem was found (all of them are in `issues`)."""
    before = len(issues)
    if not _is_mapping(data, path, issues):
        return None
    _check_keys(data, path, rules, required, issues)
    values = _read_values(data, path, rules, issues)
    return values if len(issues) == before else None


def _required_fields(cls: type) -> list[str]:
    return [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]


# ------------------------------------------------------------------ YAML text
def _duplicate_keys(node: yaml.Node | None, path: str, issues: _Issues, seen: set[int]) -> None:
    """Report keys given twice in one mapping: safe_load would silently keep the last one."""
    if node is None or id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in first_line and key != "<<":
                message = (
                    f"duplicate key {key!r} (lines {first_line[key]} and {line}); give it once"
                )
                issues.append(ConfigIssue(_join(path, key), message))
            first_line.setdefault(key, line)
            _duplicate_keys(value_node, _join(path, key), issues, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _duplicate_keys(item, _join(path, index), issues, seen)


def _parse_yaml(text: str, source: str) -> Any:
    """safe_load with syntax errors (line, column) and duplicate keys turned into ConfigError."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        issues: _Issues = []
        _duplicate_keys(node, "", issues, set())
        if issues:
            raise ConfigError(issues, source)
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            [ConfigIssue(source, f"YAML syntax error{where}: {problem}")], source
        ) from None


def _read_text(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(str(path), "file not found")], str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(str(path), f"cannot read: {exc}")], str(path)) from None


def _section(data: Any, key: str, issues: _Issues) -> Any:
    """The single top-level section (`hardware` or `workload`) of a document."""
    if not isinstance(data, Mapping):
        issues.append(
            ConfigIssue(key, f"missing; the document must be a mapping with a '{key}:' section")
        )
        return None
    _check_keys(data, "", [key], [key], issues)
    return data.get(key)


def _dump(data: dict) -> str:
    # Wide lines keep descriptions on one line; the output is valid YAML at any width.
    return yaml.safe_dump(
        data, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100
    )


# ------------------------------------------------------------------ hardware
def _read_axis_dims(entries: Any, axis: Axis, path: str, issues: _Issues) -> frozenset[Dim]:
    """One axis's dim list: known dims, each allowed on the axis, none twice."""
    if not isinstance(entries, list):
        issues.append(ConfigIssue(path, f"expected a list of dims, got {_describe(entries)}"))
        return frozenset()
    allowed = ", ".join(d.value for d in DIMS if d in AXIS_ALLOWED_DIMS[axis])
    dims: list[Dim] = []
    for index, entry in enumerate(entries):
        where = _join(path, index)
        if not isinstance(entry, str) or entry not in {d.value for d in DIMS}:
            issues.append(ConfigIssue(where, f"unknown dim {entry!r}; allowed: {allowed}"))
        elif Dim(entry) not in AXIS_ALLOWED_DIMS[axis]:
            message = f"dim {entry} cannot be unrolled on {axis.value}; allowed: {allowed}"
            issues.append(ConfigIssue(where, message))
        elif Dim(entry) in dims:
            issues.append(ConfigIssue(where, f"dim {entry} is listed twice"))
        else:
            dims.append(Dim(entry))
    return frozenset(dims)


def _read_spatial_dims(data: Any, path: str, issues: _Issues) -> dict[str, frozenset[Dim]]:
    """Per-axis dim lists; each narrows what the axis can physically unroll, never widens it."""
    if not _is_mapping(data, path, issues):
        return {}
    _check_keys(data, path, [axis.value for axis in Axis], [], issues)
    return {
        _AXIS_FIELDS[axis]: _read_axis_dims(data[axis.value], axis, _join(path, axis.value), issues)
        for axis in Axis
        if axis.value in data
    }


def _read_levels(data: Any, path: str, issues: _Issues) -> dict[str, MemoryLevel]:
    """All six memory levels; each is built only when it has no problem."""
    if not _is_mapping(data, path, issues):
        return {}
    names = [level.value for level in _MEMORY_LEVELS]
    _check_keys(data, path, names, names, issues)
    required = _required_fields(MemoryLevel)
    levels: dict[str, MemoryLevel] = {}
    for name in names:
        if name in data:
            values = _read_record(data[name], _join(path, name), _LEVEL_RULES, required, issues)
            if values is not None:
                levels[name] = MemoryLevel(**values)
    return levels


def _read_hardware(data: Any, issues: _Issues) -> Hardware | None:
    """Collect every problem of a `hardware:` section; build it only if there are none."""
    before = len(issues)
    section = _section(data, "hardware", issues)
    if section is None or not _is_mapping(section, "hardware", issues):
        return None
    _check_keys(section, "hardware", _HARDWARE_KEYS, ("name", "cores", "levels", "macro"), issues)
    top = _read_values(section, "hardware", _HARDWARE_RULES, issues)
    if top.get("name") == "":
        issues.append(ConfigIssue("hardware.name", "must not be empty"))
    levels = {}
    if "levels" in section:
        levels = _read_levels(section["levels"], "hardware.levels", issues)
    macro_values = None
    if "macro" in section:
        required = _required_fields(Macro)
        macro_values = _read_record(
            section["macro"], "hardware.macro", _MACRO_RULES, required, issues
        )
    dims = {}
    if "spatial_dims" in section:
        dims = _read_spatial_dims(section["spatial_dims"], "hardware.spatial_dims", issues)
    if len(issues) > before or macro_values is None:
        return None
    return Hardware(**top, **levels, macro=Macro(**macro_values), **dims)


def hardware_from_dict(data: Any, source: str = "<dict>") -> Hardware:
    """Build Hardware from a loaded YAML document (`{"hardware": {...}}`), or raise ConfigError
    listing every problem."""
    issues: _Issues = []
    hardware = _read_hardware(data, issues)
    if issues or hardware is None:
        raise ConfigError(issues, source)
    return hardware


def parse_hardware(text: str, source: str = "<text>") -> Hardware:
    """Hardware from YAML text; `source` names the text in file-level messages."""
    return hardware_from_dict(_parse_yaml(text, source), source)


def load_hardware(path: str | Path) -> Hardware:
    """Hardware from a YAML file; a missing or unreadable file is a ConfigError too."""
    return parse_hardware(_read_text(path), str(path))


def hardware_to_dict(hw: Hardware) -> dict[str, Any]:
    """The YAML document of `hw`; `hardware_from_dict` of it gives an equal object."""
    section: dict[str, Any] = {"name": hw.name}
    if hw.description:
        section["description"] = hw.description
    section["cores"] = hw.cores
    section["levels"] = {
        level.value: dataclasses.asdict(hw.memory(level)) for level in _MEMORY_LEVELS
    }
    section["macro"] = dataclasses.asdict(hw.macro)
    section["spatial_dims"] = {
        axis.value: [d.value for d in DIMS if d in hw.axis_dims(axis)] for axis in Axis
    }
    return {"hardware": section}


def dump_hardware(hw: Hardware) -> str:
    """YAML text of `hw` (floats written exactly, so parsing it gives an equal object)."""
    return _dump(hardware_to_dict(hw))


# ------------------------------------------------------------------ workload
def _read_layer(data: Any, path: str, issues: _Issues) -> Layer | None:
    """Types here (with exact paths); ranges and shape consistency are Layer's own checks."""
    values = _read_record(data, path, _LAYER_RULES, ("name",), issues)
    if values is None:
        return None
    try:
        return Layer(**values)
    except WorkloadError as exc:
        issues.append(ConfigIssue(path, str(exc)))
        return None


def _read_list(data: Any, path: str, issues: _Issues) -> list:
    if not isinstance(data, list):
        issues.append(ConfigIssue(path, f"expected a list, got {_describe(data)}"))
        return []
    return data


def _read_skipped(data: Any, path: str, issues: _Issues) -> list[SkippedNode]:
    """Nodes of an imported model that are not mapped, kept so a dump loses nothing."""
    nodes = []
    for index, entry in enumerate(_read_list(data, path, issues)):
        where = _join(path, index)
        values = _read_record(entry, where, _SKIPPED_RULES, _SKIPPED_RULES, issues)
        if values is not None:
            nodes.append(SkippedNode(**values))
    return nodes


def _check_unique_names(entries: Any, issues: _Issues) -> None:
    """Layer names identify results; a repeated one is reported even when other layers are
    broken, so every problem shows at once."""
    first: dict[str, int] = {}
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if isinstance(name, str) and name in first:
            message = f"duplicate layer name {name!r} (first used by layers[{first[name]}])"
            issues.append(ConfigIssue(f"workload.layers[{index}].name", message))
        elif isinstance(name, str):
            first[name] = index


def _read_workload(data: Any, issues: _Issues) -> Network | None:
    """Collect every problem of a `workload:` section; build it only if there are none."""
    before = len(issues)
    section = _section(data, "workload", issues)
    if section is None or not _is_mapping(section, "workload", issues):
        return None
    _check_keys(section, "workload", ("name", "layers", "skipped"), ("name", "layers"), issues)
    top = _read_values(section, "workload", {"name": TEXT}, issues)
    layers: list[Layer | None] = []
    if "layers" in section:
        entries = _read_list(section["layers"], "workload.layers", issues)
        if isinstance(section["layers"], list) and not entries:
            issues.append(ConfigIssue("workload.layers", "must list at least one layer"))
        layers = [
            _read_layer(entry, _join("workload.layers", i), issues)
            for i, entry in enumerate(entries)
        ]
    skipped = _read_skipped(section.get("skipped", []), "workload.skipped", issues)
    _check_unique_names(section.get("layers"), issues)
    if len(issues) > before:
        return None
    try:
        return Network(top["name"], tuple(layer for layer in layers if layer), tuple(skipped))
    except WorkloadError as exc:
        issues.append(ConfigIssue("workload.layers", str(exc)))
        return None


def workload_from_dict(data: Any, source: str = "<dict>") -> Network:
    """Build a Network from a loaded YAML document (`{"workload": {...}}`), or raise
    ConfigError listing every problem."""
    issues: _Issues = []
    network = _read_workload(data, issues)
    if issues or network is None:
        raise ConfigError(issues, source)
    return network


def parse_workload(text: str, source: str = "<text>") -> Network:
    """A Network from YAML text; `source` names the text in file-level messages."""
    return workload_from_dict(_parse_yaml(text, source), source)


def load_workload_yaml(path: str | Path) -> Network:
    """A Network from a YAML file; a missing or unreadable file is a ConfigError too."""
    return parse_workload(_read_text(path), str(path))


_LAYER_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Layer)}
#: Always written, even at their defaults, so a dumped layer shows its whole shape.
_LAYER_ALWAYS = ("name", "kind", *(d.value for d in DIMS), "input_h", "input_w")


def _layer_to_dict(layer: Layer) -> dict[str, Any]:
    values = dataclasses.asdict(layer)
    shown = {key: values[key] for key in _LAYER_ALWAYS}
    shown.update(
        {
            key: value
            for key, value in values.items()
            if key not in shown and value != _LAYER_DEFAULTS[key]
        }
    )
    return shown


def workload_to_dict(network: Network) -> dict[str, Any]:
    """The YAML document of `network`; fields at their Layer default are omitted, except the
    dims and the (resolved) input size, which are always written."""
    section: dict[str, Any] = {
        "name": network.name,
        "layers": [_layer_to_dict(layer) for layer in network.layers],
    }
    if network.skipped:
        section["skipped"] = [dataclasses.asdict(node) for node in network.skipped]
    return {"workload": section}


def dump_workload(network: Network) -> str:
    """YAML text of `network`; parsing it gives an equal Network."""
    return _dump(workload_to_dict(network))
