"""Layer certificates: the tile-chain branch and bound (`tilechain_search`) over every spatial
candidate of a layer, under a budget of work.

Candidates are visited best bound first, the incumbent's own first (an improvement found there
tightens the threshold for all the others). A candidate whose floor bound is at least the
threshold (1 - tol) x incumbent cannot hold a mapping below it and is settled by that bound.

Waves. The others are searched in waves of `WAVE` candidates. Every search of a wave starts from
the incumbent as it was when the wave began and gets an equal share of the node budget left
then; results are folded in candidate order. Each search is thus a function of the inputs alone,
so the answer (mapping, bound, status) does not depend on how many worker processes run a wave
or on how fast they are; workers change only the speed.

Second pass. A candidate whose search ran out of its share stays open, while later waves may
leave part of the budget unused. With budget left, the open candidates below the threshold are
searched again from the start, lowest bound first, in waves of the most of them (at most WAVE)
whose equal shares of what is left are each at least RETRY_GROWTH times the candidate's last
limit. Each such search is again a function of
the inputs. A candidate searched twice keeps the larger of its two bounds: each search proves that
every mapping of the candidate costs at least its bound (`tilechain_search`, anytime bound), so
every such mapping costs at least the larger one.

Anytime bound (proof). At any moment, the layer's optimum is at least the smallest of
- the incumbent's value (it is a mapping of the layer);
- for every candidate searched, its proven (anytime) bound (`tilechain_search`);
- for every candidate not searched, its floor bound (`spatial`).
Every mapping belongs to exactly one candidate and costs at least that candidate's bound, or
at least the incumbent when the candidate was settled against a threshold the incumbent set.
A stopped certificate (budget spent, cancel, deadline) therefore still proves this bound.
"""

from __future__ import annotations

import logging
import math
import time
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from miredo_core.hardware import Hardware
from miredo_core.mapping import Mapping
from miredo_core.search.spatial import SpatialCandidate, spatial_candidates
from miredo_core.search.stopping import NEVER, StopSignal
from miredo_core.search.tilechain_search import (  # noqa: F401 (re-exported)
    STORE_ROWS,
    CertifyResult,
    TileChainSearch,
    certify_candidate,
)
from miredo_core.workers import process_pool, worker_cancel
from miredo_core.workload import Layer

logger = logging.getLogger(__name__)

#: Candidates searched per wave, whatever the number of workers.
WAVE = 4
#: The second pass searches a candidate again only with at least this many times the node
#: limit of its last search: with no more nodes, the same search would end where it did.
RETRY_GROWTH = 1.5
#: Seconds between two looks at the stop signal while workers search.
POLL_S = 0.1


@dataclass
class LayerCertificate:
    """Outcome of certifying a whole layer (every spatial candidate)."""

    mapping: Mapping
    """The best mapping known at the end (the incumbent passed in, or a better one found)."""
    value: float
    lower_bound: float
    """Proven lower bound of the layer's optimum: the smallest of the candidates' proven
    bounds, the floor bounds of the candidates not searched, and the value itself."""
    complete: bool
    """Every candidate was certified or pruned by its floor bound."""
    candidates_certified: int = 0
    candidates_pruned: int = 0
    candidates_open: int = 0
    nodes: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    """Cut short by the stop signal (cancel or wall-clock cap), not by the node budget."""


class _Tally:
    """The incumbent and every candidate's bound and state so far, by candidate position."""

    def __init__(self, mapping: Mapping, value: float, tolerance: float):
        self.best, self.upper, self.tolerance = mapping, value, tolerance
        self.bounds: dict[int, float] = {}
        self.states: dict[int, str] = {}
        """"pruned" (settled by its floor), "certified" or "open" (searched, or never)."""
        self.limits: dict[int, float] = {}
        """Node limit of a candidate's last search."""
        self.nodes = 0
        self.interrupted = False

    def count(self, state: str) -> int:
        return sum(1 for value in self.states.values() if value == state)

    def threshold(self) -> float:
        return (1.0 - self.tolerance) * self.upper

    def due(self, index: int, cand: SpatialCandidate, objective: str) -> bool:
        """False (and the candidate settled by its floor) once its floor reaches the threshold."""
        if cand.bound(objective) >= self.threshold():
            self.bounds[index], self.states[index] = cand.bound(objective), "pruned"
            return False
        return True

    def fold(self, index: int, cand: SpatialCandidate, objective: str,
             result: CertifyResult | None, limit: float = 0.0) -> None:  # fmt: skip
        """One search's outcome (None: never searched). A candidate searched again keeps the
        larger of its two proven bounds (module docstring, "second pass")."""
        if result is None:
            self.bounds[index], self.states[index] = cand.bound(objective), "open"
            return
        self.nodes += result.nodes
        self.interrupted |= result.interrupted
        if result.mapping is not None and result.best_value < self.upper:
            self.best, self.upper = result.mapping, result.best_value
        self.states[index] = "certified" if result.complete else "open"
        self.bounds[index] = max(self.bounds.get(index, -math.inf), result.lower_bound)
        self.limits[index] = limit

    def blocking(self) -> list[int]:
        """Searched candidates left open below the threshold, lowest bound first: the ones
        that keep the certificate from closing."""
        threshold = self.threshold()
        low = [i for i in self.limits if self.states[i] == "open" and self.bounds[i] < threshold]
        return sorted(low, key=lambda i: (self.bounds[i], i))


def certify_layer(
    hw: Hardware,
    layer: Layer,
    objective: str,
    mapping: Mapping,
    value: float,
    tolerance: float = 0.01,
    deadline: float = math.inf,
    workers: int = 1,
    node_budget: float = math.inf,
    stop: StopSignal = NEVER,
) -> LayerCertificate:
    """Certify (or improve) the incumbent `mapping` of objective `value`: every spatial
    candidate whose floor bound is below (1 - tolerance) x the incumbent is searched by the
    tile-chain branch and bound, in waves (module docstring), within `node_budget` nodes in all,
    until `deadline` (time.monotonic()) or `stop()`, in `workers` processes."""
    start = time.monotonic()
    candidates = sorted(
        spatial_candidates(hw, layer),
        key=lambda c: (c.spatial != mapping.spatial, c.bound(objective)),
    )
    # The caller's own signal when it is the tighter one, so the cause of a stop reaches it.
    signal = stop if stop.deadline <= deadline else StopSignal(stop.cancel, deadline)
    tally = _Tally(mapping, value, tolerance)
    problem = (hw, layer, objective, tolerance)
    position = 0
    with _Runner(workers, problem, signal) as runner:
        while position < len(candidates) and tally.nodes < node_budget and not signal():
            wave = []
            while position < len(candidates) and len(wave) < WAVE:
                position += 1
                if tally.due(position - 1, candidates[position - 1], objective):
                    wave.append(position - 1)
            if not wave:
                continue
            share = (node_budget - tally.nodes) / len(wave)
            searches = runner.run([candidates[i] for i in wave], tally.upper, share)
            for index, result in zip(wave, searches, strict=True):
                tally.fold(index, candidates[index], objective, result, share)
        while tally.nodes < node_budget and not signal():  # the second pass
            wave, share = _retry_wave(tally, node_budget - tally.nodes)
            if not wave:
                break
            searches = runner.run([candidates[i] for i in wave], tally.upper, share)
            for index, result in zip(wave, searches, strict=True):
                tally.fold(index, candidates[index], objective, result, share)
    for index in range(position, len(candidates)):
        if tally.due(index, candidates[index], objective):
            tally.fold(index, candidates[index], objective, None)
    return LayerCertificate(
        mapping=tally.best,
        value=tally.upper,
        lower_bound=min([tally.upper, *tally.bounds.values()]),
        complete=tally.count("open") == 0,
        candidates_certified=tally.count("certified"),
        candidates_pruned=tally.count("pruned"),
        candidates_open=tally.count("open"),
        nodes=tally.nodes,
        seconds=time.monotonic() - start,
        interrupted=tally.interrupted or signal.stopped,
    )


def _retry_wave(tally: _Tally, left: float) -> tuple[list[int], float]:
    """The second pass's next wave and each search's share of `left`: the most blocking
    candidates (lowest bound first, at most WAVE) that each get at least RETRY_GROWTH times the
    limit of their last search; none when not even the first would."""
    blocking = tally.blocking()[:WAVE]
    for size in range(len(blocking), 0, -1):
        share = left / size
        if all(share >= RETRY_GROWTH * tally.limits[i] for i in blocking[:size]):
            return blocking[:size], share
    return [], 0.0


def _search_in_worker(problem, cand, upper, share, deadline) -> CertifyResult:
    hw, layer, objective, tolerance = problem
    signal = StopSignal(worker_cancel(), deadline)  # the pool's stop event, set by the parent
    return certify_candidate(hw, layer, cand, objective, upper, tolerance, node_limit=share,
                             stop=signal)  # fmt: skip


class _Runner:
    """Runs the searches of one wave, in this process or in a `workers.WorkerPool` (which falls
    back to this process if its workers cannot start or die)."""

    def __init__(self, workers: int, problem, signal: StopSignal):
        self.workers, self.problem, self.signal = workers, problem, signal
        self.pool = self.event = None

    def __enter__(self) -> _Runner:
        if self.workers > 1:
            self.pool = process_pool(self.workers)
            self.event = self.pool.stop_event
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.event.set()  # nothing outlives the certificate
            self.pool.shutdown(wait=True, cancel_futures=True)

    def run(self, wave: list[SpatialCandidate], upper: float, share: float):
        if self.pool is not None:
            try:
                return self._run_pool(wave, upper, share)
            except BrokenProcessPool as error:
                # Worker processes could not start or died (for instance a script without a
                # `__main__` guard): this wave and the rest are searched here instead.
                logger.warning("certifier workers failed (%s); continuing in this process", error)
                self.pool.shutdown(wait=False, cancel_futures=True)
                self.pool = None
        hw, layer, objective, tolerance = self.problem
        return [certify_candidate(hw, layer, cand, objective, upper, tolerance,
                                  node_limit=share, stop=self.signal)
                for cand in wave]  # fmt: skip

    def _run_pool(self, wave, upper, share):
        futures = [self.pool.submit(_search_in_worker, self.problem, cand, upper, share,
                                    self.signal.deadline) for cand in wave]  # fmt: skip
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
            if self.signal():
                # Running searches stop at their next poll; searches not started never start
                # (their candidates keep their floor bounds).
                self.event.set()
                for future in pending:
                    future.cancel()
        return [None if future.cancelled() else future.result() for future in futures]
