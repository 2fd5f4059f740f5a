"""Axis values from text, as the CLI and the dashboard spell them (`cores=4,8,16`,
`gb_kib=128:512:*2`, `ping_pong=on,off`); the axes themselves are `variants.AXES`, whose
`type` says how each is parsed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from miredo_core.variants import AXES

_TRUE, _FALSE = frozenset({"on", "true", "yes", "1"}), frozenset({"off", "false", "no", "0"})
#: Axes whose values are integers / on-off switches (the others are numbers).
INTEGER_AXES = frozenset(name for name, axis in AXES.items() if axis.type is int)
BOOLEAN_AXES = frozenset(name for name, axis in AXES.items() if axis.type is bool)


def _number(axis: str, text: str) -> int | float:
    try:
        value = int(text) if AXES[axis].type is int else float(text)
    except ValueError:
        kind = "an integer" if AXES[axis].type is int else "a number"
        raise ValueError(f"{axis}: {text!r} is not {kind}") from None
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _expand_range(axis: str, text: str) -> list[int | float]:
    """`start:stop:step` (arithmetic) or `start:stop:*factor` (geometric), stop included when
    the sequence reaches it."""
    parts = text.split(":")
    if len(parts) != 3:
        raise ValueError(f"{axis}: range {text!r} must be start:stop:step or start:stop:*factor")
    start, stop = _number(axis, parts[0]), _number(axis, parts[1])
    geometric = parts[2].startswith("*")
    step = _number(axis, parts[2].removeprefix("*")) if not geometric else float(parts[2][1:])
    if stop < start or (step <= 1 if geometric else step <= 0):
        raise ValueError(f"{axis}: range {text!r} must rise from start to stop")
    values: list[int | float] = []
    for count in itertools.count():
        value = start * step**count if geometric else start + count * step
        if value > stop * (1 + 1e-12):
            return values
        rounded = round(value, 12)
        values.append(int(rounded) if float(rounded).is_integer() else rounded)
        if len(values) > 10_000:
            raise ValueError(f"{axis}: range {text!r} has more than 10000 values")
    raise AssertionError("unreachable")


def parse_axis_values(axis: str, text: str) -> tuple[Any, ...]:
    """Values of one axis from text: a comma-separated list whose items are values or ranges
    (`4:16:4`, `1:16:*2`); `on`/`off` for ping_pong. Duplicates are dropped, order is kept."""
    if axis not in AXES:
        raise ValueError(f"unknown axis {axis!r}; valid axes: {', '.join(AXES)}")
    values: list[Any] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if AXES[axis].type is bool:
            if item.lower() not in _TRUE | _FALSE:
                raise ValueError(f"{axis}: {item!r} is not on/off")
            values.append(item.lower() in _TRUE)
        elif ":" in item:
            values.extend(_expand_range(axis, item))
        else:
            values.append(_number(axis, item))
    if not values:
        raise ValueError(f"{axis}: give at least one value")
    return tuple(dict.fromkeys(values))


@dataclass(frozen=True)
class SweepAxis:
    name: str
    """A key of variants.AXES."""
    values: tuple[Any, ...]

    def __post_init__(self) -> None:
        if self.name not in AXES:
            raise ValueError(f"unknown axis {self.name!r}; valid axes: {', '.join(AXES)}")
        if not self.values:
            raise ValueError(f"{self.name}: give at least one value")


def parse_axis(text: str) -> SweepAxis:
    """`name=values` as the CLI spells it, e.g. `cores=4,8,16` or `gb_kib=128:512:*2`."""
    name, sep, values = text.partition("=")
    if not sep:
        raise ValueError(f"axis {text!r} must look like name=v1,v2,... (e.g. cores=4,8,16)")
    return SweepAxis(name.strip(), parse_axis_values(name.strip(), values))
