"""Exact placement search for a fixed spatial unrolling and loop order.

With the loops fixed, an operand's placement is a path through its levels: which intermediate
levels it uses, where each used level's block of loops starts, and which of them are
double-buffered. Everything the cost model needs from one operand (its latency profile, its
memory energy, its global-buffer footprint) depends on that operand's path alone; operands
interact only through the max-plus latency recursion and the shared global-buffer capacity.

So the search tabulates, per operand, every legal path (`operand_options`), drops the ones another
path dominates in every respect (`pareto_options`: valid because latency and energy are
non-decreasing in every profile entry, energy and footprint), and then picks one path per operand:
exhaustively (`best_placement`, the fast evaluator: every combination is evaluated by
`latency.batch_latency`, the compiled recursion `cost_model.evaluate` runs) or with the MIP of
`mip.py`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np

from miredo_core.analysis import Boundary, loop_facts, make_boundary, resident_bits, temporal_tile
from miredo_core.cost_model import (
    OperandProfile,
    mac_energy_pj,
    operand_profile,
    operand_traffic,
    total_energy_pj,
    traffic_energy_pj,
)
from miredo_core.hardware import OPERAND_LEVELS, Axis, Hardware, Level
from miredo_core.kinds import OBJECTIVES
from miredo_core.latency import PROFILE_ROWS, batch_latency
from miredo_core.mapping import Loop, Mapping
from miredo_core.workload import DIMS, OPERANDS, Dim, Layer, Operand, is_relevant


@dataclass(frozen=True)
class PlacementOption:
    """One legal path of one operand through its levels, with what it costs."""

    operand: Operand
    levels: tuple[Level, ...]
    double_buffered: frozenset[Level]
    boundaries: tuple[Boundary, ...]
    profile: OperandProfile
    energy_pj: float
    """Memory energy of this operand (reads and writes at every level it uses)."""
    gb_bits: int
    """Global-buffer bits it occupies (double-buffered counts twice); 0 if it bypasses it."""


@dataclass(frozen=True)
class FixedOrder:
    """A spatial unrolling and a loop order: the part of a mapping the placement search keeps."""

    spatial: tuple[tuple[Axis, Dim, int], ...]
    loops: tuple[Loop, ...]

    @property
    def factors(self) -> list[int]:
        return [loop.factor for loop in self.loops]


def _paths(operand: Operand, loops: tuple[Loop, ...]):
    """Yield (starts, used_depths): the start slot of every used level below DRAM.

    Intermediate blocks are non-empty and hold a loop relevant to the operand (otherwise the
    level would only duplicate its child); the innermost block may be empty.
    """
    n = len(loops)
    innermost = len(OPERAND_LEVELS[operand]) - 1
    relevant = [is_relevant(operand, loop.dim) for loop in loops]
    for count in range(innermost):
        for depths in itertools.combinations(range(1, innermost), count):
            for starts in itertools.combinations(range(n + 1), count + 1):
                bounds = list(starts)
                if any(not any(relevant[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)):
                    continue
                yield tuple(starts), (*depths, innermost)


def can_double_buffer(hw: Hardware, level: Level) -> bool:
    """Whether a used level may be double-buffered: the buffers, and a ping-pong macro."""
    return level in (Level.GLOBAL_BUFFER, Level.INPUT_BUFFER, Level.OUTPUT_BUFFER) or (
        level is Level.MACRO and hw.macro.ping_pong
    )


def _double_buffer_choices(hw: Hardware, operand: Operand, used_depths) -> list[tuple[bool, ...]]:
    chain = OPERAND_LEVELS[operand]
    choices = []
    for depth in used_depths:
        eligible = can_double_buffer(hw, chain[depth])
        choices.append((False, True) if eligible else (False,))
    return list(itertools.product(*choices))


class PlacementCache:
    """Boundaries and latency profiles already built for one (hardware, layer, spatial
    unrolling), shared by the placement searches of many loop orders of it.

    A boundary is a function of its operand, its two levels, the temporal tile below the child's
    start and the facts the loops above it fix (trigger slot, firings, distinct tiles, partial
    sums: `analysis.loop_facts`), and a profile of the loop factors and a few facts of its
    boundaries (`latency.operand_profile`), so entries keyed by exactly those are valid for
    every order of the same spatial unrolling on the same hardware and layer. A search keeps
    one cache per spatial candidate (`heuristic.OrderSearch`); a cache must never be shared
    across spatial unrollings, layers or hardware.
    """

    def __init__(self) -> None:
        self.boundaries: dict[tuple, tuple[Boundary, float]] = {}
        self.profiles: dict[tuple, OperandProfile] = {}


def operand_options(
    hw: Hardware,
    layer: Layer,
    order: FixedOrder,
    operand: Operand,
    cache: PlacementCache | None = None,
) -> list[PlacementOption]:
    """Every legal placement of `operand` for the fixed order (capacity checked at every level
    but the shared global buffer, whose footprint is returned instead). `cache`: boundaries and
    profiles built for other orders of the same spatial unrolling (`PlacementCache`)."""
    chain = OPERAND_LEVELS[operand]
    factors = order.factors
    slots = range(len(order.loops))
    sizes = [hw.memory(level).size_bits for level in chain]
    cache = cache if cache is not None else PlacementCache()
    made, profiles = cache.boundaries, cache.profiles
    # The key of a boundary: what fixes it besides its levels (`analysis.loop_facts` and the
    # temporal tile below the child's start), per start slot.
    facts = [(*above, tuple(temporal_tile(order.loops, start)[d] for d in DIMS))
             for start, above in enumerate(loop_facts(order.loops, operand))]  # fmt: skip

    def boundary(parent: int, child: int, start: int, double: bool) -> tuple[Boundary, float]:
        key = (operand, parent, child, double, facts[start])
        entry = made.get(key)
        if entry is None:
            if double:
                # Only the flag differs: the geometry, the traffic and its energy do not.
                single, energy = boundary(parent, child, start, False)
                entry = (replace(single, double_buffered=True), energy)
            else:
                b = make_boundary(
                    hw, layer, order.spatial, order.loops, operand, parent, child, start, False
                )
                # Traffic, hence energy, adds up boundary by boundary.
                entry = (b, sum(traffic_energy_pj(hw, operand_traffic((b,))).values()))
            made[key] = entry
        return entry

    factor_key = tuple(factors)

    def profile(boundaries: tuple[Boundary, ...]) -> OperandProfile:
        # A profile depends on these facts of the boundaries alone (`latency.operand_profile`).
        key = (operand, factor_key,
               tuple((b.trigger, b.cycles, b.psum, b.double_buffered, b.firings)
                     for b in boundaries))  # fmt: skip
        found = profiles.get(key)
        if found is None:
            found = profiles[key] = operand_profile(boundaries, operand, factors)
        return found

    options = []
    doubling: dict[tuple, list] = {}
    for starts, depths in _paths(operand, order.loops):
        parents = (0, *depths[:-1])
        singles = [
            boundary(p, c, st, False) for p, c, st in zip(parents, depths, starts, strict=True)
        ]
        # Single-buffered tiles that already overflow a level rule out every variant of the path.
        if any(
            b.child_tile_elements * b.bits > sizes[c]
            for (b, _), c in zip(singles, depths, strict=True)
        ):
            continue
        # What one buffer half holds does not depend on which levels are double-buffered.
        resident = resident_bits(hw, {operand: tuple(b for b, _ in singles)})
        held = [resident[(b.child, operand)] for b, _ in singles]
        energy = sum(e for _, e in singles)
        # Slot i lies in the block of the last used level starting at or before it.
        levels, used = [], Level.DRAM
        for i in slots:
            for st, depth in zip(starts, depths, strict=True):
                if st == i:
                    used = chain[depth]
            levels.append(used)
        levels = tuple(levels)
        choices = doubling.get(depths)
        if choices is None:
            choices = doubling[depths] = [
                (doubles, frozenset(chain[d] for d, flag in zip(depths, doubles, strict=True)
                                    if flag))  # fmt: skip
                for doubles in _double_buffer_choices(hw, operand, depths)
            ]
        for doubles, doubled in choices:
            bits = [h * (2 if double else 1) for h, double in zip(held, doubles, strict=True)]
            if any(b > sizes[d] for b, d in zip(bits, depths, strict=True)):
                continue
            gb_bits = next(
                (b for b, (bd, _) in zip(bits, singles, strict=True)
                 if bd.child is Level.GLOBAL_BUFFER), 0
            )  # fmt: skip
            boundaries = tuple(
                boundary(p, c, st, double)[0]
                for p, c, st, double in zip(parents, depths, starts, doubles, strict=True)
            )
            options.append(
                PlacementOption(
                    operand=operand,
                    levels=levels,
                    double_buffered=doubled,
                    boundaries=boundaries,
                    profile=profile(boundaries),
                    energy_pj=energy,
                    gb_bits=gb_bits,
                )
            )
    return options


def _vectors(options: list[PlacementOption]) -> np.ndarray:
    return np.array(
        [
            [
                *o.profile.serial,
                *o.profile.channel,
                *o.profile.backlog,
                *o.profile.drained,
                *o.profile.floor,
                o.profile.cascade,
                o.energy_pj,
                o.gb_bits,
            ]
            for o in options
        ],
        dtype=float,
    )


#: Most comparisons (options x options in a block x entries) the Pareto filter holds at once.
PARETO_BLOCK_ENTRIES = 4_000_000


def pareto_options(options: list[PlacementOption]) -> list[PlacementOption]:
    """Drop every option that another option matches or beats in every entry of its profile,
    its energy and its global-buffer footprint (keeping one of exact duplicates).

    Options are visited by increasing sum of their entries, so anything that dominates an option
    is visited before it; an option is dropped only when a kept option is no worse everywhere
    (dominance is transitive, so checking the kept ones suffices)."""
    if len(options) <= 1:
        return options
    vectors = _vectors(options)
    n = len(options)
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(vectors.sum(axis=1), kind="stable")] = np.arange(n)
    # An option is dropped exactly when one visited before it is no worse everywhere: if that
    # one was dropped itself, a kept one before it is no worse than it, hence than this one.
    # Compared a block of options at a time, so memory stays bounded for long option lists.
    dropped = np.empty(n, dtype=np.bool_)
    block = max(1, PARETO_BLOCK_ENTRIES // (n * vectors.shape[1]))
    for start in range(0, n, block):
        part = slice(start, start + block)
        no_worse = np.all(vectors[:, None, :] <= vectors[None, part, :], axis=2)
        dropped[part] = np.any(no_worse & (rank[:, None] < rank[None, part]), axis=0)
    return [option for option, gone in zip(options, dropped, strict=True) if not gone]


#: Per-slot profile entries, in table row order (`latency.PROFILE_ROWS`).
PROFILE_FIELDS = PROFILE_ROWS


@dataclass(frozen=True)
class PlacementResult:
    mapping: Mapping
    latency_cycles: float
    energy_pj: float
    combinations: int
    """Operand combinations evaluated (after Pareto filtering)."""

    @property
    def edp_pj_cycles(self) -> float:
        return self.latency_cycles * self.energy_pj


def _combine(hw: Hardware, layer: Layer, order: FixedOrder, options, objective: str):
    """Evaluate every (I, W, O) combination that fits the global buffer; return the best."""
    opt_i, opt_w, opt_o = (options[op] for op in OPERANDS)
    shape = (len(opt_i), len(opt_w), len(opt_o))
    axes = {Operand.I: (slice(None), None, None), Operand.W: (None, slice(None), None),
            Operand.O: (None, None, slice(None))}  # fmt: skip

    def column(op, getter):
        values = np.array([getter(o) for o in options[op]], dtype=float)
        return values[axes[op]]

    passes = math.prod(order.factors)
    pass_cycles = hw.macro.pass_cycles(layer.input_bits)
    latency = batch_latency(
        order.factors, pass_cycles, {op: [o.profile for o in options[op]] for op in OPERANDS}
    )
    active_cores = math.prod(f for a, _, f in order.spatial if a is Axis.CORES)
    energy = total_energy_pj(
        sum(column(op, lambda o: o.energy_pj) for op in OPERANDS),
        mac_energy_pj(hw, layer, passes, active_cores),
        hw,
        latency,
    )
    gb = sum(column(op, lambda o: o.gb_bits) for op in OPERANDS)
    score = {"latency": latency, "energy": energy, "edp": latency * energy}[objective]
    score = np.where(np.broadcast_to(gb, shape) <= hw.global_buffer.size_bits, score, np.inf)
    best = np.unravel_index(int(np.argmin(score)), shape)
    if not np.isfinite(score[best]):
        return None
    chosen = {op: options[op][k] for op, k in zip(OPERANDS, best, strict=True)}
    return chosen, float(latency[best]), float(np.broadcast_to(energy, shape)[best]), score.size


def mapping_from_options(order: FixedOrder, chosen: dict[Operand, PlacementOption]) -> Mapping:
    return Mapping(
        spatial=order.spatial,
        loops=order.loops,
        placement=tuple(chosen[op].levels for op in OPERANDS),
        double_buffered=frozenset(
            (level, op) for op in OPERANDS for level in chosen[op].double_buffered
        ),
    )


def placement_options(
    hw: Hardware, layer: Layer, order: FixedOrder, cache: PlacementCache | None = None
):
    """Pareto-filtered options per operand for the fixed order (`cache`: see
    `operand_options`)."""
    return {op: pareto_options(operand_options(hw, layer, order, op, cache)) for op in OPERANDS}


def best_placement(
    hw: Hardware,
    layer: Layer,
    order: FixedOrder,
    objective: str = "latency",
    options=None,
    cache: PlacementCache | None = None,
) -> PlacementResult | None:
    """The optimal placement and double buffering for the fixed order, by evaluating every
    Pareto-optimal combination; None if no combination fits. `cache`: boundaries and profiles
    of other orders of the same spatial unrolling (`PlacementCache`)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    options = options or placement_options(hw, layer, order, cache)
    if any(not options[op] for op in OPERANDS):
        return None
    found = _combine(hw, layer, order, options, objective)
    if found is None:
        return None
    chosen, latency, energy, count = found
    return PlacementResult(mapping_from_options(order, chosen), latency, energy, count)
