"""The rules shared by the hardware and workload schemas: issues, value rules, key checks.

Every problem becomes a `ConfigIssue` (a YAML path and a message); a loader collects them all
and raises one `ConfigError`. What a user sees is bounded whatever the input: at most
`MAX_SHOWN_ISSUES` problems are shown (then "and K more"), each line at most `MAX_LINE_CHARS`
characters, and values are described by their kind plus a short excerpt, never in full (a
value built by YAML aliases can be millions of elements long).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: Problems shown by `str(ConfigError)` and the CLI; the rest are counted.
MAX_SHOWN_ISSUES = 20
#: Longest line of a shown problem (path and message); longer ones end in "...".
MAX_LINE_CHARS = 300
#: Longest excerpt of a user value quoted in a message.
MAX_VALUE_CHARS = 60
#: Keys longer than this get no did-you-mean suggestion (comparing them would be slow and
#: nothing that long is a typo of a schema key).
_MAX_SUGGESTED_KEY_CHARS = 64


def shorten(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, marked with '...' when cut."""
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


@dataclass(frozen=True)
class ConfigIssue:
    """One problem: where it is (a YAML path, or the file for file-level problems) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return shorten(f"{self.path}: {self.message}", MAX_LINE_CHARS)


class ConfigError(ValueError):
    """Every problem found in one configuration; `str()` gives one `path: message` per line,
    at most MAX_SHOWN_ISSUES of them followed by a count of the others."""

    def __init__(self, items: Iterable[ConfigIssue], source: str = "") -> None:
        self.items: tuple[ConfigIssue, ...] = tuple(items)
        self.source = source
        super().__init__("\n".join(self.lines(with_source=False)))

    def lines(self, with_source: bool = True) -> list[str]:
        """The shown message lines; `with_source` prefixes each with the file name (unless
        the item is about the file itself)."""
        shown = []
        for item in self.items[:MAX_SHOWN_ISSUES]:
            line = str(item)
            if with_source and self.source and item.path != self.source:
                line = shorten(f"{self.source}: {line}", MAX_LINE_CHARS)
            shown.append(line)
        hidden = len(self.items) - len(shown)
        if hidden:
            shown.append(f"... and {hidden} more problem(s)")
        return shown

    def __reduce__(self) -> tuple:
        # Keeps the items when the error crosses a process boundary (sweeps use process pools);
        # the default would rebuild the error from its message string.
        return (ConfigError, (self.items, self.source))


Issues = list[ConfigIssue]

#: Value rules: what a field must hold, phrased for messages. Ranges are the physical ones: a
#: size or bandwidth of zero is meaningless, an energy may be zero (reading a register that is
#: part of compute costs nothing extra).
POSITIVE_INT = "a positive integer"
INTEGER = "an integer"
POSITIVE_NUMBER = "a positive number"
NON_NEGATIVE_NUMBER = "a non-negative number"
BOOLEAN = "true or false"
TEXT = "text"

#: Largest integer a POSITIVE_INT field may hold: costs are computed in floating point, which
#: represents every integer up to 2**53 exactly.
MAX_COUNT = 2**53


def unit_rule(field: dataclasses.Field) -> str:
    """The rule of a spec field, read off its type and unit suffix, so a field added to
    MemoryLevel or Macro is validated without touching this package: counts and sizes are
    positive integers, energies / areas / leakage non-negative, other reals (bandwidths)
    positive."""
    if field.type == "bool":
        return BOOLEAN
    if field.type == "int":
        return POSITIVE_INT
    if field.name.endswith(("_energy_pj_per_bit", "_mm2", "_pj_per_cycle")):
        return NON_NEGATIVE_NUMBER
    return POSITIVE_NUMBER


def join_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{shorten(key, MAX_VALUE_CHARS)}" if path else shorten(key, MAX_VALUE_CHARS)


def describe(value: Any) -> str:
    """A value as a message shows it: its YAML kind, and a short excerpt of the value."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, Mapping):
        return f"a mapping of {len(value)} key(s)"
    if isinstance(value, list):
        return f"a list of {len(value)} item(s)"
    if isinstance(value, str):
        return f"the text {shorten(repr(value), MAX_VALUE_CHARS)}"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    return f"{type(value).__name__} {shorten(repr(value), MAX_VALUE_CHARS)}"


def value_problem(value: Any, rule: str) -> str | None:
    """Why `value` breaks `rule`, or None. Never coerces: the text '8' is not the number 8."""
    if rule in (BOOLEAN, TEXT):
        ok = isinstance(value, bool if rule == BOOLEAN else str)
        return None if ok else f"expected {rule}, got {describe(value)}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        hint = ""
        if isinstance(value, str) and _looks_numeric(value):
            hint = (
                " (YAML reads quoted numbers, and exponents without a decimal point such as"
                " 1e-3, as text; write 1.0e-3)"
            )
        return f"expected {rule}, got {describe(value)}{hint}"
    if rule in (POSITIVE_INT, INTEGER) and not isinstance(value, int):
        return f"expected an integer, got {describe(value)}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be finite, got {value!r}"
    if rule == POSITIVE_INT and value > MAX_COUNT:
        return (
            f"is {describe(value)}, above {MAX_COUNT:,} (2**53), the largest count computed exactly"
        )
    if rule in (POSITIVE_INT, POSITIVE_NUMBER) and value <= 0:
        return f"must be > 0, got {describe(value)}"
    if rule == NON_NEGATIVE_NUMBER and value < 0:
        return f"must be >= 0, got {describe(value)}"
    if rule in (POSITIVE_NUMBER, NON_NEGATIVE_NUMBER) and isinstance(value, int):
        try:
            float(value)
        except OverflowError:
            return f"is too large to be a number of this kind ({describe(value)})"
    return None


def _looks_numeric(text: str) -> bool:
    if len(text) > MAX_VALUE_CHARS:
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_keys(
    data: Mapping, path: str, allowed: Iterable[str], required: Iterable[str], issues: Issues
) -> None:
    """Unknown keys (with a did-you-mean) and missing required keys."""
    allowed = list(allowed)
    for key in data:
        if not isinstance(key, str):
            issues.append(ConfigIssue(path or "<root>", f"keys must be text, got {describe(key)}"))
        elif key not in allowed:
            close = []
            if len(key) <= _MAX_SUGGESTED_KEY_CHARS and len(issues) < MAX_SHOWN_ISSUES:
                close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; expected one of {allowed}"
            shown = shorten(repr(key), MAX_VALUE_CHARS)
            issues.append(ConfigIssue(join_path(path, key), f"unknown key {shown}{hint}"))
    for key in required:
        if key not in data:
            issues.append(ConfigIssue(join_path(path, key), "missing required key"))


def read_values(data: Mapping, path: str, rules: Mapping[str, str], issues: Issues) -> dict:
    """The values of the ruled keys present in `data` (real numbers as float); problems go to
    `issues`. Keys are checked separately, by `check_keys`."""
    values: dict[str, Any] = {}
    for key, rule in rules.items():
        if key not in data:
            continue
        problem = value_problem(data[key], rule)
        if problem:
            issues.append(ConfigIssue(join_path(path, key), problem))
        elif rule in (POSITIVE_NUMBER, NON_NEGATIVE_NUMBER):
            values[key] = float(data[key])
        else:
            values[key] = data[key]
    return values


def is_mapping(data: Any, path: str, issues: Issues) -> bool:
    if isinstance(data, Mapping):
        return True
    issues.append(ConfigIssue(path, f"expected a mapping, got {describe(data)}"))
    return False


def read_record(
    data: Any, path: str, rules: Mapping[str, str], required: Iterable[str], issues: Issues
) -> dict[str, Any] | None:
    """A flat mapping whose keys are exactly the ruled ones: its values, or None when any
    problem was found (all of them are in `issues`)."""
    before = len(issues)
    if not is_mapping(data, path, issues):
        return None
    check_keys(data, path, rules, required, issues)
    values = read_values(data, path, rules, issues)
    return values if len(issues) == before else None


def required_fields(cls: type) -> list[str]:
    return [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]


def read_list(data: Any, path: str, issues: Issues) -> list:
    if not isinstance(data, list):
        issues.append(ConfigIssue(path, f"expected a list, got {describe(data)}"))
        return []
    return data
