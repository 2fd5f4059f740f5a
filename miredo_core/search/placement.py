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

import functools
import itertools
import math
from dataclasses import dataclass, replace

import numpy as np
from numba import njit

from miredo_core.analysis import Boundary, loop_facts, make_boundary, resident_bits
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


@functools.lru_cache(maxsize=4096)
def _path_table(operand: Operand, relevant: tuple[bool, ...]):
    """Every path of the operand through its levels for loops whose relevance to it is
    `relevant`: which levels below DRAM it uses and the start slot of each used level's block.
    Intermediate blocks are non-empty and hold a loop relevant to the operand (otherwise the
    level would only duplicate its child); the innermost block may be empty.

    Each path is (used depths, (parent depth, child depth, start slot) of every boundary, the
    level of every slot): a function of the relevance pattern alone, so many loop orders share
    one table."""
    n = len(relevant)
    chain = OPERAND_LEVELS[operand]
    innermost = len(chain) - 1
    # has[a][b]: a relevant loop in slots a .. b-1.
    upto = [0]
    for flag in relevant:
        upto.append(upto[-1] + flag)
    table = []
    for count in range(innermost):
        for depths in itertools.combinations(range(1, innermost), count):
            used = (*depths, innermost)
            parents = (0, *depths)
            for starts in itertools.combinations(range(n + 1), count + 1):
                if any(upto[b] == upto[a] for a, b in zip(starts, starts[1:], strict=False)):
                    continue
                # Slot i lies in the block of the last used level starting at or before it.
                levels, level, k = [], Level.DRAM, 0
                for i in range(n):
                    while k < len(starts) and starts[k] == i:
                        level, k = chain[used[k]], k + 1
                    levels.append(level)
                table.append((used, tuple(zip(parents, used, starts, strict=True)),
                              tuple(levels)))  # fmt: skip
    return tuple(table)


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
        self.boundaries: dict[tuple, tuple[Boundary, float, tuple, bool]] = {}
        """(boundary, memory energy, the facts a profile reads, overflows its level) by key."""
        self.profiles: dict[tuple, dict[tuple, OperandProfile]] = {}
        """By (operand, loop factors), then by the profile facts of the boundaries."""


def _suffix_tiles(loops: tuple[Loop, ...]) -> list[tuple[int, ...]]:
    """Per start slot s (0 .. len(loops)), `analysis.temporal_tile(loops, s)` as a tuple in
    `DIMS` order."""
    tile = dict.fromkeys(DIMS, 1)
    tiles = [tuple(tile.values())]
    for loop in reversed(loops):
        tile[loop.dim] *= loop.factor
        tiles.append(tuple(tile[d] for d in DIMS))
    tiles.reverse()
    return tiles


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
    sizes = [hw.memory(level).size_bits for level in chain]
    cache = cache if cache is not None else PlacementCache()
    made = cache.boundaries
    # Profiles of this operand under these loop factors, by the facts of their boundaries.
    profiles = cache.profiles.setdefault((operand, tuple(factors)), {})
    # The key of a boundary: what fixes it besides its levels (`analysis.loop_facts` and the
    # temporal tile below the child's start), per start slot.
    facts = [(*above, tile)
             for above, tile in zip(loop_facts(order.loops, operand), _suffix_tiles(order.loops),
                                    strict=True)]  # fmt: skip
    # This order's boundaries by (parent, child, start, double): many paths share each.
    here: dict[tuple[int, int, int, bool], tuple[Boundary, float, tuple]] = {}

    def boundary(parent: int, child: int, start: int, double: bool):
        """(boundary, its memory energy, the facts of it a profile depends on, whether its
        single-buffered tile overflows the child level)."""
        entry = here.get((parent, child, start, double))
        if entry is not None:
            return entry
        key = (operand, parent, child, double, facts[start])
        entry = made.get(key)
        if entry is None:
            if double:
                # Only the flag differs: the geometry, the traffic and its energy do not.
                single, energy, _, _ = boundary(parent, child, start, False)
                b = replace(single, double_buffered=True)
            else:
                b = make_boundary(
                    hw, layer, order.spatial, order.loops, operand, parent, child, start, False
                )
                # Traffic, hence energy, adds up boundary by boundary.
                energy = sum(traffic_energy_pj(hw, operand_traffic((b,))).values())
            # A profile depends on these facts of the boundaries alone (`operand_profile`);
            # a single-buffered tile that overflows its level rules out every path through it.
            entry = made[key] = (b, energy, (b.trigger, b.cycles, b.psum, b.double_buffered,
                                             b.firings),
                                 b.child_tile_elements * b.bits > sizes[child])  # fmt: skip
        here[(parent, child, start, double)] = entry
        return entry

    relevant = tuple(is_relevant(operand, loop.dim) for loop in order.loops)
    options = []
    doubling: dict[tuple, list] = {}
    for depths, spans, levels in _path_table(operand, relevant):
        plain = [boundary(p, c, st, False) for p, c, st in spans]
        if any(entry[3] for entry in plain):
            continue
        singles = [entry[0] for entry in plain]
        # What one buffer half holds does not depend on which levels are double-buffered.
        resident = resident_bits(hw, {operand: tuple(singles)})
        held = [resident[(b.child, operand)] for b in singles]
        energy = sum(entry[1] for entry in plain)
        gb = next((k for k, b in enumerate(singles) if b.child is Level.GLOBAL_BUFFER), None)
        choices = doubling.get(depths)
        if choices is None:
            choices = doubling[depths] = [
                (doubles, frozenset(chain[d] for d, flag in zip(depths, doubles, strict=True)
                                    if flag))  # fmt: skip
                for doubles in _double_buffer_choices(hw, operand, depths)
            ]
        for doubles, doubled in choices:
            bits = [h * 2 if double else h for h, double in zip(held, doubles, strict=True)]
            if any(b > sizes[d] for b, d in zip(bits, depths, strict=True)):
                continue
            entries = [
                boundary(*span, True) if double else entry
                for span, entry, double in zip(spans, plain, doubles, strict=True)
            ]
            boundaries = tuple(e[0] for e in entries)
            key = tuple(e[2] for e in entries)
            profile = profiles.get(key)
            if profile is None:
                profile = profiles[key] = operand_profile(boundaries, operand, factors)
            options.append(
                PlacementOption(
                    operand=operand,
                    levels=levels,
                    double_buffered=doubled,
                    boundaries=boundaries,
                    profile=profile,
                    energy_pj=energy,
                    gb_bits=0 if gb is None else bits[gb],
                )
            )
    return options


def _vectors(options: list[PlacementOption]) -> np.ndarray:
    """Per option: its profile's entries, cascade, energy and global-buffer footprint."""
    return np.array(
        [(*o.profile.entries, o.profile.cascade, o.energy_pj, o.gb_bits) for o in options],
        dtype=float,
    )


def pareto_options(options: list[PlacementOption]) -> list[PlacementOption]:
    """Drop every option that another option matches or beats in every entry of its profile,
    its energy and its global-buffer footprint (keeping one of exact duplicates)."""
    if len(options) <= 1:
        return options
    dropped = pareto_dropped(_vectors(options))
    return [option for option, gone in zip(options, dropped, strict=True) if not gone]


def pareto_dropped(vectors: np.ndarray) -> np.ndarray:
    """Per row of `vectors`: whether a row visited before it is <= it in every entry.

    Rows are visited by increasing sum of their entries (ties in row order), so anything that
    dominates a row is visited before it, and of exact duplicates the first is kept. A row is
    compared only with the rows kept so far: if an earlier row that was dropped itself is <=
    this one, a kept row before it is <= that row, hence <= this one (dominance is transitive)."""
    order = np.argsort(vectors.sum(axis=1), kind="stable")
    return _dropped(np.ascontiguousarray(vectors, dtype=np.float64), order)


@njit(cache=True)
def _dropped(vectors, order):
    n, width = vectors.shape
    dropped = np.zeros(n, dtype=np.bool_)
    kept = np.empty(n, dtype=np.int64)
    count = 0
    for j in order:
        for t in range(count):
            i = kept[t]
            no_worse = True
            for k in range(width):
                if vectors[i, k] > vectors[j, k]:
                    no_worse = False
                    break
            if no_worse:
                dropped[j] = True
                break
        if not dropped[j]:
            kept[count] = j
            count += 1
    return dropped


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
