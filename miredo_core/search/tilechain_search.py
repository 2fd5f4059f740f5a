"""The exact branch and bound over the tile chain of one spatial candidate.

The search builds a mapping from the innermost loop outward. A node is a *partial mapping*: the
temporal tile below the current position (the per-dim product of the loops placed so far), and
for every operand the level its current block belongs to and the boundary still waiting for its
trigger. Adding a loop may first *cut* an operand's block (its level is closed and the next loops
belong to an outer level, any intermediate levels bypassed, the closed level double-buffered or
not); a loop relevant to an operand with a waiting boundary is that boundary's trigger slot.

Inner to outer is the direction in which every fact of the cost model becomes known:
- a boundary's tile is fixed when its child level is closed; between the cut and the trigger only
  loops irrelevant to the operand follow, so the tile (hence the transfer geometry) is still the
  same at the trigger, where the loops above it are exactly the ones not placed yet: firings,
  distinct tiles and whether partial sums are revisited follow from the remaining factors;
- the latency recursion of `cost_model.latency_from_profiles` runs from the innermost slot out.
  Its per-slot profile entries (`cost_model.OperandProfile`) depend only on the transfers at and
  inside the slot, through a few running sums carried as *labels*:
    E, Ep                 full and path duration of one entry into the current slot;
    S_o                   all of o's transfer times inside (the suffix sum);
    C_o                   I/W: the chain (sum of transfers from the innermost-outward first
                          single-buffered one inward); O: the sum of single-buffered write-backs;
    (W, B) per double-buffered boundary of o: its work per iteration of the next slot out
                          (X times the loops in between) and that work minus one transfer X;
    cascade_o             sum of the cycles of o's boundaries resolved so far;
    FL_o                  the largest whole-layer channel floor term of o so far (work plus
                          E at the trigger plus the cycles of the boundaries above it so far);
    energy, gb            memory energy and global-buffer bits of the resolved boundaries.
  The final latency is max(max(cascade_I, cascade_W) + E + cascade_O, FL_I + cascade_O,
  FL_W + cascade_O, max(cascade_I, cascade_W) + FL_O): `latency_from_profiles` exactly.

Every step of the recursion is a composition of max, + and multiplication by positive loop
factors of the labels (B enters through B + (F-1) W, never subtracted), so the final latency and
energy are non-decreasing in every label. Two consequences make the search exact and fast:

Dominance. Two partial mappings with the same tile and the same per-operand state (level, waiting
boundary, double buffering of the waiting boundary, partial-sum state of the last output
boundary) have the same set of completions, and each completion costs no less on the one whose
labels are all at least the other's. Only undominated label vectors are expanded. A node is
compared with the stored vectors of its key only; the store keeps at most `STORE_ROWS` vectors
and each key at most `_tilechain.KEY_LABELS`, beyond which new vectors are compared but not
stored: a node dropped is always dominated by a stored one, so the search stays exact.

Completion bound (proof). Let M be the product of the factors not placed yet. Every later slot j
has serial(j) >= c* = max(C_I, C_W, C_O): I/W chains and the O single-buffered sum never shrink
outward (a single-buffered transfer's chain is X + S >= C), and serial(j) is at least each
operand's chain. So each later slot multiplies the durations as
    Ep' >= F Ep + (F - 1) c*,   E' >= F E,   E' >= Ep'   (E >= Ep by induction).
Unrolled, Ep(0) = M Ep + sum over later slots j of m_j (F_j - 1) serial(j), m_j being the entries
into slot j. A single-buffered boundary of o still waiting for its trigger adds to this: its
trigger t comes after loops irrelevant to o only, so the loops at and outside t multiply to at
least D = distinct[o, tile] (the remaining factors relevant to o), the slots at and outside t
carry sum m_j (F_j - 1) = (product of those loops) - 1 >= D - 1, and each of them has
serial >= X + S_o (I/W; X + C_O for outputs), X being the boundary's transfer time without
partial sums (the smallest it can be). Hence
    E(0) >= max(M E, M Ep + (M - 1) c* + max over such o of (D - 1)(X + S_o - c*)+).
Cascades and FL only grow, so
    latency >= max(max(cascade_I, cascade_W) + E0 + cascade_O, FL terms, floor of the candidate).

Cascades ahead (proof). The boundaries of o not resolved yet add their cycles to cascade_o and
to FL_o (`_tilechain._resolve` adds a boundary's cycles to both before any max), so the final
cascade_o and FL_o are at least the current ones plus A_o, a lower bound on the cycles of those
boundaries. Let l be the level of o's current block and T the current tile. A waiting boundary
(l -> its child) resolves with the tile it has now: only loops irrelevant to o come before its
trigger, and the transfer depends on the relevant extents only. Every mapping then ends o's
chain at DRAM: unless l is DRAM, a boundary p -> l with p above l follows, then one into p, and
so on up to DRAM (the end of the search resolves what is left straight into DRAM, one such
chain). Each of those boundaries has as child a level whose block holds every loop placed so
far, so its child tile is at least T in every dim, and a boundary's cycles never fall as its
tile grows (more elements on both sides, inputs' halos included). So
    A_o >= [cycles of the waiting boundary, if any] + chains[o, l, T],
where chains[o, l, T] is the fewest cycles of any chain of boundaries from l up to DRAM, each
taken at tile T (a shortest path over the levels, computed once per candidate; outputs at the
cheaper of their two widths, as partial sums or final values). Hence
    latency >= max(max(cascade_I + A_I, cascade_W + A_W) + E0 + cascade_O + A_O,
                   FL_I + A_I + cascade_O + A_O, FL_W + A_W + cascade_O + A_O,
                   max(cascade_I + A_I, cascade_W + A_W) + FL_O + A_O).
Energy adds its non-negative memory energy so far; for every operand whose DRAM boundary is not
resolved yet, the energy of moving all its data across DRAM once (that boundary will carry at
least that); the MAC energy of the candidate (a constant); and leakage times the latency bound.
A node whose bound is not below the pruning threshold has no completion below it.

Search order. Depth first; the children of a node are generated together and visited best bound
first, so good partial mappings are stored early (and dominate later ones) and improving leaves
come sooner.

Certificate. With an incumbent of value U and tolerance tol, nodes whose bound is at least the
threshold (1 - tol) U are pruned. Bounds never fall with depth: a child's bound is the larger of
its own and its parent's (its completions are some of its parent's, so both bound them).

Anytime bound (proof). Stop the search at any node: by its node budget (which depends only on
the inputs), by a cancel request or by a deadline. Let U be the best value at that moment,
P the smallest bound of a node pruned by the threshold, and O the smallest bound of the nodes
left open: the node being entered and, at every depth of the DFS stack, the child being visited
(children are visited in increasing bound order, so it has the smallest bound of those not
visited yet). Claim: every mapping of the candidate costs at least
    LB = min(U, P, O).
Take a complete mapping; follow its path from the root. Either
- the path reaches a leaf that was evaluated: it costs at least the incumbent of that moment,
  which is at least U (the incumbent only falls);
- the path passes a node pruned by its bound: it costs at least that bound >= P;
- the path passes a node left open (on the stack or a child not visited at some stack depth,
  or a node below one of those): it costs at least that open node's bound >= O (bounds never
  fall with depth);
- the path passes a node N dropped by dominance: a stored node D with the same tile and operand
  states has labels <= N's, so the same completion costs no more from D. D is not an ancestor
  of N (tiles grow strictly with depth) and was entered before N, so D's subtree was finished
  before N was met, hence before the stop (nothing is entered after it): the classic argument
  applies to D's completion, by induction on the time nodes were finished.
The candidate's floor bound (`spatial`) holds as well, so the reported bound is the larger of
the two. It never falls as the node budget grows: a search with a larger budget repeats the
smaller one's steps exactly (same inputs, same order) and then goes on; every node pruned or
left open later lies below a node open at the smaller budget, so its bound is at least that
node's (monotone bounds along paths), and a later incumbent is a mapping of the candidate,
which costs at least the earlier bound.

A search that runs to the end leaves nothing open: every mapping of the candidate was either
evaluated (the incumbent is the best of them), pruned by dominance, or lies below a node pruned
with a bound >= the threshold, so its optimum is at least min(U, P) >= min(U, (1 - tol) U).
With tol = 0 the search is exact.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field

import numpy as np
from numba import typed, types

from miredo_core.cost_model import (
    boundary_traffic,
    firing_cycles,
    mac_energy_pj,
    traffic_energy_pj,
)
from miredo_core.hardware import OPERAND_LEVELS, Axis, Hardware, Level
from miredo_core.kinds import OBJECTIVES
from miredo_core.mapping import Loop, Mapping, resident_bits, tile_boundary
from miredo_core.search import _tilechain as kernel
from miredo_core.search.factors import divisors, prime_factors
from miredo_core.search.placement import can_double_buffer
from miredo_core.search.spatial import SpatialCandidate, dram_floor_energy_pj
from miredo_core.search.stopping import NEVER, StopSignal
from miredo_core.workload import OPERANDS, REDUCTION_DIMS, Layer, Operand, is_relevant

_O = 2  # index of the output operand in OPERANDS
#: Label vectors the dominance store keeps per search (beyond it, labels are still checked
#: against the stored ones but no longer stored: the search stays exact, only prunes less).
STORE_ROWS = 1_500_000


@dataclass
class CertifyResult:
    """Outcome of certifying one spatial candidate."""

    complete: bool
    """The search ran to the end (nothing left open)."""
    lower_bound: float
    """Proven lower bound of the candidate's objective, also when the search stopped early (the
    anytime bound of the module docstring)."""
    best_value: float
    """Best objective found (the incumbent passed in, unless the search beat it)."""
    mapping: Mapping | None = None
    """The mapping that beat the incumbent, if any."""
    nodes: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    """Stopped by a cancel request or a deadline (not by its node budget)."""
    stats: dict = field(default_factory=dict)


class TileChainSearch:
    """Tabulates one spatial candidate for the compiled branch and bound and runs it."""

    def __init__(self, hw: Hardware, layer: Layer, cand: SpatialCandidate, objective: str):
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}; choose one of {OBJECTIVES}")
        self.hw, self.layer, self.cand, self.objective = hw, layer, cand, objective
        self.dims = [d for d, _ in cand.temporal]
        self.tu = tuple(size for _, size in cand.temporal)
        self.total = math.prod(self.tu)
        self.max_depth = sum(len(prime_factors(size)) for size in self.tu)
        self._tabulate()

    # ------------------------------------------------------------ tabulation
    def _tabulate(self) -> None:
        hw, layer, cand = self.hw, self.layer, self.cand
        divs = [divisors(size) for size in self.tu]
        radix = [len(d) for d in divs]
        n_tiles = math.prod(radix)
        tiles = list(itertools.product(*(range(r) for r in radix)))  # mixed radix, last fastest
        strides = [math.prod(radix[k + 1 :]) for k in range(len(radix))]
        self.tiles = [tuple(divs[k][i] for k, i in enumerate(t)) for t in tiles]
        relevant = np.array([[is_relevant(op, d) for d in self.dims] for op in OPERANDS],
                            dtype=np.bool_).reshape(3, len(self.dims))  # fmt: skip
        reduction = [d in REDUCTION_DIMS for d in self.dims]
        tile_prod = np.array([math.prod(t) for t in self.tiles], dtype=np.float64)
        psum_above = np.array(
            [any(r and size // e > 1 for r, size, e in zip(reduction, self.tu, t, strict=True))
             for t in self.tiles], dtype=np.bool_)  # fmt: skip
        distinct = np.ones((3, n_tiles))
        for o in range(3):
            for t, tile in enumerate(self.tiles):
                distinct[o, t] = math.prod(
                    size // e for size, e, r in zip(self.tu, tile, relevant[o], strict=True) if r
                )
        # Loops that can be added outside each tile.
        start, ks, fs, to = [0], [], [], []
        for t, index in enumerate(tiles):
            for k in range(len(self.dims)):
                here = divs[k][index[k]]
                for j in range(index[k] + 1, radix[k]):
                    if divs[k][j] % here == 0:
                        ks.append(k)
                        fs.append(divs[k][j] // here)
                        to.append(t + (j - index[k]) * strides[k])
            start.append(len(ks))
        self.trans = (np.array(start, dtype=np.int64), np.array(ks, dtype=np.int64),
                      np.array(fs, dtype=np.float64), np.array(to, dtype=np.int64))  # fmt: skip
        depths = [len(OPERAND_LEVELS[op]) - 1 for op in OPERANDS]
        geo = np.zeros((3, 4, 4, 2, n_tiles, 4))
        resident = np.zeros((3, 4, 2, n_tiles))
        cache: dict = {}
        for o, op in enumerate(OPERANDS):
            for t, tile in enumerate(self.tiles):
                rel = tuple(e if r else 1 for e, r in zip(tile, relevant[o], strict=True))
                for child in range(1, depths[o] + 1):
                    for parent in range(child):
                        for psum in (False, True) if o == _O else (False,):
                            key = (o, parent, child, rel, psum)
                            if key not in cache:
                                cache[key] = self._geometry(op, parent, child, rel, psum)
                            cycles, fire, e_fire, e_revisit, bits = cache[key]
                            geo[o, parent, child, int(psum), t] = (cycles, fire, e_fire, e_revisit)
                            # Outputs hold psum-width data when partial sums enter or leave the
                            # level; a boundary built with partial sums gives that width.
                            if o == _O:
                                resident[o, child, int(psum), t] = bits
                            else:
                                resident[o, child, :, t] = bits
        # chains[o, l, t]: the fewest cycles of a chain of boundaries from level l up to DRAM
        # whose child tiles are all tile t (proof in the module docstring, "cascades ahead").
        chains = np.zeros((3, 4, n_tiles))
        for o in range(3):
            widths = 2 if o == _O else 1
            for child in range(1, depths[o] + 1):
                into = geo[o, :child, child, :widths, :, 0].min(axis=1)
                chains[o, child] = (into + chains[o, :child]).min(axis=0)
        sizes = np.zeros((3, 4))
        eligible = np.zeros((3, 4), dtype=np.bool_)
        db_col = -np.ones((3, 4), dtype=np.int64)
        col = kernel.L_DB
        for o, op in enumerate(OPERANDS):
            for depth, level in enumerate(OPERAND_LEVELS[op]):
                sizes[o, depth] = hw.memory(level).size_bits
                eligible[o, depth] = depth > 0 and can_double_buffer(hw, level)
                if eligible[o, depth]:
                    db_col[o, depth] = col
                    col += 2
        self.width = col
        gb_depth = OPERAND_LEVELS[Operand.I].index(Level.GLOBAL_BUFFER)
        assert all(OPERAND_LEVELS[op][gb_depth] is Level.GLOBAL_BUFFER for op in OPERANDS)
        self.tables = (tile_prod, psum_above, distinct, relevant, geo, resident, sizes, db_col,
                       gb_depth, chains)  # fmt: skip
        self.eligible = eligible
        cores = math.prod(f for a, _, f in cand.spatial if a is Axis.CORES)
        self.params = np.array([
            float(self.total),
            cand.latency_bound_cycles,
            mac_energy_pj(hw, layer, self.total, cores),
            hw.leakage_pj_per_cycle,
            float(hw.global_buffer.size_bits),
            float(OBJECTIVES.index(self.objective)),
            *(dram_floor_energy_pj(hw, layer, op) for op in OPERANDS),
        ])  # fmt: skip
        skip = {kernel.L_ENERGY} if self.objective == "latency" else set()
        first = [c for c in kernel.DECIDING_COLUMNS if c not in skip]
        self.cols = np.array(
            first + [c for c in range(self.width) if c not in skip and c not in first],
            dtype=np.int64,
        )

    def _geometry(self, op: Operand, parent: int, child: int, rel: tuple, psum: bool):
        """(cycles, firing cycles, pJ per firing, pJ per revisit, resident bits of one child
        instance) of one boundary, from the cost model's and the mapping's own functions."""
        b = tile_boundary(
            self.hw, self.layer, self.cand.spatial, op, parent, child,
            dict(zip(self.dims, rel, strict=True)),
            trigger=0, firings=1, distinct_tiles=1, psum=psum, double_buffered=False,
        )  # fmt: skip
        per_firing = sum(traffic_energy_pj(self.hw, boundary_traffic(b, 1, 0)).values())
        per_revisit = sum(traffic_energy_pj(self.hw, boundary_traffic(b, 0, 1)).values())
        bits = resident_bits(self.hw, {op: (b,)})[(b.child, op)]
        return b.cycles, firing_cycles(b), per_firing, per_revisit, bits

    # ----------------------------------------------------------------- search
    def run(
        self,
        upper: float,
        tolerance: float,
        deadline: float = math.inf,
        node_limit: float = math.inf,
        stop: StopSignal = NEVER,
    ) -> CertifyResult:
        """Search until done, `node_limit` nodes, `deadline` (time.monotonic()) or `stop()`."""
        start = time.monotonic()
        depth = self.max_depth + 2
        labs = np.zeros((depth, self.width))
        labs[0, kernel.L_E] = labs[0, kernel.L_EP] = self.hw.macro.pass_cycles(
            self.layer.input_bits
        )
        opss = np.zeros((depth, 3, 4), dtype=np.int64)
        for o, op in enumerate(OPERANDS):
            opss[0, o] = (len(OPERAND_LEVELS[op]) - 1, -1, 0, 0)
        cut_ops = np.zeros((depth, 3, 4), dtype=np.int64)
        choices = np.zeros((depth, 3, kernel.MAX_CHOICES, 4), dtype=np.int64)
        store = np.empty((STORE_ROWS * kernel.ROWS_PER_LABEL, len(self.cols)))
        seg = np.empty((STORE_ROWS, 3), dtype=np.int64)
        index = typed.Dict.empty(types.int64, types.int64)
        state = self._state(upper, tolerance, deadline, node_limit, stop)
        path_k = np.zeros(depth, dtype=np.int64)
        path_f = np.zeros(depth)
        path_ops = np.zeros((depth, 3, 4), dtype=np.int64)
        best_k, best_f, best_ops = path_k.copy(), path_f.copy(), path_ops.copy()
        best_final = np.zeros((3, 4), dtype=np.int64)
        floor = self.cand.bound(self.objective)
        hook, kernel.STOP_HOOK[0] = kernel.STOP_HOOK[0], stop if stop.can_stop else None
        try:
            kernel._expand(floor, labs, opss, cut_ops, self.tables, self.trans,
                           self.params, self.cols, choices, index, store, seg, state, path_k,
                           path_f, path_ops, best_k, best_f, best_ops, best_final,
                           self.eligible, np.zeros((depth, 3), dtype=np.int64),
                           np.zeros((depth, 4, 3)), self._child_buffers(depth))  # fmt: skip
        finally:
            kernel.STOP_HOOK[0] = hook
        found = int(state[kernel.S_BEST_DEPTH])
        mapping = None
        if found >= 0:
            steps = [(int(best_k[i]), int(best_f[i]), best_ops[i]) for i in range(found)]
            mapping = self._mapping(steps, best_final)
        best = float(state[kernel.S_UPPER])
        searched = min(best, float(state[kernel.S_PRUNED_MIN]), float(state[kernel.S_OPEN_MIN]))
        return CertifyResult(
            complete=state[kernel.S_STOPPED] == 0,
            lower_bound=max(min(best, floor), searched),
            best_value=best,
            mapping=mapping,
            nodes=int(state[kernel.S_NODES]),
            seconds=time.monotonic() - start,
            interrupted=state[kernel.S_STOPPED] == kernel.STOP_INTERRUPT,
            stats={"stored_labels": int(state[kernel.S_STORED]), "keys": len(index)},
        )

    @staticmethod
    def _state(upper, tolerance, deadline, node_limit, stop: StopSignal) -> np.ndarray:
        state = np.zeros(kernel.STATE_SIZE)
        state[kernel.S_PRUNED_MIN] = state[kernel.S_OPEN_MIN] = math.inf
        state[kernel.S_UPPER] = upper
        state[kernel.S_THRESHOLD] = (1.0 - tolerance) * upper
        state[kernel.S_TOLERANCE] = tolerance
        state[kernel.S_DEADLINE] = deadline
        state[kernel.S_BEST_DEPTH] = -1
        state[kernel.S_NODE_LIMIT] = node_limit
        state[kernel.S_POLL] = 1.0 if stop.can_stop or math.isfinite(deadline) else 0.0
        return state

    def _child_buffers(self, depth: int):
        """Per depth, room for every child of a node: labels, operand states, cuts, (dim,
        transition, tile), bound and visiting order; and the search stack (next child, children
        of the node open at each depth)."""
        cuts = kernel.MAX_CHOICES**3
        loops = max(
            int(self.trans[0][t + 1] - self.trans[0][t]) for t in range(len(self.trans[0]) - 1)
        )
        most = max(cuts * max(loops, 1), 1)
        return (
            np.zeros((depth, most, self.width)),
            np.zeros((depth, most, 3, 4), dtype=np.int64),
            np.zeros((depth, most, 3, 4), dtype=np.int64),
            np.zeros((depth, most, 3), dtype=np.int64),
            np.zeros((depth, most)),
            np.zeros((depth, most), dtype=np.int64),
            np.zeros((depth, 2), dtype=np.int64),
        )

    # -------------------------------------------------------------- mappings
    def _mapping(self, steps, final_ops) -> Mapping:
        """The mapping of a path: per step (innermost first) the loop added and the operand
        states after the cuts before it; `final_ops` the states after the last loop."""
        loops, levels = [], [[] for _ in range(3)]
        double = set()
        for k, f, ops in steps:
            loops.append(Loop(self.dims[k], int(f)))
            for o, op in enumerate(OPERANDS):
                d, pending, db, _ = (int(v) for v in ops[o])
                levels[o].append(OPERAND_LEVELS[op][d])
                if pending >= 0 and db:
                    double.add((OPERAND_LEVELS[op][pending], op))
        for o, op in enumerate(OPERANDS):
            d, pending, db, _ = (int(v) for v in final_ops[o])
            if pending >= 0 and db:
                double.add((OPERAND_LEVELS[op][pending], op))
        return Mapping(
            spatial=self.cand.spatial,
            loops=tuple(reversed(loops)),
            placement=tuple(tuple(reversed(lv)) for lv in levels),
            double_buffered=frozenset(double),
        )


def certify_candidate(
    hw: Hardware,
    layer: Layer,
    cand: SpatialCandidate,
    objective: str,
    upper: float = math.inf,
    tolerance: float = 0.0,
    deadline: float = math.inf,
    node_limit: float = math.inf,
    stop: StopSignal = NEVER,
) -> CertifyResult:
    """Prove that no mapping of `cand` costs less than (1 - tolerance) x `upper`, or find one
    below `upper` (returned with its value). With tolerance 0 and no upper bound it returns the
    candidate's exact optimum. Stopped early (after `node_limit` nodes, at `deadline` or when
    `stop()` fires) it still returns a proven lower bound of the candidate."""
    return TileChainSearch(hw, layer, cand, objective).run(
        upper, tolerance, deadline, node_limit, stop
    )
