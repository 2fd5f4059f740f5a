"""search.certify: the exact tile-chain branch and bound and the certificates built on it.

- per spatial candidate, the certifier's exact optimum (tolerance 0) equals the complete
  enumeration of every tiling, order and placement, for all three objectives;
- the mapping it returns evaluates to exactly the value it reports;
- no random valid mapping of a candidate beats its certified optimum (bounds and dominance never
  cut off a better mapping), on tiny and on default-template layers;
- layer certificates agree with the exhaustive oracle; the thorough preset reports them;
- the certified ResNet-18 optima saved by bench/certify.py still evaluate to their values, no
  mapper beats their proven bounds, and the fastest certificates are reproduced;
- the completion bound's cascades ahead: the chain table against every chain enumerated, its
  premise (a boundary's cycles never fall as its tile grows), random mappings' cascades
  against it, and exact optima at more hardware points.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from functools import cache
from pathlib import Path

import pytest

from miredo_core.analysis import analyze, temporal_tile, transfer_cycles
from miredo_core.config import load_hardware, load_workload_yaml
from miredo_core.cost_model import evaluate
from miredo_core.hardware import OPERAND_LEVELS
from miredo_core.kinds import objective_value
from miredo_core.mapping import Mapping, level_depth
from miredo_core.search import certify
from miredo_core.search.baselines import random_mapping
from miredo_core.search.certify import TileChainSearch, certify_candidate, certify_layer
from miredo_core.search.engine import SolveOptions, solve_layer
from miredo_core.search.factors import divisors
from miredo_core.search.heuristic import count_orders, enumerate_candidate
from miredo_core.search.oracle import exhaustive_search
from miredo_core.search.spatial import candidate, spatial_candidates
from miredo_core.search.stopping import StopSignal
from miredo_core.variants import apply_variants, with_ping_pong
from miredo_core.workload import OPERANDS, Layer, Operand
from miredo_core.zoo import get_network

REPO_ROOT = Path(__file__).resolve().parent.parent
HARDWARE_DIR = REPO_ROOT / "sample_configs" / "hardware"
TINY_WORKLOAD = REPO_ROOT / "sample_configs" / "workloads" / "tiny_layers.yaml"
CERTIFIED = Path(__file__).resolve().parent / "data" / "resnet18_certified.json"
OBJECTIVES = ("latency", "energy", "edp")


@cache
def hardware(name: str):
    return load_hardware(HARDWARE_DIR / f"{name}.yaml")


@cache
def tiny_layers() -> tuple[Layer, ...]:
    return load_workload_yaml(TINY_WORKLOAD).layers


def tiny_layer(name: str) -> Layer:
    return next(layer for layer in tiny_layers() if layer.name == name)


def sample_candidates(hw, layer: Layer, count: int, max_orders: int, seed: int = 0):
    """A seeded sample of the layer's spatial candidates small enough to enumerate."""
    small = [c for c in spatial_candidates(hw, layer) if count_orders(c.temporal) <= max_orders]
    random.Random(seed).shuffle(small)
    return small[:count]


@pytest.mark.parametrize(
    ("layer_name", "objective"),
    [
        pytest.param(name, objective, marks=pytest.mark.slow)
        if name == "conv3x3" or (name, objective) == ("conv1x1", "latency")
        else (name, objective)
        for name in ["conv3x3", "conv1x1", "depthwise3x3", "matmul"]
        for objective in OBJECTIVES
    ],
)  # fmt: skip
def test_exact_optimum_of_a_candidate_equals_complete_enumeration(layer_name, objective):
    hw, layer = hardware("tiny"), tiny_layer(layer_name)
    for cand in sample_candidates(hw, layer, count=3, max_orders=150):
        enumerated, complete = enumerate_candidate(hw, layer, cand, objective)
        assert complete
        result = certify_candidate(hw, layer, cand, objective)
        assert result.complete
        if enumerated.best is None:  # no tiling of this candidate fits
            assert result.mapping is None and result.best_value == math.inf
            continue
        assert result.best_value == pytest.approx(enumerated.best_value, rel=1e-9)
        assert result.lower_bound == pytest.approx(result.best_value, rel=1e-9)
        # The mapping it returns is legal and costs exactly what the search says.
        value = objective_value(evaluate(hw, layer, result.mapping), objective)
        assert value == pytest.approx(result.best_value, rel=1e-9)
        assert result.mapping.spatial == cand.spatial


@pytest.mark.parametrize(
    "objective",
    [o if o == "edp" else pytest.param(o, marks=pytest.mark.slow) for o in OBJECTIVES],
)
def test_exact_optimum_with_a_ping_pong_macro(objective):
    """A double-buffered macro: the innermost level of the weights may be double-buffered."""
    hw, layer = with_ping_pong(hardware("tiny"), True), tiny_layer("conv1x1")
    for cand in sample_candidates(hw, layer, count=3, max_orders=150, seed=5):
        enumerated, _ = enumerate_candidate(hw, layer, cand, objective)
        result = certify_candidate(hw, layer, cand, objective)
        assert result.best_value == pytest.approx(enumerated.best_value, rel=1e-9)
        if result.mapping is not None:
            value = objective_value(evaluate(hw, layer, result.mapping), objective)
            assert value == pytest.approx(result.best_value, rel=1e-9)


@pytest.mark.parametrize(
    ("hw_name", "layer"),
    [
        ("tiny", Layer("conv1x1_c8k4", P=4, Q=4, C=8, K=4)),
        pytest.param(
            "default_8core",
            Layer("conv1x1_c64k32_p4", P=4, Q=4, C=64, K=32),
            marks=pytest.mark.slow,
        ),
    ],
)
def test_no_random_mapping_beats_the_certified_optimum(hw_name, layer):
    hw = hardware(hw_name)
    rng = random.Random(1)
    checked = 0
    draws = [random_mapping(hw, layer, rng) for _ in range(400)]
    for spatial in sorted({m.spatial for m in draws}, key=str)[:4]:
        mappings = [m for m in draws if m.spatial == spatial]
        cand = candidate(hw, layer, spatial)
        for objective in OBJECTIVES:
            optimum = certify_candidate(hw, layer, cand, objective)
            assert optimum.complete
            for mapping in mappings:
                value = objective_value(evaluate(hw, layer, mapping), objective)
                assert optimum.best_value <= value * (1 + 1e-12)
                checked += 1
    assert checked >= 12


def test_a_proven_threshold_is_a_lower_bound_and_improvements_are_returned():
    hw, layer = hardware("tiny"), tiny_layer("conv1x1")
    cand = sample_candidates(hw, layer, count=1, max_orders=150, seed=3)[0]
    exact = certify_candidate(hw, layer, cand, "latency").best_value
    # An incumbent 20 % above the optimum: the search must find a better mapping.
    improved = certify_candidate(hw, layer, cand, "latency", upper=1.2 * exact, tolerance=0.01)
    assert improved.complete and improved.mapping is not None
    assert exact <= improved.best_value <= exact / 0.99
    assert improved.lower_bound <= exact
    # An incumbent at the optimum: nothing better exists, the bound proves it within 1 %.
    proven = certify_candidate(hw, layer, cand, "latency", upper=exact, tolerance=0.01)
    assert proven.complete and proven.mapping is None
    assert 0.99 * exact <= proven.lower_bound <= exact


def test_a_search_stopped_by_its_deadline_keeps_a_proven_bound():
    hw, layer = hardware("default_8core"), get_network("resnet18").layer("Conv_1")
    cand = spatial_candidates(hw, layer)[0]
    result = certify_candidate(hw, layer, cand, "latency", deadline=time.monotonic())
    assert not result.complete and result.interrupted
    # At least the candidate's floor, and no more than any mapping of it (its certified optimum
    # on this hardware is in the regression figures).
    entry = next(o for o in certified_optima() if o["layer"] == "Conv_1"
                 and o["objective"] == "latency")  # fmt: skip
    assert cand.latency_bound_cycles <= result.lower_bound <= entry["value"]


def assert_certifies_the_oracle_optimum(layer_name: str, objective: str, workers: int = 1):
    """Certify a tiny layer exactly from a poor incumbent (the worst of a few random mappings):
    the certifier must find the oracle's optimum itself and prove it."""
    hw, layer = hardware("tiny"), tiny_layer(layer_name)
    oracle = exhaustive_search(hw, layer, objective)
    worst = max(
        (random_mapping(hw, layer, random.Random(seed)) for seed in range(5)),
        key=lambda m: objective_value(evaluate(hw, layer, m), objective),
    )
    start = objective_value(evaluate(hw, layer, worst), objective)
    certificate = certify_layer(hw, layer, objective, worst, start, 0.0, workers=workers)
    assert certificate.complete
    assert certificate.value == pytest.approx(oracle.value, rel=1e-9)
    assert certificate.lower_bound == pytest.approx(oracle.value, rel=1e-9)
    assert objective_value(evaluate(hw, layer, certificate.mapping), objective) == pytest.approx(
        oracle.value, rel=1e-9
    )


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("layer_name", ["conv1x1", "matmul", "depthwise3x3"])
def test_layer_certificate_agrees_with_the_oracle(layer_name, objective):
    assert_certifies_the_oracle_optimum(layer_name, objective)


def test_thorough_preset_certifies_and_reports_the_three_numbers():
    hw, layer = hardware("tiny"), tiny_layer("conv3x3")
    result = solve_layer(hw, layer, "latency", SolveOptions(preset="thorough"))
    oracle = exhaustive_search(hw, layer, "latency")
    assert result.status == "optimal"
    assert result.value <= oracle.value / 0.99
    assert result.lower_bound <= oracle.value <= result.value
    assert result.gap == pytest.approx((result.value - result.lower_bound) / result.value)
    assert result.gap <= 0.01 * (1 + 1e-9)
    assert result.certified_candidates >= 1


# ------------------------------------------------------------ regression figures


@cache
def certified() -> dict:
    return json.loads(CERTIFIED.read_text())


def certified_optima() -> list[dict]:
    return certified()["optima"]


def test_regression_figures_cover_every_resnet18_shape_and_objective():
    shapes = {layer.shape_key() for layer in get_network("resnet18").layers}
    optima = certified_optima()
    for objective in OBJECTIVES:
        assert len([o for o in optima if o["objective"] == objective]) == len(shapes)


@pytest.mark.parametrize("index", range(36))
def test_certified_optimum_still_evaluates_to_its_value(index):
    optima = certified_optima()
    if index >= len(optima):
        pytest.fail(f"only {len(optima)} certified optima are saved")
    entry = optima[index]
    hw = hardware("default_8core")
    layer = get_network("resnet18").layer(entry["layer"])
    mapping = Mapping.from_dict(entry["mapping"])
    value = objective_value(evaluate(hw, layer, mapping), entry["objective"])
    assert value == pytest.approx(entry["value"], rel=1e-9)
    # Proven within the tolerance the figures were certified with (0: exact optima).
    tolerance = certified()["tolerance"]
    assert entry["lower_bound"] <= entry["value"] * (1 + 1e-9)
    assert (entry["value"] - entry["lower_bound"]) / entry["value"] <= tolerance + 1e-9


@pytest.mark.parametrize("layer_name", [pytest.param("Conv_12", marks=pytest.mark.slow), "Conv_17"])
def test_no_mapper_beats_a_proven_bound_and_the_certificate_reproduces(layer_name):
    hw = hardware("default_8core")
    layer = get_network("resnet18").layer(layer_name)
    entry = next(
        o for o in certified_optima() if o["layer"] == layer_name and o["objective"] == "latency"
    )
    found = solve_layer(hw, layer, "latency", SolveOptions(preset="interactive"))
    assert found.value >= entry["lower_bound"]
    mapping = Mapping.from_dict(entry["mapping"])
    tolerance = certified()["tolerance"]
    certificate = certify_layer(hw, layer, "latency", mapping, entry["value"], tolerance)
    assert certificate.complete
    assert certificate.value <= entry["value"]
    assert certificate.lower_bound >= (1 - tolerance) * certificate.value * (1 - 1e-12)
    # Whatever mapping it ends with, the certifier's value is the cost model's.
    assert objective_value(evaluate(hw, layer, certificate.mapping), "latency") == pytest.approx(
        certificate.value, rel=1e-12
    )


@pytest.mark.slow
def test_layer_certificate_with_two_worker_processes_agrees_with_the_oracle():
    assert_certifies_the_oracle_optimum("conv1x1", "latency", workers=2)


def test_a_broken_worker_pool_falls_back_to_this_process(monkeypatch, caplog):
    class BrokenPool:
        def __init__(self, *args, **kwargs):
            self.stop_event = threading.Event()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def submit(self, *args, **kwargs):
            raise BrokenProcessPool("workers could not start")

        def shutdown(self, *args, **kwargs):
            pass

    monkeypatch.setattr(certify, "process_pool", BrokenPool)
    assert_certifies_the_oracle_optimum("matmul", "energy", workers=2)
    assert "continuing in this process" in caplog.text


# ------------------------------------------------------------------ anytime bounds


@pytest.mark.parametrize(
    ("layer_name", "objective"),
    [
        (name, objective) if name == "conv1x1"
        else pytest.param(name, objective, marks=pytest.mark.slow)
        for name in ["conv3x3", "conv1x1", "matmul"]
        for objective in OBJECTIVES
    ],
)  # fmt: skip
def test_a_search_stopped_at_any_node_budget_reports_a_valid_bound_that_only_rises(
    layer_name, objective
):
    """Stopped at random node budgets, a candidate's search never reports a bound above the
    candidate's exact optimum (complete enumeration), and the bound never falls as the budget
    grows."""
    hw, layer = hardware("tiny"), tiny_layer(layer_name)
    rng = random.Random(f"{layer_name}-{objective}")
    for cand in sample_candidates(hw, layer, count=2, max_orders=150, seed=7):
        enumerated, _ = enumerate_candidate(hw, layer, cand, objective)
        full = certify_candidate(hw, layer, cand, objective)
        budgets = sorted(rng.randrange(1, full.nodes + 2) for _ in range(6))
        previous = -math.inf
        for budget in budgets:
            stopped = certify_candidate(hw, layer, cand, objective, node_limit=budget)
            assert stopped.nodes <= full.nodes
            assert stopped.lower_bound <= enumerated.best_value * (1 + 1e-12)
            assert stopped.lower_bound >= previous * (1 - 1e-12)
            assert stopped.lower_bound >= cand.bound(objective) * (1 - 1e-12)
            previous = stopped.lower_bound
        assert full.lower_bound >= previous * (1 - 1e-12)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_a_layer_certificate_stopped_at_any_budget_never_exceeds_the_oracle(objective):
    hw, layer = hardware("tiny"), tiny_layer("conv1x1")
    oracle = exhaustive_search(hw, layer, objective)
    worst = random_mapping(hw, layer, random.Random(3))
    start = objective_value(evaluate(hw, layer, worst), objective)
    rng = random.Random(objective)
    for budget in sorted(rng.randrange(1, 200_000) for _ in range(4)):
        certificate = certify_layer(hw, layer, objective, worst, start, 0.0, node_budget=budget)
        assert certificate.lower_bound <= oracle.value * (1 + 1e-12)
        assert oracle.value <= certificate.value * (1 + 1e-12)


def test_the_answer_does_not_depend_on_the_number_of_workers():
    """Waves of fixed size start from the same incumbent with the same node shares, so one
    and two worker processes give the same mapping, value, bound and node count."""
    hw, layer = hardware("tiny"), tiny_layer("conv3x3")
    worst = random_mapping(hw, layer, random.Random(1))
    start = objective_value(evaluate(hw, layer, worst), "latency")
    answers = []
    for workers in (1, 2):
        certificate = certify_layer(hw, layer, "latency", worst, start, 0.0, workers=workers,
                                    node_budget=150_000)  # fmt: skip
        answers.append((certificate.mapping, certificate.value, certificate.lower_bound,
                        certificate.nodes, certificate.complete))  # fmt: skip
    assert answers[0] == answers[1]


def test_a_cancel_set_while_the_kernel_runs_stops_it_with_a_proven_bound():
    hw, layer = hardware("default_8core"), get_network("resnet18").layer("Conv_1")
    cand = spatial_candidates(hw, layer)[0]
    event = threading.Event()
    timer = threading.Timer(0.5, event.set)
    timer.start()
    try:
        result = certify_candidate(hw, layer, cand, "latency", stop=StopSignal(event))
    finally:
        timer.cancel()
    assert event.is_set() and result.interrupted and not result.complete
    entry = next(o for o in certified_optima() if o["layer"] == "Conv_1"
                 and o["objective"] == "latency")  # fmt: skip
    assert cand.latency_bound_cycles <= result.lower_bound <= entry["value"]


def test_a_full_key_list_still_drops_dominated_nodes_but_stores_no_more() -> None:
    """The dominance store's per-key cap (`_tilechain.KEY_LABELS`): a key whose list is full
    stores no new label vector, and a vector one of its stored vectors dominates is still
    dropped, so the search stays exact."""
    import numpy as np
    from numba import typed, types

    from miredo_core.search import _tilechain as kernel

    cap = kernel.KEY_LABELS
    rows, width = cap + 8, 2
    store = np.empty((rows * kernel.ROWS_PER_LABEL, width))
    seg = np.empty((rows, 3), dtype=np.int64)
    index = typed.Dict.empty(types.int64, types.int64)
    state = np.zeros(kernel.STATE_SIZE)
    cols = np.arange(width, dtype=np.int64)
    # Mutually undominated vectors (a, cap - a): each one is stored, up to the cap.
    for a in range(cap):
        assert not kernel._dominated(7, np.array([a, cap - a], float), cols, index, store, seg,
                                     state)  # fmt: skip
    assert state[kernel.S_STORED] == cap
    # One more undominated vector: kept for expansion, not stored.
    assert not kernel._dominated(7, np.array([-1.0, cap + 1.0]), cols, index, store, seg, state)
    assert state[kernel.S_STORED] == cap
    # A vector a stored one dominates is dropped, full list or not.
    assert kernel._dominated(7, np.array([3.0, cap - 2.0]), cols, index, store, seg, state)
    # Another key still has room.
    assert not kernel._dominated(8, np.array([0.0, 0.0]), cols, index, store, seg, state)
    assert state[kernel.S_STORED] == cap + 1


def test_the_dominance_store_keeps_exactly_the_undominated_vectors_of_each_key() -> None:
    """`_tilechain._dominated` against a plain model of its rule: per key, a vector is dropped
    if a stored one is <= it on every compared column; otherwise it is stored (dropping the
    stored ones it dominates) while the key has fewer than KEY_LABELS vectors and the store has
    room. Random vectors on a few keys, small integer entries so ties and equal vectors occur;
    the answers and each key's stored set must match the model's after every call."""
    import random

    import numpy as np
    from numba import typed, types

    from miredo_core.search import _tilechain as kernel

    rng = random.Random(7)
    width, limit = 4, 120
    cols = np.array([2, 0, 3], dtype=np.int64)  # column 1 is never compared
    store = np.empty((limit * kernel.ROWS_PER_LABEL, len(cols)))
    seg = np.empty((limit, 3), dtype=np.int64)
    index = typed.Dict.empty(types.int64, types.int64)
    state = np.zeros(kernel.STATE_SIZE)
    model: dict[int, list[tuple]] = {}
    stored = 0
    for _ in range(2000):
        key = rng.randrange(12)
        lab = np.array([rng.randrange(8) for _ in range(width)], float)
        vec = tuple(lab[cols])
        kept = model.setdefault(key, [])
        expected = any(all(a <= b for a, b in zip(row, vec, strict=True)) for row in kept)
        if not expected and stored < limit and len(kept) < kernel.KEY_LABELS:
            kept[:] = [row for row in kept
                       if not all(a <= b for a, b in zip(vec, row, strict=True))]  # fmt: skip
            kept.append(vec)
            stored += 1
        assert kernel._dominated(key, lab, cols, index, store, seg, state) == expected
        assert state[kernel.S_STORED] == stored
        for k, rows in model.items():
            if k in index:
                start, length, _ = seg[index[k]]
                got = sorted(tuple(r) for r in store[start : start + length])
            else:
                got = []
            assert got == sorted(rows)
    assert stored == limit  # the store filled up, so its cap was exercised too


def _scripted_searches(monkeypatch, hw, layer, objective, start, worst, need, bound):
    """Replace the tile-chain search by a script: a candidate's search completes when its node
    limit reaches `need(cand)`, and otherwise stops at the limit with `bound(cand, limit)`.
    Returns the (spatial, limit) of every search run, and the candidates due, in visiting order."""
    calls = []

    def search(hw, layer, cand, objective, upper, tolerance, node_limit, stop=None):
        calls.append((cand.spatial, node_limit))
        done = node_limit >= need(cand)
        return certify.CertifyResult(
            complete=done, lower_bound=upper if done else bound(cand, node_limit),
            best_value=upper, nodes=int(min(node_limit, need(cand))),
        )  # fmt: skip

    monkeypatch.setattr(certify, "certify_candidate", search)
    ordered = sorted(spatial_candidates(hw, layer),
                     key=lambda c: (c.spatial != worst.spatial, c.bound(objective)))  # fmt: skip
    return calls, [c for c in ordered if c.bound(objective) < start]


def test_budget_the_waves_leave_goes_to_the_candidates_still_open(monkeypatch):
    hw, layer = hardware("tiny"), tiny_layer("conv3x3")
    worst = random_mapping(hw, layer, random.Random(1))
    start = objective_value(evaluate(hw, layer, worst), "latency")
    budget = 1_000_000
    calls, due = _scripted_searches(
        monkeypatch, hw, layer, "latency", start, worst,
        need=lambda cand: 400_000 if cand.spatial == hard else 1_000,
        bound=lambda cand, limit: cand.bound("latency"),
    )  # fmt: skip
    hard = due[0].spatial  # in the first wave, whose share (a quarter) is too small for it
    assert len(due) >= certify.WAVE + 2
    certificate = certify_layer(hw, layer, "latency", worst, start, 0.0, node_budget=budget)
    limits = [limit for spatial, limit in calls if spatial == hard]
    assert limits[0] == budget / certify.WAVE and limits[1] >= 400_000  # searched again
    assert certificate.complete and certificate.lower_bound == start
    assert certificate.nodes <= budget
    calls.clear()
    monkeypatch.setattr(certify, "RETRY_GROWTH", math.inf)  # no second pass: it stays open
    without = certify_layer(hw, layer, "latency", worst, start, 0.0, node_budget=budget)
    assert not without.complete and without.candidates_open == 1
    assert without.lower_bound == pytest.approx(due[0].bound("latency"))


def test_a_candidate_searched_again_keeps_the_larger_of_its_bounds(monkeypatch):
    """The second search of a candidate proves a smaller bound than its first (its incumbent,
    say, was lower): the layer's bound is the first search's, both being proven."""
    hw, layer = hardware("tiny"), tiny_layer("conv3x3")
    worst = random_mapping(hw, layer, random.Random(1))
    start = objective_value(evaluate(hw, layer, worst), "latency")
    budget = 1_000_000

    def halfway(cand) -> float:
        return cand.bound("latency") + 0.5 * (start - cand.bound("latency"))

    calls, due = _scripted_searches(
        monkeypatch, hw, layer, "latency", start, worst,
        need=lambda cand: 10 * budget if cand.spatial == due[0].spatial else 1_000,
        bound=lambda cand, limit: halfway(cand) if limit < budget / 2 else cand.bound("latency"),
    )  # fmt: skip
    certificate = certify_layer(hw, layer, "latency", worst, start, 0.0, node_budget=budget)
    assert sum(spatial == due[0].spatial for spatial, _ in calls) == 2  # searched twice
    assert not certificate.complete
    assert certificate.lower_bound == pytest.approx(halfway(due[0]))  # the first search's


def _chains_by_enumeration(hw, layer, spatial, op, level: int, tile: dict) -> float:
    """The fewest cycles of any chain of boundaries from `level` up to DRAM at `tile`, every
    chain (strictly outward sequence of levels) enumerated."""
    widths = (False, True) if op is Operand.O else (False,)

    def cost(parent, child):
        return min(transfer_cycles(hw, layer, spatial, op, parent, child, tile, psum)
                   for psum in widths)  # fmt: skip

    best = math.inf
    for size in range(level):  # intermediate levels strictly between DRAM and `level`
        for middle in itertools.combinations(range(1, level), size):
            path = (level, *reversed(middle), 0)
            best = min(best, sum(cost(path[i + 1], path[i]) for i in range(len(path) - 1)))
    return 0.0 if level == 0 else best


@pytest.mark.parametrize("hw_name", ["tiny", "default_8core"])
def test_the_chain_table_is_the_cheapest_chain_of_boundaries_up_to_dram(hw_name):
    """The completion bound's cascades ahead (`tilechain_search`, "cascades ahead") use the
    cheapest chain of boundaries from an operand's current level up to DRAM: the tabulated
    shortest path equals the cheapest of every chain, enumerated."""
    hw = hardware(hw_name)
    layer = Layer("c3", R=3, S=3, P=8, Q=8, C=8, K=8, stride_h=2, stride_w=2, pad_top=1,
                  pad_bottom=1, pad_left=1, pad_right=1, input_h=16, input_w=16)  # fmt: skip
    rng = random.Random(3)
    cands = spatial_candidates(hw, layer)
    for cand in rng.sample(cands, 3):
        search = TileChainSearch(hw, layer, cand, "edp")
        chains = search.tables[9]
        for t in rng.sample(range(len(search.tiles)), min(6, len(search.tiles))):
            tile = dict(zip(search.dims, search.tiles[t], strict=True))
            for o, op in enumerate(OPERANDS):
                for level in range(len(OPERAND_LEVELS[op])):
                    expected = _chains_by_enumeration(hw, layer, cand.spatial, op, level, tile)
                    assert chains[o, level, t] == pytest.approx(expected, rel=1e-12)


def test_boundary_cycles_never_fall_as_the_tile_grows():
    """The premise of the cascades ahead: a boundary's cycles are non-decreasing in every
    extent of its tile (halos of strided, padded inputs included), for every operand, pair of
    levels and width, on random pairs of nested tiles."""
    hw = hardware("default_8core")
    layer = Layer("c3s2", R=3, S=3, P=14, Q=14, C=16, K=32, stride_h=2, stride_w=2, pad_top=1,
                  pad_bottom=1, pad_left=1, pad_right=1, input_h=28, input_w=28)  # fmt: skip
    rng = random.Random(11)
    cands = spatial_candidates(hw, layer)
    checked = 0
    for cand in rng.sample(cands, 4):
        dims = [d for d, _ in cand.temporal]
        for _ in range(40):
            small, large = {}, {}
            for dim, size in cand.temporal:
                outer = rng.choice(divisors(size))
                inner = rng.choice(divisors(outer))
                small[dim], large[dim] = inner, outer
            for op in OPERANDS:
                depth = len(OPERAND_LEVELS[op]) - 1
                for child in range(1, depth + 1):
                    for parent in range(child):
                        for psum in (False, True) if op is Operand.O else (False,):
                            a = transfer_cycles(hw, layer, cand.spatial, op, parent, child,
                                                small, psum)  # fmt: skip
                            b = transfer_cycles(hw, layer, cand.spatial, op, parent, child,
                                                large, psum)  # fmt: skip
                            assert a <= b, (op, parent, child, psum, small, large, dims)
                            checked += 1
    assert checked > 1000


@pytest.mark.parametrize(
    ("variant", "objective"),
    [(v, o) for v in ("compartment_depth=1", "cores=1", "ping_pong=on")
     for o in ("latency", "edp")],
)  # fmt: skip
def test_exact_optimum_equals_enumeration_at_other_hardware_points(variant, objective):
    """The completion bound (with its cascades ahead) never cuts off a candidate's optimum, at
    hardware points that change which levels and chains are used."""
    axis, text = variant.split("=")
    value = text == "on" if axis == "ping_pong" else int(text)
    hw = apply_variants(hardware("tiny"), {axis: value})
    layer = tiny_layer("conv1x1")
    for cand in sample_candidates(hw, layer, count=3, max_orders=150, seed=7):
        enumerated, complete = enumerate_candidate(hw, layer, cand, objective)
        assert complete
        result = certify_candidate(hw, layer, cand, objective)
        assert result.complete
        if enumerated.best is None:
            assert result.mapping is None
            continue
        assert result.best_value == pytest.approx(enumerated.best_value, rel=1e-9)


@pytest.mark.parametrize("hw_name", ["tiny", "default_8core"])
def test_no_random_mapping_has_a_cascade_below_the_chain_bound(hw_name):
    """The cascades ahead, checked on mappings directly: in random legal mappings, the
    boundaries of an operand from each of its used levels up to DRAM take at least the chain
    bound at that level's tile (the largest tile at which a search node uses it)."""
    hw = hardware(hw_name)
    layer = Layer("c3", R=3, S=3, P=8, Q=8, C=8, K=8, stride_h=2, stride_w=2, pad_top=1,
                  pad_bottom=1, pad_left=1, pad_right=1, input_h=16, input_w=16)  # fmt: skip
    rng = random.Random(5)
    searches: dict = {}
    checked = 0
    for _ in range(150):
        mapping = random_mapping(hw, layer, rng)
        if mapping.spatial not in searches:
            cand = candidate(hw, layer, mapping.spatial)
            searches[mapping.spatial] = TileChainSearch(hw, layer, cand, "latency")
        search = searches[mapping.spatial]
        chains = search.tables[9]
        boundaries = analyze(hw, layer, mapping).boundaries
        for o, op in enumerate(OPERANDS):
            depths = [level_depth(op, level) for level in mapping.placement[o]]
            above = 0.0  # cycles of the boundaries from this one's child up to DRAM
            for boundary in boundaries[op]:  # outermost first
                above += boundary.cycles
                child = level_depth(op, boundary.child)
                start = next((i for i, d in enumerate(depths) if d >= child), len(depths))
                extents = temporal_tile(mapping.loops, start)
                tile = search.tiles.index(tuple(extents.get(d, 1) for d in search.dims))
                assert above >= chains[o, child, tile] * (1 - 1e-12), (mapping, op, child)
                checked += 1
    assert checked > 300
