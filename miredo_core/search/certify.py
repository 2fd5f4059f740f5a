"""Certified optima: an exact branch and bound over the tile chain of one spatial candidate.

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
labels are all at least the other's. Only undominated label vectors are expanded.

Completion bound (proof). Let M be the product of the factors not placed yet. Every later slot j
has serial(j) >= c* = max(C_I, C_W, C_O): I/W chains and the O single-buffered sum never shrink
outward (a single-buffered transfer's chain is X + S >= C), and serial(j) is at least each
operand's chain. So each later slot multiplies the durations as
    Ep' >= F Ep + (F - 1) c*,   E' >= F E,   E' >= Ep'   (E >= Ep by induction),
and over all later slots E(0) >= max(M E, M Ep + (M - 1) c*). Cascades and FL only grow, so
    latency >= max(max(cascade_I, cascade_W) + E0 + cascade_O, FL terms, floor of the candidate).
Energy adds its non-negative memory energy so far, the MAC energy of the candidate (a constant)
and leakage times the latency bound. A node whose bound is not below the pruning threshold has no
completion below it.

Certificate. With an incumbent of value U and tolerance tol, the threshold is (1 - tol) U. When
the search ends (not stopped by its deadline), every mapping of the candidate either was
evaluated (the incumbent is the best of them) or is proven to cost at least the threshold, so the
candidate's optimum is at least min(incumbent, threshold). With tol = 0 the search is exact.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from miredo_core.cost_model import (
    boundary_traffic,
    firing_cycles,
    mac_energy_pj,
    traffic_energy_pj,
)
from miredo_core.hardware import OPERAND_LEVELS, Axis, Hardware, Level
from miredo_core.mapping import Loop, Mapping, tile_boundary
from miredo_core.search.factors import divisors
from miredo_core.search.spatial import SpatialCandidate
from miredo_core.workload import OPERANDS, REDUCTION_DIMS, Layer, Operand, is_relevant

OBJECTIVES = ("latency", "energy", "edp")

# Label layout (a tuple of floats).
_E, _EP = 0, 1
_S = 2  # + operand index
_C = 5
_CASC = 8
_FL = 11
_ENERGY = 14
_GB = 15
_DB = 16  # (W, B) pairs, per operand per eligible child depth; see _db_slot
_O = 2  # index of the output operand in OPERANDS
_DOUBLE_LEVELS = (Level.GLOBAL_BUFFER, Level.INPUT_BUFFER, Level.OUTPUT_BUFFER)


@dataclass
class CertifyResult:
    """Outcome of certifying one spatial candidate."""

    complete: bool
    """The search ran to the end: `lower_bound` is proven."""
    lower_bound: float
    """Proven lower bound of the candidate's objective (valid only when complete)."""
    best_value: float
    """Best objective found (the incumbent passed in, unless the search beat it)."""
    mapping: Mapping | None = None
    """The mapping that beat the incumbent, if any."""
    nodes: int = 0
    seconds: float = 0.0
    stats: dict = field(default_factory=dict)


class _Stopped(Exception):
    pass


class TileChainSearch:
    """The branch and bound of one spatial candidate (see the module docstring)."""

    def __init__(self, hw: Hardware, layer: Layer, cand: SpatialCandidate, objective: str):
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}; choose one of {OBJECTIVES}")
        self.hw, self.layer, self.cand, self.objective = hw, layer, cand, objective
        self.dims = [d for d, _ in cand.temporal]
        self.tu = tuple(size for _, size in cand.temporal)
        self.total = math.prod(self.tu)
        self.pass_cycles = hw.macro.pass_cycles(layer.input_bits)
        cores = math.prod(f for a, _, f in cand.spatial if a is Axis.CORES)
        self.mac_pj = mac_energy_pj(hw, layer, self.total, cores)
        self.leak = hw.leakage_pj_per_cycle
        self.floor = cand.latency_bound_cycles
        self.relevant = [[is_relevant(op, d) for d in self.dims] for op in OPERANDS]
        self.reduction = [d in REDUCTION_DIMS for d in self.dims]
        self.depths = [len(OPERAND_LEVELS[op]) - 1 for op in OPERANDS]
        self.sizes = [[hw.memory(lv).size_bits for lv in OPERAND_LEVELS[op]] for op in OPERANDS]
        self.gb_size = hw.global_buffer.size_bits
        slot, self.db_slot = _DB, {}
        for k, op in enumerate(OPERANDS):
            for depth in range(1, self.depths[k] + 1):
                self.db_slot[(k, depth)] = slot
                slot += 2
        self.width = slot
        self.eligible = [
            [
                OPERAND_LEVELS[op][depth] in _DOUBLE_LEVELS
                or (OPERAND_LEVELS[op][depth] is Level.MACRO and hw.macro.ping_pong)
                for depth in range(self.depths[k] + 1)
            ]
            for k, op in enumerate(OPERANDS)
        ]
        self.factor_options = [[f for f in divisors(size) if f > 1] for size in self.tu]
        self._geometry: dict = {}
        self.memo: dict = {}
        self.nodes = 0

    # ------------------------------------------------------------ boundary facts
    def geometry(self, k: int, parent: int, child: int, tile: tuple, psum: bool):
        """(cycles, firing cycles, child elements, bits, pJ per firing, pJ per revisit) of the
        boundary of operand k between depths parent and child for temporal tile `tile`."""
        op = OPERANDS[k]
        rel = tuple(t if r else 1 for t, r in zip(tile, self.relevant[k], strict=True))
        key = (k, parent, child, rel, psum)
        found = self._geometry.get(key)
        if found is None:
            b = tile_boundary(
                self.hw, self.layer, self.cand.spatial, op, parent, child,
                dict(zip(self.dims, tile, strict=True)),
                trigger=0, firings=1, distinct_tiles=1, psum=psum, double_buffered=False,
            )  # fmt: skip
            per_firing = sum(traffic_energy_pj(self.hw, boundary_traffic(b, 1, 0)).values())
            per_revisit = sum(traffic_energy_pj(self.hw, boundary_traffic(b, 0, 1)).values())
            found = (b.cycles, firing_cycles(b), b.child_tile_elements, b.bits,
                     per_firing, per_revisit)  # fmt: skip
            self._geometry[key] = found
        return found

    def resident(self, k: int, child: int, elements: int, bits: int, partial: bool) -> int:
        """Bits one instance of the child level holds (`mapping.resident_bits`)."""
        if k == _O and (partial or OPERAND_LEVELS[Operand.O][child] is Level.OUTPUT_REGISTER):
            bits = self.hw.macro.psum_bits
        return elements * bits

    # ----------------------------------------------------------------- search
    def run(self, upper: float, tolerance: float, deadline: float) -> CertifyResult:
        start = time.monotonic()
        self.upper, self.tolerance, self.deadline = upper, tolerance, deadline
        self.threshold = (1.0 - tolerance) * upper
        self.best_path = None
        tile = (1,) * len(self.dims)
        ops = tuple((self.depths[k], -1, False, False) for k in range(3))
        labels = [0.0] * self.width
        labels[_E] = labels[_EP] = float(self.pass_cycles)
        complete = True
        try:
            self._expand(tile, 1, ops, tuple(labels), None)
        except _Stopped:
            complete = False
        mapping = self._mapping(self.best_path) if self.best_path is not None else None
        return CertifyResult(
            complete=complete,
            lower_bound=min(self.upper, self.threshold) if complete else -math.inf,
            best_value=self.upper,
            mapping=mapping,
            nodes=self.nodes,
            seconds=time.monotonic() - start,
            stats={"memo_keys": len(self.memo)},
        )

    def _value(self, latency: float, energy: float) -> float:
        if self.objective == "latency":
            return latency
        total = energy + self.mac_pj + self.leak * latency
        return total if self.objective == "energy" else total * latency

    def _bound(self, tile_prod: int, lab) -> float:
        remaining = self.total // tile_prod
        c_star = max(lab[_C], lab[_C + 1], lab[_C + 2])
        e0 = max(remaining * lab[_E], remaining * lab[_EP] + (remaining - 1) * c_star)
        startup = max(lab[_CASC], lab[_CASC + 1])
        wb = lab[_CASC + 2]
        latency = max(
            startup + e0 + wb,
            lab[_FL] + wb,
            lab[_FL + 1] + wb,
            startup + lab[_FL + 2],
            self.floor,
        )
        return self._value(latency, lab[_ENERGY])

    def _dominated(self, key, vector) -> bool:
        stored = self.memo.get(key)
        if stored is None:
            self.memo[key] = [vector]
            return False
        for other in stored:
            if all(a <= b for a, b in zip(other, vector, strict=True)):
                return True
        stored[:] = [o for o in stored if not all(a <= b for a, b in zip(vector, o, strict=True))]
        stored.append(vector)
        return False

    def _expand(self, tile, tile_prod, ops, lab, path) -> None:
        self.nodes += 1
        if self.nodes & 1023 == 0 and time.monotonic() > self.deadline:
            raise _Stopped
        if self._bound(tile_prod, lab) >= self.threshold:
            return
        vector = lab if self.objective != "latency" else lab[:_ENERGY] + lab[_ENERGY + 1 :]
        if self._dominated((tile, ops), vector):
            return
        if tile_prod == self.total:
            self._leaf(tile, ops, lab, path)
            return
        for cut_ops, cut_lab in self._cuts(tile, ops, lab):
            for k, size in enumerate(self.tu):
                left = size // tile[k]
                for f in self.factor_options[k]:
                    if f > left:
                        break
                    if left % f:
                        continue
                    step = self._advance(tile, tile_prod, cut_ops, cut_lab, k, f)
                    if step is not None:
                        new_tile, new_ops, new_lab = step
                        self._expand(new_tile, tile_prod * f, new_ops, new_lab,
                                     (path, k, f, cut_ops))  # fmt: skip

    def _cuts(self, tile, ops, lab):
        """Every combination of closing (or not) each operand's current block before the next
        loop: (ops, labels) after the cuts."""
        per_op = []
        for k in range(3):
            d, pending, _, below_psum = ops[k]
            choices = [ops[k]]
            if d > 0 and pending < 0:
                for db in (False, True) if self.eligible[k][d] else (False,):
                    if not self._fits(k, d, tile, db, below_psum, lab):
                        continue
                    for parent in range(d):
                        choices.append((parent, d, db, below_psum))
            per_op.append(choices)
        for a in per_op[0]:
            for b in per_op[1]:
                for c in per_op[2]:
                    yield (a, b, c), lab

    def _fits(self, k, child, tile, db, below_psum, lab) -> bool:
        """Cheap capacity check at the cut: the child's tile is fixed from here on (the bits of
        an output tile can only grow to psum width at the trigger)."""
        _, _, elements, bits, _, _ = self.geometry(k, 0, child, tile, False)
        need = self.resident(k, child, elements, bits, below_psum) * (2 if db else 1)
        if OPERAND_LEVELS[OPERANDS[k]][child] is Level.GLOBAL_BUFFER:
            return lab[_GB] + need <= self.gb_size
        return need <= self.sizes[k][child]

    def _resolve(self, k, parent, child, db, below_psum, tile, firings, distinct, psum, e_before,
                 lab):  # fmt: skip
        """Charge a boundary whose trigger (or the end, trigger -1) has come: capacity, energy,
        cascade and channel floor. Returns its firing time, or None if it does not fit."""
        cycles, fire, elements, bits, e_fire, e_revisit = self.geometry(
            k, parent, child, tile, psum
        )
        need = self.resident(k, child, elements, bits, psum or below_psum) * (2 if db else 1)
        if OPERAND_LEVELS[OPERANDS[k]][child] is Level.GLOBAL_BUFFER:
            if lab[_GB] + need > self.gb_size:
                return None
            lab[_GB] += need
        elif need > self.sizes[k][child]:
            return None
        revisits = firings - distinct if psum else 0
        lab[_ENERGY] += firings * e_fire + revisits * e_revisit
        lab[_CASC + k] += cycles
        lab[_FL + k] += cycles
        if db and e_before is not None:
            work = (firings - 1) * fire + cycles if k == _O else firings * fire
            lab[_FL + k] = max(lab[_FL + k], work + e_before)
        return fire

    def _advance(self, tile, tile_prod, ops, lab, k, f):
        """Add loop (dims[k], f) outside the current tile; None if a capacity rule fails."""
        new_tile = tile[:k] + (tile[k] * f,) + tile[k + 1 :]
        lab = list(lab)
        new_ops = list(ops)
        e_before = lab[_E]
        firings = self.total // tile_prod
        psum_above = any(
            red and self.tu[j] // new_tile[j] > 1 for j, red in enumerate(self.reduction)
        )
        serial = [0.0] * 3
        channel = [0.0] * 3
        backlog = [0.0] * 3
        drained = [0.0] * 3
        transfers = [None] * 3
        for o in range(3):
            d, pending, db, below_psum = ops[o]
            x = 0.0
            if pending >= 0 and self.relevant[o][k]:
                psum = o == _O and psum_above
                distinct = 1
                for j, r in enumerate(self.relevant[o]):
                    if r:
                        distinct *= self.tu[j] // tile[j]
                x = self._resolve(o, d, pending, db, below_psum, tile, firings, distinct, psum,
                                  e_before, lab)  # fmt: skip
                if x is None:
                    return None
                new_ops[o] = (d, -1, False, psum if o == _O else False)
                transfers[o] = (pending, db)
            slots = [self.db_slot[(o, depth)] for depth in range(1, self.depths[o] + 1)]
            max_w = max(lab[s] for s in slots)
            max_b = max(lab[s + 1] for s in slots)
            s_o, c_o = lab[_S + o], lab[_C + o]
            if x and db:
                serial[o] = c_o
                channel[o] = max(x, max_w)
                backlog[o] = max_b
                lab[self.db_slot[(o, pending)]] = x  # B = 0 at its own slot
            elif x:
                serial[o] = x + s_o
                channel[o] = max_w
                backlog[o] = max_b
                drained[o] = x + max_w if max_w > 0 else 0.0
                lab[_C + o] = x + s_o if o != _O else c_o + x
            else:
                serial[o] = c_o
                channel[o] = max_w
                backlog[o] = max_b
            lab[_S + o] = s_o + x
        ser = max(serial)
        stalled = max(drained)
        for c in range(3):
            for o in range(3):
                if o != c and backlog[c] + serial[o] > stalled:
                    stalled = backlog[c] + serial[o]
        path, entry = lab[_EP], lab[_E]
        crit = max(path + ser, max(channel), entry, stalled)
        lab[_EP] = path + (f - 1) * (path + ser)
        lab[_E] = entry + (f - 1) * crit
        for s in range(_DB, self.width, 2):
            w = lab[s]
            if w:
                lab[s] = w * f
                lab[s + 1] += w * (f - 1)
        return new_tile, tuple(new_ops), tuple(lab)

    def _leaf(self, tile, ops, lab, path) -> None:
        """All loops placed: close every operand up to DRAM and evaluate."""
        lab = list(lab)
        final = []
        for k in range(3):
            d, pending, db, below_psum = ops[k]
            if d > 0:
                if pending >= 0:
                    return  # an intermediate block without a relevant loop
                if self._resolve(k, 0, d, False, below_psum, tile, 1, 1, False, None, lab) is None:
                    return
                final.append((k, d, False))
            elif pending >= 0:
                if self._resolve(k, 0, pending, db, below_psum, tile, 1, 1, False, None,
                                 lab) is None:  # fmt: skip
                    return
        startup = max(lab[_CASC], lab[_CASC + 1])
        wb = lab[_CASC + 2]
        latency = max(
            startup + lab[_E] + wb,
            lab[_FL] + wb,
            lab[_FL + 1] + wb,
            startup + lab[_FL + 2],
        )
        value = self._value(latency, lab[_ENERGY])
        if value < self.upper:
            self.upper = value
            self.threshold = (1.0 - self.tolerance) * value
            self.best_path = (path, ops)

    # -------------------------------------------------------------- mappings
    def _mapping(self, best) -> Mapping:
        path, last_ops = best
        steps = []
        while path is not None:
            path, k, f, ops = path
            steps.append((k, f, ops))
        steps.reverse()  # innermost first
        loops, levels = [], [[] for _ in range(3)]
        double = set()
        for k, f, ops in steps:
            loops.append(Loop(self.dims[k], f))
            for o in range(3):
                d, pending, db, _ = ops[o]
                levels[o].append(OPERAND_LEVELS[OPERANDS[o]][d])
                if pending >= 0 and db:
                    double.add((OPERAND_LEVELS[OPERANDS[o]][pending], OPERANDS[o]))
        for o in range(3):
            d, pending, db, _ = last_ops[o]
            if pending >= 0 and db:
                double.add((OPERAND_LEVELS[OPERANDS[o]][pending], OPERANDS[o]))
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
) -> CertifyResult:
    """Prove that no mapping of `cand` costs less than (1 - tolerance) x `upper`, or find one
    below `upper` (returned with its value). With tolerance 0 and no upper bound it returns the
    candidate's exact optimum."""
    return TileChainSearch(hw, layer, cand, objective).run(upper, tolerance, deadline)

