"""search.engine (solve_layer) and the "mip" mapper of network.map_network.

The engine is checked against the exhaustive oracle on tiny layers, against the WS baseline on
every ResNet-18 layer shape, for honest statuses (optimal / best_found / infeasible), and for
predicted == evaluated on every MIP re-solve it runs.
"""

from __future__ import annotations

import json
import math
import threading
from functools import cache
from pathlib import Path

import pytest

from miredo_core.config import load_hardware, load_workload_yaml
from miredo_core.cost_model import evaluate
from miredo_core.hardware import Hardware
from miredo_core.kinds import objective_value
from miredo_core.network import map_layer, map_network
from miredo_core.results import SEARCH_COLUMNS
from miredo_core.search.baselines import weight_stationary
from miredo_core.search.engine import PRESETS, MappingResult, SolveOptions, solve_layer
from miredo_core.search.heuristic import count_orders, search_candidate
from miredo_core.search.oracle import exhaustive_search
from miredo_core.search.spatial import spatial_candidates
from miredo_core.workload import Layer, Network
from miredo_core.zoo import get_network

REPO_ROOT = Path(__file__).resolve().parent.parent
HARDWARE_DIR = REPO_ROOT / "sample_configs" / "hardware"
TINY_WORKLOAD = REPO_ROOT / "sample_configs" / "workloads" / "tiny_layers.yaml"

BALANCED = SolveOptions(preset="balanced")
INTERACTIVE = SolveOptions(preset="interactive")
#: Certified latency optima of ResNet-18 shapes on default_8core (bench/certify.py).
CERTIFIED_LATENCY = {
    entry["layer"]: entry["value"]
    for entry in json.loads(
        (Path(__file__).resolve().parent / "data" / "resnet18_certified.json").read_text()
    )["optima"]
    if entry["objective"] == "latency"
}

#: (tiny layer, objective, solver) where the oracle runs in about a second. The solver only
#: changes the final MIP re-solve, so CBC is exercised on a few cases only.
ORACLE_CASES = [
    ("conv1x1", "latency", "highs"),
    ("conv1x1", "latency", "cbc"),
    ("conv1x1", "energy", "highs"),
    ("conv1x1", "edp", "highs"),
    ("matmul", "latency", "highs"),
    ("matmul", "energy", "highs"),
    ("matmul", "energy", "cbc"),
    ("matmul", "edp", "cbc"),
    ("depthwise3x3", "latency", "highs"),
    ("conv3x3_stride2", "latency", "highs"),
]


def first_of_each_shape(network: Network) -> list[str]:
    """The first layer of every group of identically shaped layers (one mapping problem each)."""
    first: dict[tuple, str] = {}
    for layer in network.layers:
        first.setdefault(layer.shape_key(), layer.name)
    return list(first.values())


RESNET18_SHAPES = first_of_each_shape(get_network("resnet18"))


@cache
def hardware(name: str) -> Hardware:
    return load_hardware(HARDWARE_DIR / f"{name}.yaml")


@cache
def tiny_workload() -> Network:
    return load_workload_yaml(TINY_WORKLOAD)


@cache
def layer_named(name: str) -> Layer:
    layers = (*tiny_workload().layers, *get_network("resnet18").layers)
    return next(layer for layer in layers if layer.name == name)


@cache
def oracle_value(layer_name: str, objective: str) -> float:
    return exhaustive_search(hardware("tiny"), layer_named(layer_name), objective).value


@cache
def interactive_latency(layer_name: str) -> MappingResult:
    return solve_layer(hardware("default_8core"), layer_named(layer_name), "latency", INTERACTIVE)


def relative(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def assert_predicted_is_evaluated(result: MappingResult) -> None:
    """The MIP re-solve predicted exactly what the cost model reports for the mapping."""
    assert result.mip_status in ("optimal", "feasible")
    assert relative(result.predicted_latency_cycles, result.cost.latency_cycles) <= 1e-6
    assert relative(result.predicted_energy_pj, result.cost.energy_pj) <= 1e-6


def assert_well_formed(hw: Hardware, result: MappingResult, gap_tolerance: float) -> None:
    assert result.mapping is not None and result.cost is not None
    cost = evaluate(hw, result.layer, result.mapping)
    assert result.cost.latency_cycles == cost.latency_cycles
    assert result.value == objective_value(cost, result.objective)
    assert 0 < result.lower_bound <= result.value
    assert result.gap == pytest.approx((result.value - result.lower_bound) / result.value)
    assert 0 <= result.gap < 1
    within = result.gap <= gap_tolerance * (1 + 1e-9) + 1e-9
    assert result.status == ("optimal" if within else "best_found")
    assert result.candidates_total == len(spatial_candidates(hw, result.layer))
    assert 0 <= result.candidates_pruned <= result.candidates_total


@pytest.mark.parametrize(("layer_name", "objective", "solver"), ORACLE_CASES)
def test_engine_reaches_the_oracle_on_tiny_layers(layer_name, objective, solver) -> None:
    hw, layer = hardware("tiny"), layer_named(layer_name)
    options = SolveOptions(preset="balanced", solver=solver)
    result = solve_layer(hw, layer, objective, options)
    assert relative(result.value, oracle_value(layer_name, objective)) <= 1e-9
    # Small layers are enumerated completely, which certifies the optimum.
    assert result.status == "optimal"
    assert result.gap == 0.0 and result.lower_bound == result.value
    assert_well_formed(hw, result, options.gap_tolerance)
    assert_predicted_is_evaluated(result)
    assert result.mip_status == "optimal"


def test_a_solver_that_fails_in_the_mip_re_solve_hands_it_to_the_other(monkeypatch) -> None:
    """HiGHS gives up inside some MIP re-solves of large GEMM shapes; the engine then re-solves
    the order with CBC, so the answer still has a proven placement and predicted figures."""
    from miredo_core.search import engine, mip

    real = mip.solve_placement_mip
    tried = []

    def highs_fails(hw, layer, order, objective, solver, *args, **kwargs):
        tried.append(solver)
        if solver == "highs":
            raise mip.MipError("highs failed: Unknown error in call to HiGHS.")
        return real(hw, layer, order, objective, solver, *args, **kwargs)

    monkeypatch.setattr(engine, "solve_placement_mip", highs_fails)
    hw, layer = hardware("tiny"), layer_named(ORACLE_CASES[0][0])
    result = solve_layer(hw, layer, "edp", SolveOptions(preset="interactive", solver="highs"))
    assert tried[:2] == ["highs", "cbc"]
    assert result.mip_status == "optimal"
    assert_predicted_is_evaluated(result)


#: The shapes whose never-worse-than-WS check runs by default: the stem, the first 3x3 conv
#: (the short-budget test below reuses its cached solve), the last conv and the fc head.
DEFAULT_RUN_SHAPES = frozenset({"Conv_0", "Conv_1", "Conv_17", "fc"})


@pytest.mark.parametrize(
    "layer_name",
    [name if name in DEFAULT_RUN_SHAPES else pytest.param(name, marks=pytest.mark.slow)
     for name in RESNET18_SHAPES],
)  # fmt: skip
def test_engine_is_never_worse_than_weight_stationary(layer_name: str) -> None:
    hw, layer = hardware("default_8core"), layer_named(layer_name)
    result = interactive_latency(layer_name)
    ws = evaluate(hw, layer, weight_stationary(hw, layer))
    assert result.value <= ws.latency_cycles
    assert_well_formed(hw, result, INTERACTIVE.gap_tolerance)
    assert_predicted_is_evaluated(result)
    # The interactive budget is work, not time: its order search stays within its evaluations,
    # the complete enumeration of small searched candidates and the allowance for the rest.
    budget = PRESETS["interactive"]
    most = budget.evaluations + budget.enumeration_evaluations
    most += (budget.candidates + 1) * budget.exhaustive_orders
    assert result.orders_evaluated <= most
    # Each dive stops at its node budget (the node at which it stops is counted, then left open).
    assert result.certify_nodes <= budget.dive_candidates * (budget.dive_nodes + 1)


def test_interactive_dives_reach_the_optimum_the_order_search_misses() -> None:
    # Conv_11 (3x3, C256 K256 14x14): its best mappings interleave split K, C and P loops; the
    # order search alone stopped 13.6 % above the certified optimum, the dives reach it.
    result = interactive_latency("Conv_11")
    assert result.certify_nodes > 0
    assert CERTIFIED_LATENCY["Conv_11"] <= result.value <= 1.01 * CERTIFIED_LATENCY["Conv_11"]
    assert result.lower_bound <= CERTIFIED_LATENCY["Conv_11"]
    assert_predicted_is_evaluated(result)


def test_probes_lift_the_open_candidates_to_the_probe_gap_without_passing_the_optimum() -> None:
    """Balanced's probes (engine step 3) raise every open candidate's bound below 0.8 and then
    0.9 x the incumbent to at least that, and the layer's bound stays below the certified
    optimum."""
    from miredo_core.search import engine
    from miredo_core.search.stopping import NEVER

    hw, layer = hardware("default_8core"), layer_named("Conv_17")
    start = interactive_latency("Conv_17")
    ordered = spatial_candidates(hw, layer, "latency")
    open_bounds = {c: c.bound("latency") for c in ordered if c.bound("latency") < start.value}
    assert min(open_bounds.values()) < 0.9 * start.value  # there is something to lift
    problem = (hw, layer, "latency", BALANCED, ordered, None, NEVER)
    tally = {"nodes": 0}
    mapping, value = engine._probe(problem, PRESETS["balanced"], start.mapping, start.value,
                                   open_bounds, tally)  # fmt: skip
    assert 0 < tally["nodes"] <= PRESETS["balanced"].probe_nodes
    assert value <= start.value
    if value < start.value:
        assert objective_value(evaluate(hw, layer, mapping), "latency") == value
    assert min(open_bounds.values()) >= 0.9 * value
    assert min(value, *open_bounds.values()) <= CERTIFIED_LATENCY["Conv_17"]


@pytest.mark.slow
def test_balanced_probes_bring_a_many_core_edp_gap_to_ten_percent() -> None:
    # ResNet-18 Conv_1 on 16 cores, EDP: without probes balanced proves a 22.5 % gap (six
    # candidates' floors hold the bound down); the probes lift them to 0.9 x its value.
    from miredo_core.variants import apply_variant

    hw = apply_variant(hardware("default_8core"), "cores", 16)
    result = solve_layer(hw, layer_named("Conv_1"), "edp", SolveOptions(preset="balanced",
                                                                       workers=1))  # fmt: skip
    assert result.gap <= 0.1 + 1e-9
    assert_well_formed(hw, result, 0.01)


class _CountingStop:
    """A stop signal that only counts how often the search polls it (a backstop: it fires
    after `limit` polls, so a search that would never end fails instead of hanging)."""

    def __init__(self, limit: int) -> None:
        self.polls, self.limit = 0, limit

    def __call__(self) -> bool:
        self.polls += 1
        return self.polls > self.limit


def test_an_order_search_with_more_budget_than_orders_ends_on_its_own() -> None:
    # depthwise 3x3 G8 on 2x2: every candidate has fewer reachable orders than the budget, so
    # most moves land on orders already scored, which cost no evaluation.
    hw = hardware("tiny")
    layer = Layer("dw", R=3, S=3, P=2, Q=2, G=8, pad_top=1, pad_bottom=1, pad_left=1,
                  pad_right=1)  # fmt: skip
    for cand in spatial_candidates(hw, layer):
        stop = _CountingStop(limit=100_000)
        state = search_candidate(hw, layer, cand, "energy", max_evaluations=10_000, stop=stop)
        assert stop.polls <= stop.limit, f"search of {cand.spatial} did not end by itself"
        assert state.evaluations <= count_orders(cand.temporal)
        assert state.best is not None


def test_big_layer_in_a_short_budget_is_best_found_with_an_honest_gap() -> None:
    result = interactive_latency("Conv_1")
    assert result.status == "best_found"
    assert 0 < result.gap < 1 and result.lower_bound < result.value
    # One of each pair of transposed twins among its 1,744 spatial unrollings.
    assert result.candidates_total == 988


def test_time_limit_stops_early_and_says_so() -> None:
    hw = hardware("default_8core")
    result = solve_layer(hw, layer_named("Conv_1"), "latency", SolveOptions(time_limit_s=0.5))
    assert result.status == "stopped" and result.mapping is not None
    assert result.reason == "stopped by time limit"
    assert 0 < result.gap < 1 and 0 < result.lower_bound <= result.value
    cost = evaluate(hw, result.layer, result.mapping)
    assert result.value == objective_value(cost, "latency")


class CancelAfter:
    """A cancel event that is set after its `is_set` was asked `polls` times."""

    def __init__(self, polls: int):
        self.polls = polls

    def is_set(self) -> bool:
        self.polls -= 1
        return self.polls < 0


@pytest.mark.parametrize("polls", [0, 3, 40])
def test_a_cancelled_solve_is_stopped_with_its_best_mapping_and_a_proven_bound(polls) -> None:
    hw, layer = hardware("default_8core"), layer_named("Conv_16")
    result = solve_layer(hw, layer, "latency", SolveOptions(preset="thorough", workers=1),
                         cancel=CancelAfter(polls))  # fmt: skip
    assert result.status == "stopped" and result.reason == "stopped by cancelled"
    assert result.mapping is not None  # never worse than weight stationary
    ws = evaluate(hw, layer, weight_stationary(hw, layer))
    assert result.value <= ws.latency_cycles
    # Its bound is proven: no certified optimum lies below it.
    assert 0 < result.lower_bound <= CERTIFIED_LATENCY["Conv_16"] <= result.value


def test_layer_without_any_legal_mapping_is_infeasible_with_a_reason() -> None:
    """16-bit inputs never fit tiny.yaml's 8-bit input registers."""
    layer = Layer("wide_inputs", P=2, C=2, K=2, input_bits=16)
    result = solve_layer(hardware("tiny"), layer, "latency", INTERACTIVE)
    assert result.status == "infeasible"
    assert result.reason
    assert result.mapping is None and result.cost is None and math.isnan(result.value)


WIDE_WEIGHTS = Layer("wide_weights", P=4, Q=4, C=8, K=4, weight_bits=16)


def test_weights_wider_than_the_macro_cells_are_infeasible() -> None:
    result = solve_layer(hardware("default_8core"), WIDE_WEIGHTS, "latency", INTERACTIVE)
    assert result.status == "infeasible"
    assert "16-bit weights" in result.reason
    assert result.mapping is None


def test_mip_mapper_reports_wide_weights_as_an_infeasible_layer() -> None:
    result = map_layer(hardware("default_8core"), WIDE_WEIGHTS, mapper="mip", options=INTERACTIVE)
    assert result.status == "infeasible"
    assert "16-bit weights" in result.reason and result.cost is None


def test_invalid_objective_and_options_are_rejected() -> None:
    hw, layer = hardware("tiny"), layer_named("conv1x1")
    with pytest.raises(ValueError, match="unknown objective 'throughput'"):
        solve_layer(hw, layer, "throughput")
    with pytest.raises(ValueError, match="unknown preset 'fast'"):
        SolveOptions(preset="fast")
    with pytest.raises(ValueError, match="time limit must be positive"):
        SolveOptions(time_limit_s=0)
    with pytest.raises(ValueError, match="unknown objective"):
        map_network(hw, tiny_workload(), "throughput", "mip")


@pytest.fixture(scope="module")
def serial_network_result():
    return map_network(hardware("tiny"), tiny_workload(), "latency", "mip", options=BALANCED)


def test_mip_mapper_fills_the_search_columns(serial_network_result) -> None:
    frame = serial_network_result.to_frame()
    assert list(frame["layer"]) == [layer.name for layer in tiny_workload().layers]
    assert set(frame["status"]) <= {"optimal", "best_found"}
    for column in SEARCH_COLUMNS:
        assert frame[column].notna().all(), column
    for _, row in frame.iterrows():
        assert relative(row["predicted_latency_cycles"], row["latency_cycles"]) <= 1e-6
        assert relative(row["predicted_energy_pj"], row["energy_pj"]) <= 1e-6
        assert 0 < row["lower_bound"] <= row["latency_cycles"]
        assert 0 <= row["gap"] < 1
        assert 0 <= row["candidates_pruned"] <= row["candidates_total"]
    for result in serial_network_result.layer_results:
        assert result.search.candidates_total == len(
            spatial_candidates(hardware("tiny"), result.layer)
        )


@pytest.mark.slow
def test_parallel_mapping_gives_the_serial_mappings(serial_network_result) -> None:
    parallel = map_network(
        hardware("tiny"), tiny_workload(), "latency", "mip", options=BALANCED, jobs=2
    )
    serial = serial_network_result.layer_results
    assert [r.layer.name for r in parallel.layer_results] == [r.layer.name for r in serial]
    assert [r.status for r in parallel.layer_results] == [r.status for r in serial]
    assert [r.mapping for r in parallel.layer_results] == [r.mapping for r in serial]


def test_cancel_before_the_first_layer_cancels_every_layer() -> None:
    result = map_network(
        hardware("tiny"), tiny_workload(), "latency", "mip", options=BALANCED, cancel=lambda: True
    )
    assert [r.status for r in result.layer_results] == ["cancelled"] * len(tiny_workload().layers)
    assert all(r.cost is None and r.reason for r in result.layer_results)
    frame = result.to_frame()
    assert (frame["status"] == "cancelled").all()
    assert frame["gap"].isna().all()


def test_cancel_after_the_first_layer_keeps_its_result() -> None:
    stop = threading.Event()

    def progress(done: int, total: int, text: str) -> None:
        stop.set()  # the user cancels once the first layer is reported

    network = Network("two", (layer_named("conv1x1"), layer_named("matmul")))
    result = map_network(
        hardware("tiny"), network, "latency", "mip", options=BALANCED, progress=progress,
        cancel=stop,
    )  # fmt: skip
    assert [r.status for r in result.layer_results] == ["optimal", "cancelled"]


@pytest.mark.parametrize(
    ("hw_name", "layer_name", "objective"),
    [pytest.param("tiny", "conv3x3", "edp", marks=pytest.mark.slow),
     ("default_8core", "Conv_17", "latency")],
)  # fmt: skip
def test_presets_are_monotone(hw_name, layer_name, objective) -> None:
    """Each preset starts from the cheaper one's answer: thorough is never worse than balanced,
    balanced never worse than interactive, and the proven bounds only rise."""
    hw, layer = hardware(hw_name), layer_named(layer_name)
    results = [solve_layer(hw, layer, objective, SolveOptions(preset=preset, workers=1))
               for preset in ("interactive", "balanced", "thorough")]  # fmt: skip
    for cheaper, dearer in zip(results, results[1:], strict=False):
        assert dearer.value <= cheaper.value
        assert dearer.lower_bound >= cheaper.lower_bound * (1 - 1e-12)


def test_the_same_inputs_give_the_same_answer() -> None:
    """Budgets are work, not time: two solves agree exactly (the dashboard and CLI rely on it)."""
    hw, layer = hardware("default_8core"), layer_named("Conv_12")
    first, second = (solve_layer(hw, layer, "latency", INTERACTIVE) for _ in range(2))
    assert (first.mapping, first.lower_bound, first.status) == (
        second.mapping,
        second.lower_bound,
        second.status,
    )


def test_candidates_past_the_ws_value_keep_their_quick_floor_without_changing_the_answer(
    monkeypatch,
) -> None:
    """A solve bounds fully only the candidates whose quick floor is within the WS value; with
    every candidate bounded fully it gives the same mapping, value, bound and status."""
    import miredo_core.search.engine as engine

    hw, layer = hardware("default_8core"), layer_named("Conv_17")
    ws_value = objective_value(evaluate(hw, layer, weight_stationary(hw, layer)), "edp")
    quick = [c for c in spatial_candidates(hw, layer, "edp", cutoff=ws_value)
             if c not in spatial_candidates(hw, layer)]  # fmt: skip
    assert quick and all(c.bound("edp") > ws_value for c in quick)
    cut = solve_layer(hw, layer, "edp", INTERACTIVE)
    monkeypatch.setattr(engine, "spatial_candidates", lambda hw, layer, *_, **__:
                        spatial_candidates(hw, layer))  # fmt: skip
    full = solve_layer(hw, layer, "edp", INTERACTIVE)
    assert (cut.mapping, cut.value, cut.lower_bound, cut.status) == (
        full.mapping, full.value, full.lower_bound, full.status)  # fmt: skip
