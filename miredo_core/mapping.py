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

`analyze` turns a valid mapping into the facts both the analytical cost model and the simulator
start from: for every operand the chain of used levels and, for every boundary between two
consecutive used levels, the tile that crosses it, when it is re-sent, how long one transfer takes
and whether it carries partial sums.

Transfer trigger (data reuse). The tile of a child level v depends only on the indices of the loops
above v's loops that are relevant to the operand. It is re-sent each time the innermost such loop
(the boundary's *trigger slot*) iterates; irrelevant loops between that slot and v keep it
stationary. A boundary with no relevant loop above it is loaded once before compute (and, for
outputs, written back once after it).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from miredo_core.hardware import (
    AXES,
    AXIS_SOURCE_DEPTH,
    OPERAND_LEVELS,
    Axis,
    Hardware,
    Level,
)
from miredo_core.workload import (
    DIMS,
    OPERANDS,
    REDUCTION_DIMS,
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


@dataclass(frozen=True)
class Boundary:
    """Data movement between two consecutive used levels of one operand.

    For I and W data flows down (parent -> child); for O the child's tile is written back up
    and, when it holds partial sums that are revisited, first read down again.
    """

    operand: Operand
    parent: Level
    child: Level
    trigger: int
    """Slot whose every iteration re-sends the tile; -1: sent once (before compute for I/W,
    after compute for O)."""
    firings: int
    """How often the tile crosses the boundary during the layer."""
    distinct_tiles: int
    """How many different child tiles cross it (firings minus revisits)."""
    parent_tile_elements: int
    """Elements one parent instance sends (or receives) per firing, for all its children."""
    child_tile_elements: int
    """Elements one child instance receives (or sends) per firing."""
    parent_instances: int
    child_instances: int
    bits: int
    """Bits per element crossing the boundary (psum width when partial)."""
    psum: bool
    """Output tiles are revisited later (a reduction loop sits above the trigger), so every
    firing reads the partial sums down and writes them back."""
    double_buffered: bool
    """The child level is double-buffered for this operand."""
    cycles: int
    """Cycles of one one-way transfer: the slower of the parent's port (all its children's
    data) and each child's port."""

    @property
    def passes(self) -> int:
        """One-way transfers per firing (2 for a psum read plus write-back)."""
        return 2 if self.psum else 1


@dataclass(frozen=True)
class Analysis:
    layer: Layer
    mapping: Mapping
    pass_cycles: int
    """t_MAC: cycles of one bit-serial pass of the array."""
    passes: int
    """Bit-serial passes per core (product of the temporal factors)."""
    boundaries: dict[Operand, tuple[Boundary, ...]]
    """Per operand, outermost boundary first."""
    resident_bits: dict[tuple[Level, Operand], int]
    """Bits one instance of a used level holds for an operand (one buffer half)."""
    active_cores: int
    spatial_utilization: float

    def slot_boundary(self, operand: Operand, slot: int) -> Boundary | None:
        for boundary in self.boundaries[operand]:
            if boundary.trigger == slot:
                return boundary
        return None


# ---------------------------------------------------------------------- analysis


def _depth(operand: Operand, level: Level) -> int:
    return OPERAND_LEVELS[operand].index(level)


def _extent(
    spatial: tuple[tuple[Axis, Dim, int], ...],
    tile: dict[Dim, int],
    operand: Operand,
    depth: int,
) -> dict[Dim, int]:
    """Per-dim extent of the tile one instance of the operand's level at `depth` holds when the
    temporal loops at or below it span `tile`: those temporal extents times the spatial factors
    of every axis this level spans."""
    extent = dict.fromkeys(DIMS, 1)
    extent.update(tile)
    for axis, dim, factor in spatial:
        if depth <= AXIS_SOURCE_DEPTH[axis][operand]:
            extent[dim] *= factor
    return extent


def temporal_tile(loops: tuple[Loop, ...], start: int) -> dict[Dim, int]:
    """Per-dim product of the factors of the loops from slot `start` inward."""
    tile = dict.fromkeys(DIMS, 1)
    for loop in loops[start:]:
        tile[loop.dim] *= loop.factor
    return tile


def _instances(spatial: tuple[tuple[Axis, Dim, int], ...], operand: Operand, depth: int) -> int:
    """Active instances of the operand's level at `depth` (replicated along the axes above it)."""
    return math.prod(
        factor for axis, _, factor in spatial if depth > AXIS_SOURCE_DEPTH[axis][operand]
    )


def _check_shape(hw: Hardware, layer: Layer, mapping: Mapping) -> None:
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


def _check_placement(hw: Hardware, mapping: Mapping) -> None:
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
        depths = [_depth(op, lv) for lv in levels]
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


def make_boundary(
    hw: Hardware,
    layer: Layer,
    spatial: tuple[tuple[Axis, Dim, int], ...],
    loops: tuple[Loop, ...],
    operand: Operand,
    parent_depth: int,
    child_depth: int,
    child_start: int,
    double_buffered: bool,
) -> Boundary:
    """The boundary between the operand's used levels at `parent_depth` and `child_depth`
    (every level between them bypassed), the child's loops starting at slot `child_start`.

    Everything about a boundary follows from these arguments alone, which lets a search tabulate
    boundaries once per loop order and compose placements from them.
    """
    relevant = [i for i in range(child_start) if is_relevant(operand, loops[i].dim)]
    trigger = max(relevant) if relevant else -1
    return tile_boundary(
        hw,
        layer,
        spatial,
        operand,
        parent_depth,
        child_depth,
        temporal_tile(loops, child_start),
        trigger=trigger,
        firings=math.prod(loops[i].factor for i in range(trigger + 1)),
        distinct_tiles=math.prod(loops[i].factor for i in relevant),
        psum=operand is Operand.O and any(loops[i].dim in REDUCTION_DIMS for i in range(trigger)),
        double_buffered=double_buffered,
    )


def tile_boundary(
    hw: Hardware,
    layer: Layer,
    spatial: tuple[tuple[Axis, Dim, int], ...],
    operand: Operand,
    parent_depth: int,
    child_depth: int,
    tile: dict[Dim, int],
    *,
    trigger: int,
    firings: int,
    distinct_tiles: int,
    psum: bool,
    double_buffered: bool,
) -> Boundary:
    """A boundary from the temporal extents `tile` of the child's loops and the facts that
    depend on the loops above it (trigger slot, firings, distinct tiles, partial sums).

    `make_boundary` derives those facts from a loop order; a search that builds the tile chain
    itself (`search/certify.py`) supplies them directly, so both share the transfer geometry."""
    chain = OPERAND_LEVELS[operand]
    if operand is Operand.O:
        bits = hw.macro.psum_bits if psum else layer.output_bits
    else:
        bits = layer.precision_bits(operand)
    parent_elements = layer.tile_elements(operand, _extent(spatial, tile, operand, parent_depth))
    child_elements = layer.tile_elements(operand, _extent(spatial, tile, operand, child_depth))
    parent = hw.memory(chain[parent_depth])
    child = hw.memory(chain[child_depth])
    if operand is Operand.O:  # written back up: child reads, parent writes
        parent_bw, child_bw = parent.write_bw_bits_per_cycle, child.read_bw_bits_per_cycle
    else:
        parent_bw, child_bw = parent.read_bw_bits_per_cycle, child.write_bw_bits_per_cycle
    cycles = max(
        math.ceil(parent_elements * bits / parent_bw),
        math.ceil(child_elements * bits / child_bw),
        1,
    )
    return Boundary(
        operand=operand,
        parent=chain[parent_depth],
        child=chain[child_depth],
        trigger=trigger,
        firings=firings,
        distinct_tiles=distinct_tiles,
        parent_tile_elements=parent_elements,
        child_tile_elements=child_elements,
        parent_instances=_instances(spatial, operand, parent_depth),
        child_instances=_instances(spatial, operand, child_depth),
        bits=bits,
        psum=psum,
        double_buffered=double_buffered,
        cycles=cycles,
    )


def operand_boundaries(
    hw: Hardware, layer: Layer, mapping: Mapping, operand: Operand
) -> tuple[Boundary, ...]:
    """The operand's boundaries between consecutive used levels, outermost first."""
    chain = OPERAND_LEVELS[operand]
    depths = [_depth(operand, level) for level in mapping.levels_of(operand)]
    used = sorted({0, len(chain) - 1, *depths})
    result = []
    for parent_depth, child_depth in zip(used, used[1:], strict=False):
        child_start = sum(1 for d in depths if d < child_depth)
        result.append(
            make_boundary(
                hw,
                layer,
                mapping.spatial,
                mapping.loops,
                operand,
                parent_depth,
                child_depth,
                child_start,
                (chain[child_depth], operand) in mapping.double_buffered,
            )
        )
    return tuple(result)


def resident_bits(hw: Hardware, boundaries) -> dict[tuple[Level, Operand], int]:
    """Bits one instance of each used level holds for each operand (one buffer half).

    An output level holds psum-width data when partial sums enter it (it is revisited) or
    leave it (it accumulates what its child sends up); the output register always does.
    """
    resident = {}
    for operand, chain in boundaries.items():
        for k, boundary in enumerate(chain):
            bits = boundary.bits
            if operand is Operand.O:
                below = chain[k + 1] if k + 1 < len(chain) else None
                partial = boundary.psum or (below is not None and below.psum)
                if partial or boundary.child is Level.OUTPUT_REGISTER:
                    bits = hw.macro.psum_bits
            resident[(boundary.child, operand)] = boundary.child_tile_elements * bits
    return resident


def _check_capacity(hw: Hardware, layer: Layer, mapping: Mapping, resident) -> None:
    problems = []
    if layer.weight_bits > hw.macro.weight_bits:
        problems.append(
            f"layer {layer.name!r} has {layer.weight_bits}-bit weights but the macro cells hold "
            f"{hw.macro.weight_bits}-bit weights"
        )
    dram_bits = sum(layer.operand_bits(op) for op in OPERANDS)
    if dram_bits > hw.dram.size_bits:
        problems.append(
            f"dram: the layer needs {dram_bits:,} bits, {hw.dram.size_bits:,} available"
        )
    for level in Level:
        if level is Level.DRAM:
            continue
        entries = [
            (op, bits * (2 if (level, op) in mapping.double_buffered else 1))
            for (lv, op), bits in resident.items()
            if lv is level
        ]
        needed = sum(bits for _, bits in entries)
        available = hw.memory(level).size_bits
        if needed > available:
            detail = ", ".join(
                f"{op.value} {bits:,}"
                + (" (double-buffered)" if (level, op) in mapping.double_buffered else "")
                for op, bits in entries
            )
            problems.append(
                f"capacity exceeded at {level.value}: {needed:,} bits needed ({detail}), "
                f"{available:,} available per instance"
            )
    if problems:
        raise InfeasibleMappingError("; ".join(problems))


def analyze(hw: Hardware, layer: Layer, mapping: Mapping) -> Analysis:
    """Validate `mapping` for `layer` on `hw` and derive its boundaries.

    Raises InfeasibleMappingError listing every violated rule with its numbers.
    """
    _check_shape(hw, layer, mapping)
    _check_placement(hw, mapping)
    boundaries = {op: operand_boundaries(hw, layer, mapping, op) for op in OPERANDS}
    resident = resident_bits(hw, boundaries)
    _check_capacity(hw, layer, mapping, resident)
    total_pes = hw.cores * hw.macro.rows * hw.macro.columns
    return Analysis(
        layer=layer,
        mapping=mapping,
        pass_cycles=hw.macro.pass_cycles(layer.input_bits),
        passes=mapping.temporal_product(),
        boundaries=boundaries,
        resident_bits=resident,
        active_cores=mapping.axis_product(Axis.CORES),
        spatial_utilization=math.prod(mapping.axis_product(a) for a in AXES) / total_pes,
    )


def validate(hw: Hardware, layer: Layer, mapping: Mapping) -> None:
    """Raise InfeasibleMappingError if the mapping cannot run; return None otherwise."""
    analyze(hw, layer, mapping)
