"""Primal search over tilings and loop orders for one spatial candidate.

Each visited loop order is scored exactly: `placement.best_placement` returns the optimal
per-operand placement and double buffering for that order under the cost model. The search
itself moves through orders and tilings:

- constructive starts: one loop per dim in a few classic dataflow orders (weight-, output- and
  input-stationary); weight-stationary orders with the largest reduction tile the macro holds
  innermost (`OrderSearch.fitted_starts`: the tile and its R/S mirror, the tile that fills one
  half of a ping-pong macro, three arrangements of the loops around it); then the classic
  orders with each dim split into its prime factors;
- local search with restarts from the incumbent: swap two adjacent loops, move a loop, split a
  loop into two factors, or merge two loops of the same dim; a move is kept when it does not
  worsen the objective (plateaus are walked, which matters because many orders tie).

Everything is seeded and deterministic for a given budget of evaluations: the same budget gives
the same orders in the same sequence on any machine, and a larger budget extends a smaller one's
sequence. A search whose moves keep landing on orders it has scored (a candidate with fewer
reachable orders than its budget) ends after MAX_REPEATED_MOVES of them in a row; otherwise only
a stop signal (cancel, or an optional wall-clock cap) can end a search early.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from dataclasses import dataclass

from miredo_core.analysis import tile_boundary
from miredo_core.hardware import OPERAND_LEVELS, Hardware, Level
from miredo_core.kinds import objective_value
from miredo_core.mapping import Loop
from miredo_core.search.factors import divisors, factorizations, prime_factors
from miredo_core.search.placement import (
    FixedOrder,
    PlacementCache,
    PlacementResult,
    best_placement,
    can_double_buffer,
)
from miredo_core.search.spatial import SpatialCandidate, reduction_fit
from miredo_core.search.stopping import NEVER, StopSignal
from miredo_core.workload import Dim, Layer, Operand

#: Dim sequences (outermost first) of the classic dataflows used as constructive starts.
START_SEQUENCES: tuple[tuple[Dim, ...], ...] = (
    (Dim.N, Dim.G, Dim.K, Dim.C, Dim.R, Dim.S, Dim.P, Dim.Q),  # weight stationary
    (Dim.N, Dim.G, Dim.K, Dim.P, Dim.Q, Dim.C, Dim.R, Dim.S),  # output stationary
    (Dim.N, Dim.G, Dim.P, Dim.Q, Dim.C, Dim.R, Dim.S, Dim.K),  # input stationary
    (Dim.N, Dim.G, Dim.C, Dim.K, Dim.R, Dim.S, Dim.P, Dim.Q),
    (Dim.N, Dim.G, Dim.P, Dim.K, Dim.C, Dim.R, Dim.S, Dim.Q),
)


#: Reduction dims (irrelevant to the outputs), outermost first in a fitted start.
REDUCTIONS = (Dim.C, Dim.R, Dim.S)

#: Consecutive moves to already-scored orders after which a search stops (a work budget too).
MAX_REPEATED_MOVES = 2000


@dataclass
class SearchState:
    """The incumbent of a search and its bookkeeping."""

    best: PlacementResult | None = None
    best_value: float = math.inf
    evaluations: int = 0


class OrderSearch:
    """Scores loop orders of one spatial candidate and keeps the best."""

    def __init__(self, hw: Hardware, layer: Layer, cand: SpatialCandidate, objective: str):
        self.hw, self.layer, self.candidate, self.objective = hw, layer, cand, objective
        self.cache: dict[tuple[Loop, ...], float] = {}
        self.placements = PlacementCache()  # boundaries and profiles shared by its orders
        self.state = SearchState()

    def score(self, loops: tuple[Loop, ...]) -> float:
        if loops in self.cache:
            return self.cache[loops]
        result = best_placement(
            self.hw, self.layer, FixedOrder(self.candidate.spatial, loops), self.objective,
            cache=self.placements,
        )
        self.state.evaluations += 1
        value = math.inf if result is None else objective_value(result, self.objective)
        self.cache[loops] = value
        if value < self.state.best_value:
            self.state.best, self.state.best_value = result, value
        return value

    def fitted_starts(self) -> list[tuple[Loop, ...]]:
        """Weight-stationary orders whose innermost loops are the largest reduction tile the
        macro holds (`spatial.reduction_fit`), inside the largest output tile whose partial
        sums the output buffer holds: the weights stay for those output loops, and the output
        register accumulates over the reduction tile before each partial-sum round trip. The
        tile's R/S mirror (`_mirrored`) gives the same orders with the other input halos, and a
        ping-pong macro adds the tile that fits one half of it, so that the next weights are
        written while the current ones compute. Each tile gets three arrangements of the
        kernel, output and remaining reduction loops around it."""
        tu = dict(self.candidate.temporal)
        orders = []
        for macro_share in (1, 2) if can_double_buffer(self.hw, Level.MACRO) else (1,):
            fit = reduction_fit(self.hw, self.layer, self.candidate.spatial, tu, macro_share)
            for tile in (fit, _mirrored(fit, tu)) if fit else ():
                if tile is not None:
                    orders += [o for o in self._fitted_orders(tu, tile) if o not in orders]
        return orders

    def _fitted_orders(self, tu: dict, fit: dict) -> list[tuple[Loop, ...]]:
        outer = [Loop(d, tu[d]) for d in (Dim.N, Dim.G) if d in tu]
        kernels = [Loop(Dim.K, tu[Dim.K])] if Dim.K in tu else []
        rest = [Loop(d, tu[d] // fit.get(d, 1)) for d in REDUCTIONS
                if tu.get(d, 1) > fit.get(d, 1)]  # fmt: skip
        inner = [Loop(d, fit[d]) for d in REDUCTIONS if d in fit]
        orders = []
        for share in (1, 2):  # the output buffer whole, or one half of a double buffer
            rows, cols = self._psum_tile(tu, share)
            split = ((Dim.P, rows), (Dim.Q, cols))
            around = [Loop(d, tu[d] // f) for d, f in split if tu.get(d, 1) > f]
            inside = [Loop(d, f) for d, f in split if f > 1]
            for order in (outer + kernels + around + rest + inside + inner,
                          outer + around + rest + kernels + inside + inner,
                          outer + around + kernels + rest + inside + inner):  # fmt: skip
                if tuple(order) not in orders:
                    orders.append(tuple(order))
        return orders

    def _psum_tile(self, tu: dict, share: int) -> tuple[int, int]:
        """The (P, Q) temporal tile of the largest product whose partial sums fit 1/`share` of
        one output buffer (ties: the larger Q); (1, 1) if none does."""
        depth = OPERAND_LEVELS[Operand.O].index(Level.OUTPUT_BUFFER)
        size_bits = self.hw.memory(Level.OUTPUT_BUFFER).size_bits // share
        best = (0, 1, 1)
        for cols in divisors(tu.get(Dim.Q, 1)):
            for rows in divisors(tu.get(Dim.P, 1)):
                tile = tile_boundary(self.hw, self.layer, self.candidate.spatial, Operand.O, 0,
                                     depth, {Dim.P: rows, Dim.Q: cols}, trigger=0, firings=1,
                                     distinct_tiles=1, psum=True,
                                     double_buffered=False)  # fmt: skip
                if tile.child_tile_elements * tile.bits <= size_bits:
                    best = max(best, (rows * cols, cols, rows))
        return best[2], best[1]

    def starts(self) -> list[tuple[Loop, ...]]:
        tu = dict(self.candidate.temporal)
        orders = []
        for split in (False, True):
            if split:
                orders += [o for o in self.fitted_starts() if o not in orders]
            for sequence in START_SEQUENCES:
                loops = []
                for dim in sequence:
                    if dim in tu:
                        parts = prime_factors(tu[dim]) if split else [tu[dim]]
                        loops += [Loop(dim, f) for f in parts]
                if tuple(loops) not in orders:
                    orders.append(tuple(loops))
        return orders


def _mirrored(fit: dict, tu: dict) -> dict | None:
    """The reduction tile `fit` with its R and S factors swapped, when that is another tile of
    the same size (a kernel's rows and columns play symmetric roles for the weights, not for
    the input halos), else None."""
    r, s = fit.get(Dim.R, 1), fit.get(Dim.S, 1)
    if r == s or tu.get(Dim.R, 1) % s or tu.get(Dim.S, 1) % r:
        return None
    tile = {d: f for d, f in fit.items() if d not in (Dim.R, Dim.S)}
    tile.update({d: f for d, f in ((Dim.R, s), (Dim.S, r)) if f > 1})
    return tile


def neighbour(loops: tuple[Loop, ...], rng: random.Random) -> tuple[Loop, ...]:
    """One random move: swap adjacent, move, split or merge."""
    items = list(loops)
    n = len(items)
    move = rng.random()
    if n >= 2 and move < 0.35:
        i = rng.randrange(n - 1)
        items[i], items[i + 1] = items[i + 1], items[i]
    elif n >= 2 and move < 0.6:
        loop = items.pop(rng.randrange(n))
        items.insert(rng.randrange(n), loop)
    elif move < 0.8:
        i = rng.randrange(n)
        primes = prime_factors(items[i].factor)
        if len(primes) >= 2:
            rng.shuffle(primes)
            cut = rng.randrange(1, len(primes))
            a, b = math.prod(primes[:cut]), math.prod(primes[cut:])
            items[i : i + 1] = [Loop(items[i].dim, a), Loop(items[i].dim, b)]
    else:
        pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if items[i].dim is items[j].dim]
        if pairs:
            i, j = rng.choice(pairs)
            merged = Loop(items[i].dim, items[i].factor * items[j].factor)
            items.pop(j)
            items[i] = merged
    return tuple(items)


def search_candidate(
    hw: Hardware,
    layer: Layer,
    cand: SpatialCandidate,
    objective: str,
    deadline: float = math.inf,
    seed: int = 0,
    max_evaluations: int | None = None,
    stop: StopSignal = NEVER,
) -> SearchState:
    """Best order found for the candidate within `max_evaluations` scored orders, before
    `deadline` (time.monotonic()) or `stop()`."""
    search = OrderSearch(hw, layer, cand, objective)
    if not cand.temporal:
        search.score(())
        return search.state
    rng = random.Random(seed)

    def out_of_budget() -> bool:
        if max_evaluations is not None and search.state.evaluations >= max_evaluations:
            return True
        return stop() or time.monotonic() >= deadline

    for loops in search.starts():
        search.score(loops)
        if out_of_budget():
            return search.state
    if search.state.best is None:
        return search.state
    current = search.state.best.mapping.loops
    current_value = search.state.best_value
    stale = repeats = 0
    while not out_of_budget():
        candidate_loops = neighbour(current, rng)
        scored = search.state.evaluations
        value = search.score(candidate_loops)
        # A move to an order scored before costs no evaluation: in a small space every move
        # may be one, so a long run of them ends the search (the space is as good as covered).
        repeats = repeats + 1 if search.state.evaluations == scored else 0
        if repeats > MAX_REPEATED_MOVES:
            break
        if value <= current_value:
            stale = 0 if value < current_value else stale + 1
            current, current_value = candidate_loops, value
        else:
            stale += 1
        if stale > 60:  # restart from the incumbent
            current, current_value = search.state.best.mapping.loops, search.state.best_value
            stale = 0
    return search.state


def _distinct_permutations(items: list[Loop]):
    """Distinct orderings of a multiset of loops (equal loops are interchangeable)."""
    counts: dict[Loop, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    keys = sorted(counts, key=lambda loop: (loop.dim.value, loop.factor))

    def walk(prefix: list[Loop], left: int):
        if not left:
            yield tuple(prefix)
            return
        for key in keys:
            if counts[key]:
                counts[key] -= 1
                prefix.append(key)
                yield from walk(prefix, left - 1)
                prefix.pop()
                counts[key] += 1

    yield from walk([], len(items))


def count_orders(temporal: tuple[tuple[Dim, int], ...]) -> int:
    """Size of the tiling-and-order space of a candidate (all factorizations, all orders)."""
    total = 0
    for combo in itertools.product(*(factorizations(size) for _, size in temporal)):
        loops = [Loop(dim, f) for (dim, _), factors in zip(temporal, combo, strict=True)
                 for f in factors]  # fmt: skip
        multiplicities: dict[Loop, int] = {}
        for loop in loops:
            multiplicities[loop] = multiplicities.get(loop, 0) + 1
        orders = math.factorial(len(loops))
        for count in multiplicities.values():
            orders //= math.factorial(count)
        total += orders
    return total


def all_orders(temporal: tuple[tuple[Dim, int], ...]):
    """Every tiling and loop order of a candidate: each dim's remainder split into any multiset
    of factors, all loops in every distinct order."""
    for combo in itertools.product(*(factorizations(size) for _, size in temporal)):
        loops = [Loop(dim, f) for (dim, _), factors in zip(temporal, combo, strict=True)
                 for f in factors]  # fmt: skip
        yield from _distinct_permutations(loops)


def enumerate_candidate(
    hw: Hardware,
    layer: Layer,
    cand: SpatialCandidate,
    objective: str,
    deadline: float = math.inf,
    stop: StopSignal = NEVER,
) -> tuple[SearchState, bool]:
    """Score every tiling and order of the candidate (its exact optimum under the model).

    Returns the state and whether the enumeration completed before `deadline` and `stop()`."""
    search = OrderSearch(hw, layer, cand, objective)
    for loops in all_orders(cand.temporal):
        if stop() or time.monotonic() >= deadline:
            return search.state, False
        search.score(loops)
    return search.state, True
