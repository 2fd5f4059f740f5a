"""The `workload:` schema: YAML document <-> `Network`.

Types are checked here (with exact YAML paths); ranges and the shape rules (output size from
input, kernel, stride, padding, dilation) are `Layer`'s own, and each problem `Layer` reports is
put back on the path of the field it concerns. Every bad field of every layer is listed: range
problems of the well-typed fields are reported even when another field of the layer has the
wrong type.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from miredo_core.config.rules import (
    INTEGER,
    TEXT,
    ConfigError,
    ConfigIssue,
    Issues,
    check_keys,
    is_mapping,
    join_path,
    read_list,
    read_record,
    read_values,
)
from miredo_core.config.text import MAX_WORKLOAD_BYTES, dump, parse_yaml, read_text, section
from miredo_core.workload import (
    DIMS,
    Layer,
    Network,
    SkippedNode,
    WorkloadError,
    layer_field_problems,
)

#: Layer fields are integers or text; their ranges and cross-field rules are Layer's own.
_LAYER_RULES: dict[str, str] = {
    f.name: TEXT if f.type == "str" else INTEGER for f in dataclasses.fields(Layer)
}
_SKIPPED_RULES: dict[str, str] = {f.name: TEXT for f in dataclasses.fields(SkippedNode)}


def _read_layer(data: Any, path: str, issues: Issues) -> Layer | None:
    """One layer, or None with every problem of it in `issues`."""
    before = len(issues)
    if not is_mapping(data, path, issues):
        return None
    check_keys(data, path, _LAYER_RULES, ("name",), issues)
    values = read_values(data, path, _LAYER_RULES, issues)
    if len(issues) > before:
        # Some field is unusable, so no Layer can be built; still report the range problems
        # of the well-typed fields now rather than one fix at a time.
        for field, message in layer_field_problems(values):
            issues.append(ConfigIssue(join_path(path, field), message))
        return None
    try:
        return Layer(**values)
    except WorkloadError as exc:
        if not exc.problems:
            issues.append(ConfigIssue(path, str(exc)))
        for field, message in exc.problems:
            issues.append(ConfigIssue(join_path(path, field), message))
        return None


def _read_skipped(data: Any, path: str, issues: Issues) -> list[SkippedNode]:
    """Nodes of an imported model that are not mapped, kept so a dump loses nothing."""
    nodes = []
    for index, entry in enumerate(read_list(data, path, issues)):
        where = join_path(path, index)
        values = read_record(entry, where, _SKIPPED_RULES, _SKIPPED_RULES, issues)
        if values is not None:
            nodes.append(SkippedNode(**values))
    return nodes


def _check_unique_names(entries: Any, issues: Issues) -> None:
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


def _read_workload(data: Any, issues: Issues) -> Network | None:
    """Collect every problem of a `workload:` section; build it only if there are none."""
    before = len(issues)
    workload = section(data, "workload", issues)
    if workload is None or not is_mapping(workload, "workload", issues):
        return None
    check_keys(workload, "workload", ("name", "layers", "skipped"), ("name", "layers"), issues)
    top = read_values(workload, "workload", {"name": TEXT}, issues)
    layers: list[Layer | None] = []
    if "layers" in workload:
        entries = read_list(workload["layers"], "workload.layers", issues)
        if isinstance(workload["layers"], list) and not entries:
            issues.append(ConfigIssue("workload.layers", "must list at least one layer"))
        layers = [
            _read_layer(entry, join_path("workload.layers", i), issues)
            for i, entry in enumerate(entries)
        ]
    skipped = _read_skipped(workload.get("skipped", []), "workload.skipped", issues)
    _check_unique_names(workload.get("layers"), issues)
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
    issues: Issues = []
    network = _read_workload(data, issues)
    if issues or network is None:
        raise ConfigError(issues, source)
    return network


def parse_workload(text: str, source: str = "<text>") -> Network:
    """A Network from YAML text; `source` names the text in file-level messages."""
    return workload_from_dict(parse_yaml(text, source, MAX_WORKLOAD_BYTES), source)


def load_workload_yaml(path: Any) -> Network:
    """A Network from a YAML file; a missing, unreadable or oversized file is a ConfigError."""
    return parse_workload(read_text(path, MAX_WORKLOAD_BYTES), str(path))


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
    data: dict[str, Any] = {
        "name": network.name,
        "layers": [_layer_to_dict(layer) for layer in network.layers],
    }
    if network.skipped:
        data["skipped"] = [dataclasses.asdict(node) for node in network.skipped]
    return {"workload": data}


def dump_workload(network: Network) -> str:
    """YAML text of `network`; parsing it gives an equal Network."""
    return dump(workload_to_dict(network))
