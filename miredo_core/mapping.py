"""Mappings (dataflows) of one layer onto the accelerator, their validation and static analysis.

A mapping is
- a spatial unrolling: a factor per (axis, dim) for the cores, macro rows and macro columns;
- an ordered list of temporal loops (dim, factor), outermost first; for every dim the product of
  its spatial and temporal factors equals the layer's dim exactly (nothing is padded);
- for every operand, the memory level each loop belongs to (monotone: outer loops sit in outer
  levels). Operands may cut the loop order at different places ("uneven" mapping). An
  intermediate level (global/input/output buffer) with no loop of an operand is bypassed by it;
  DRAM and the operand's innermost level (input register, macro, output register) are always used;
- the set of (level, operand) pairs that are double-buffered (ping-pong): half the capacity, but
  the next tile is transferred while the current one is used.

This module holds the mapping itself and the rules it must satisfy on its own (`check_shape`,
`check_placement`); `analysis.py` validates it against capacities and derives its boundaries
(`analyze`). The names moved there stay importable from here.

"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from miredo_core.hardware import (
    AXES,
    OPERAND_LEVELS,
    Axis,
    Hardware,
    Level,
)
from miredo_core.workload import (
    DIMS,
    OPERANDS,
    Dim,
    Layer,
    Operand,
    is_relevant,
)


class InfeasibleMappingError(ValueError):
    """A mapping that cannot run on the hardware; the message names the level, operand and
    numbers."""


@dataclass(frozen=True)
class Loop:
    dim: Dim
    factor: int


@dataclass(frozen=True)
class Mapping:
    """A dataflow. `placement[k]` lists, for operand OPERANDS[k], the level of every loop."""

    spatial: tuple[tuple[Axis, Dim, int], ...]
    loops: tuple[Loop, ...]
    placement: tuple[tuple[Level, ...], ...]
    double_buffered: frozenset[tuple[Level, Operand]] = field(default=frozenset())

    @classmethod
    def build(
        cls,
        spatial: dict[Axis | str, dict[Dim | str, int]],
        loops: list[tuple[Dim | str, int]],
        placement: dict[Operand | str, list[Level | str]],
        double_buffered: list[tuple[Level | str, Operand | str]] | None = None,
    ) -> Mapping:
        """Build from plain values (strings accepted for enums); factors of 1 are dropped from
        the spatial unrolling."""
        spatial_items = tuple(
            (Axis(axis), Dim(dim), int(factor))
            for axis, dims in spatial.items()
            for dim, factor in dims.items()
            if int(factor) != 1
        )
        return cls(
            spatial=tuple(
                sorted(spatial_items, key=lambda t: (AXES.index(t[0]), DIMS.index(t[1])))
            ),
            loops=tuple(Loop(Dim(d), int(f)) for d, f in loops),
            placement=tuple(
                tuple(Level(level) for level in placement.get(op, placement.get(op.value, [])))
                for op in OPERANDS
            ),
            double_buffered=frozenset(
                (Level(level), Operand(op)) for level, op in (double_buffered or [])
            ),
        )

    # ------------------------------------------------------------------ views
    def spatial_factor(self, axis: Axis, dim: Dim) -> int:
        return math.prod(f for a, d, f in self.spatial if a is axis and d is dim)

    def axis_product(self, axis: Axis) -> int:
        return math.prod(f for a, _, f in self.spatial if a is axis)

    def levels_of(self, operand: Operand) -> tuple[Level, ...]:
        return self.placement[OPERANDS.index(operand)]

    def temporal_product(self) -> int:
        return math.prod(loop.factor for loop in self.loops)

    # ---------------------------------------------------------- serialization
    def to_dict(self) -> dict:
        return {
            "spatial": {
                axis.value: {d.value: f for a, d, f in self.spatial if a is axis}
                for axis in AXES
                if any(a is axis for a, _, _ in self.spatial)
            },
            "loops": [[loop.dim.value, loop.factor] for loop in self.loops],
            "placement": {
                op.value: [level.value for level in self.levels_of(op)] for op in OPERANDS
            },
            "double_buffered": sorted(
                [level.value, op.value] for level, op in self.double_buffered
            ),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Mapping:
        known = {"spatial", "loops", "placement", "double_buffered"}
        unknown = sorted(set(data) - known) if isinstance(data, dict) else []
        if unknown:
            raise InfeasibleMappingError(
                f"malformed mapping description: unknown keys {unknown}; expected {sorted(known)}"
            )
        try:
            return cls.build(
                spatial=data.get("spatial", {}),
                loops=[tuple(item) for item in data.get("loops", [])],
                placement=data["placement"],
                double_buffered=[tuple(item) for item in data.get("double_buffered", [])],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InfeasibleMappingError(f"malformed mapping description: {exc}") from exc

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Mapping:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InfeasibleMappingError(f"mapping is not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    def describe(self) -> str:
        spatial = ", ".join(f"{a.value}:{d.value}{f}" for a, d, f in self.spatial) or "none"
        loops = " ".join(f"{loop.dim.value}{loop.factor}" for loop in self.loops) or "none"
        return f"spatial [{spatial}] loops [{loops}]"


def level_depth(operand: Operand, level: Level) -> int:
    """Index of `level` in the operand's chain of levels (0: DRAM)."""
    return OPERAND_LEVELS[operand].index(level)


def check_shape(hw: Hardware, layer: Layer, mapping: Mapping) -> None:
    problems = []
    for axis in AXES:
        dims = [d for a, d, _ in mapping.spatial if a is axis]
        bad = [d.value for d in dims if d not in hw.axis_dims(axis)]
        if bad:
            allowed = "".join(sorted(d.value for d in hw.axis_dims(axis)))
            problems.append(f"spatial axis {axis.value} cannot unroll {bad} (allowed: {allowed})")
        if mapping.axis_product(axis) > hw.axis_size(axis):
            problems.append(
                f"spatial axis {axis.value} unrolls {mapping.axis_product(axis)} "
                f"but has {hw.axis_size(axis)}"
            )
    for a, d, f in mapping.spatial:
        if f < 1:
            problems.append(f"spatial factor {a.value}:{d.value}={f} must be positive")
    for i, loop in enumerate(mapping.loops):
        if loop.factor < 2:
            problems.append(f"loop {i} ({loop.dim.value}) has factor {loop.factor}; use >= 2")
    for dim in DIMS:
        spatial = math.prod(mapping.spatial_factor(axis, dim) for axis in AXES)
        temporal = math.prod(loop.factor for loop in mapping.loops if loop.dim is dim)
        if spatial * temporal != layer.size(dim):
            problems.append(
                f"dim {dim.value}: spatial {spatial} x temporal {temporal} = "
                f"{spatial * temporal}, but the layer has {dim.value}={layer.size(dim)}"
            )
    if problems:
        raise InfeasibleMappingError("; ".join(problems))


def check_placement(hw: Hardware, mapping: Mapping) -> None:
    problems = []
    if len(mapping.placement) != len(OPERANDS):
        raise InfeasibleMappingError("placement must list the levels of I, W and O")
    for op in OPERANDS:
        levels = mapping.levels_of(op)
        if len(levels) != len(mapping.loops):
            problems.append(
                f"operand {op.value}: {len(levels)} levels for {len(mapping.loops)} loops"
            )
            continue
        bad = [lv.value for lv in levels if lv not in OPERAND_LEVELS[op]]
        if bad:
            allowed = ", ".join(lv.value for lv in OPERAND_LEVELS[op])
            problems.append(f"operand {op.value} cannot live in {bad} (allowed: {allowed})")
            continue
        depths = [level_depth(op, lv) for lv in levels]
        if any(a > b for a, b in zip(depths, depths[1:], strict=False)):
            problems.append(f"operand {op.value}: levels must not move outward along the loops")
        chain = OPERAND_LEVELS[op]
        for depth in range(1, len(chain) - 1):
            block = [mapping.loops[i] for i, d in enumerate(depths) if d == depth]
            if block and not any(is_relevant(op, loop.dim) for loop in block):
                problems.append(
                    f"operand {op.value} at {chain[depth].value} holds only loops irrelevant to "
                    f"it ({' '.join(loop.dim.value for loop in block)}), so it would duplicate "
                    f"the level below; place those loops one level up"
                )
    for level, op in mapping.double_buffered:
        chain = OPERAND_LEVELS[op]
        if level not in chain:
            problems.append(
                f"double buffer at {level.value} for {op.value}: {op.value} does not live there"
            )
        elif level is Level.DRAM or level in (Level.INPUT_REGISTER, Level.OUTPUT_REGISTER):
            problems.append(f"{level.value} cannot be double-buffered (asked for {op.value})")
        elif level is Level.MACRO and not hw.macro.ping_pong:
            problems.append("macro weights can be double-buffered only with a ping-pong macro")
        elif level is not chain[-1] and level not in mapping.levels_of(op):
            problems.append(f"double buffer at {level.value} for {op.value}, which bypasses it")
    if problems:
        raise InfeasibleMappingError("; ".join(problems))


#: Names `analysis.py` defines that older code imports from here.
_MOVED = frozenset({
    "Analysis", "Boundary", "analyze", "make_boundary", "operand_boundaries", "resident_bits",
    "temporal_tile", "tile_boundary", "validate",
})  # fmt: skip


def __getattr__(name: str):
    # Lazy: analysis.py imports this module, so an eager re-export would be circular.
    if name in _MOVED:
        from miredo_core import analysis

        return getattr(analysis, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
