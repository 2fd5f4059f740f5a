"""Static analysis of a mapping: its boundaries, tiles and resident bits (`analyze`).

`analyze` validates a mapping (`mapping.check_shape`, `mapping.check_placement`, then the
capacity of every level) and turns it into the facts both the analytical cost model and the
simulator start from: for every operand the chain of used levels and, for every boundary between
two consecutive used levels, the tile that crosses it, when it is re-sent, how long one transfer
takes and whether it carries partial sums.

Transfer trigger (data reuse). The tile of a child level v depends only on the indices of the loops
above v's loops that are relevant to the operand. It is re-sent each time the innermost such loop
(the boundary's *trigger slot*) iterates; irrelevant loops between that slot and v keep it
stationary. A boundary with no relevant loop above it is loaded once before compute (and, for
outputs, written back once after it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from miredo_core.hardware import AXES, AXIS_SOURCE_DEPTH, OPERAND_LEVELS, Axis, Hardware, Level
from miredo_core.mapping import (
    InfeasibleMappingError,
    Loop,
    Mapping,
    check_placement,
    check_shape,
    level_depth,
)
from miredo_core.workload import DIMS, OPERANDS, REDUCTION_DIMS, Dim, Layer, Operand, is_relevant


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
    trigger, firings, distinct, psum = loop_facts(loops, operand)[child_start]
    return tile_boundary(hw, layer, spatial, operand, parent_depth, child_depth,
                         temporal_tile(loops, child_start), trigger=trigger, firings=firings,
                         distinct_tiles=distinct, psum=psum,
                         double_buffered=double_buffered)  # fmt: skip


class LoopFacts(NamedTuple):
    """What the loops above a child's start fix about its boundary (`loop_facts`)."""

    trigger: int
    """Innermost slot above the start whose loop is relevant to the operand; -1 if none."""
    firings: int
    """Product of the factors of the slots up to the trigger."""
    distinct_tiles: int
    """Product of the factors of the relevant slots above the start."""
    psum: bool
    """An output boundary with a reduction loop above its trigger: its tiles are partial sums."""


def loop_facts(loops: tuple[Loop, ...], operand: Operand) -> list[LoopFacts]:
    """Per child start slot s (0 .. len(loops)), the facts of the operand's boundary whose
    child's loops start at s: with its two levels and the temporal tile below s, all a boundary
    depends on (`make_boundary`)."""
    facts = [LoopFacts(-1, 1, 1, False)]
    upto, reduction_above = 1, False
    for i, loop in enumerate(loops):
        upto *= loop.factor
        last = facts[-1]
        if is_relevant(operand, loop.dim):
            last = LoopFacts(i, upto, last.distinct_tiles * loop.factor,
                             operand is Operand.O and reduction_above)  # fmt: skip
        facts.append(last)
        reduction_above = reduction_above or loop.dim in REDUCTION_DIMS
    return facts


def _transfer(hw, layer, spatial, operand, parent_depth, child_depth, tile, psum):
    """(parent tile elements, child tile elements, element bits, cycles) of one firing."""
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
    return parent_elements, child_elements, bits, cycles


def transfer_cycles(hw: Hardware, layer: Layer, spatial, operand: Operand, parent_depth: int,
                    child_depth: int, tile: dict[Dim, int], psum: bool) -> int:  # fmt: skip
    """Cycles of one firing of the boundary `tile_boundary` describes (the same geometry),
    without building the boundary: for bounds that need only the time."""
    return _transfer(hw, layer, spatial, operand, parent_depth, child_depth, tile, psum)[3]


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
    parent_elements, child_elements, bits, cycles = _transfer(
        hw, layer, spatial, operand, parent_depth, child_depth, tile, psum
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
    depths = [level_depth(operand, level) for level in mapping.levels_of(operand)]
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
    check_shape(hw, layer, mapping)
    check_placement(hw, mapping)
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
