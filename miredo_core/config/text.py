"""YAML text in and out, with bounded cost whatever the input.

Parsing uses PyYAML's safe loader only (no tags that build Python objects). `yaml.compose`
first builds the node graph, in which an alias is a shared reference, so it costs the size of
the text; from it we measure the *expanded* size (every alias counted as a full copy of what it
names) and refuse a document above `MAX_YAML_NODES` before anything walks the expansion. A
"billion laughs" document of a few kilobytes would otherwise expand to gigabytes once validated
or printed. The same pass reports keys given twice in a mapping, which `safe_load` would
silently collapse. A file is read up to its kind's limit (`MAX_HARDWARE_BYTES`,
`MAX_WORKLOAD_BYTES`) plus one byte, so a huge file or a device such as /dev/zero is refused
after reading that much; deeply nested flow collections are refused before PyYAML sees them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from miredo_core.config.rules import ConfigError, ConfigIssue, Issues, check_keys, join_path

#: Largest hardware file accepted, in bytes (text: characters); a real one is about 2 KB.
MAX_HARDWARE_BYTES = 64 * 1024
#: Largest workload file accepted; a 1,000-layer workload is about 200 KB. PyYAML parses in
#: pure Python at roughly a few seconds per MB, so this also bounds the parse time.
MAX_WORKLOAD_BYTES = 1024 * 1024
#: Largest number of YAML values (scalars, lists, mappings) after expanding aliases.
MAX_YAML_NODES = 200_000
#: Deepest nesting of flow collections ([...] and {...}); PyYAML's scanner slows down
#: quadratically with it, and no configuration nests more than a few levels.
MAX_FLOW_DEPTH = 64
_QUOTED = re.compile(r"'[^']*'|\"(?:[^\"\\]|\\.)*\"")
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _fail(source: str, message: str) -> ConfigError:
    return ConfigError([ConfigIssue(source, message)], source)


def read_text(path: str | Path, limit_bytes: int) -> str:
    """The UTF-8 text of a configuration file, refused above `limit_bytes` (only that much is
    ever read, so /dev/zero or a multi-gigabyte file is refused at once)."""
    name = str(path)
    try:
        with open(path, "rb") as stream:
            data = stream.read(limit_bytes + 1)
    except FileNotFoundError:
        raise _fail(name, "file not found") from None
    except IsADirectoryError:
        raise _fail(name, "is a directory, not a configuration file") from None
    except OSError as exc:
        raise _fail(name, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > limit_bytes:
        raise _fail(name, _too_large(f"{limit_bytes:,}-byte"))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(name, f"is not UTF-8 text (byte {exc.start} cannot be decoded)") from None


def _too_large(limit: str) -> str:
    return f"larger than the {limit} limit of this kind of file; is it the right file?"


def _too_deep(text: str) -> bool:
    """Whether [ and { nest deeper than MAX_FLOW_DEPTH outside quoted text (brackets in plain
    scalars count too, which can only overstate the depth)."""
    depth = 0
    for char in _NOT_BRACKET.sub("", _QUOTED.sub("", text)):
        depth = depth + 1 if char in "[{" else max(depth - 1, 0)
        if depth > MAX_FLOW_DEPTH:
            return True
    return False


def _expanded_size(node: yaml.Node, sizes: dict[int, int], active: set[int], limit: int) -> int:
    """Values under `node` with every alias expanded, computed once per node (memoized by
    identity), so the cost is the size of the text even when the expansion is huge. Stops
    counting past `limit`. Raises ValueError on an alias that contains itself."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in active:
        raise ValueError("an alias refers to a value that contains it (a recursive structure)")
    active.add(key)
    total = 1
    if isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = node.value
    else:
        children = []
    for child in children:
        total += _expanded_size(child, sizes, active, limit)
        if total > limit:
            break
    active.discard(key)
    sizes[key] = total
    return total


def _duplicate_keys(node: yaml.Node | None, path: str, issues: Issues, seen: set[int]) -> None:
    """Report keys given twice in one mapping: safe_load would silently keep the last one.
    Shared (aliased) nodes are visited once."""
    if node is None or id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "<key>"
            line = key_node.start_mark.line + 1
            if key in first_line and key != "<<":
                message = f"duplicate key (lines {first_line[key]} and {line}); give it once"
                issues.append(ConfigIssue(join_path(path, key), message))
            first_line.setdefault(key, line)
            _duplicate_keys(value_node, join_path(path, key), issues, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _duplicate_keys(item, join_path(path, index), issues, seen)


def _compose_checked(text: str, source: str) -> None:
    """Compose the node graph and refuse alias bombs, recursion and duplicate keys."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if node is None:
        return
    try:
        size = _expanded_size(node, {}, set(), MAX_YAML_NODES)
    except ValueError as exc:
        raise _fail(source, f"YAML structure refused: {exc}") from None
    if size > MAX_YAML_NODES:
        raise _fail(
            source,
            f"YAML aliases expand to more than {MAX_YAML_NODES:,} values; a configuration "
            "needs far fewer (write the values out, or use fewer nested aliases)",
        )
    issues: Issues = []
    _duplicate_keys(node, "", issues, set())
    if issues:
        raise ConfigError(issues, source)


def parse_yaml(text: str, source: str, limit_bytes: int) -> Any:
    """safe_load with size, nesting and alias limits; syntax errors (line, column) and
    duplicate keys become ConfigError."""
    if len(text) > limit_bytes:
        raise _fail(source, _too_large(f"{limit_bytes:,}-character"))
    if _too_deep(text):
        raise _fail(source, f"YAML nested more than {MAX_FLOW_DEPTH} levels deep")
    try:
        _compose_checked(text, source)
        return yaml.safe_load(text)
    except ConfigError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise _fail(source, f"YAML syntax error{where}: {problem}") from None
    except RecursionError:
        raise _fail(source, "YAML nested too deeply to be a configuration") from None
    except ValueError as exc:
        # int() refuses numbers of more than 4,300 digits while the loader converts them.
        raise _fail(source, f"YAML value cannot be read: {exc}") from None


def section(data: Any, key: str, issues: Issues) -> Any:
    """The single top-level section (`hardware` or `workload`) of a document."""
    if not isinstance(data, Mapping):
        issues.append(
            ConfigIssue(key, f"missing; the document must be a mapping with a '{key}:' section")
        )
        return None
    check_keys(data, "", [key], [key], issues)
    return data.get(key)


def dump(data: dict) -> str:
    # Wide lines keep descriptions on one line; the output is valid YAML at any width.
    return yaml.safe_dump(
        data, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100
    )
