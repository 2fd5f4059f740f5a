"""search.mip: the fixed-order placement MIP against the exhaustive placement search.

For a fixed loop order `placement.best_placement` evaluates every Pareto-optimal combination of
operand placements, so it is the exact optimum the MIP must reach; and the MIP's predicted
latency and energy must be what `cost_model.evaluate` computes for the mapping it returns.
"""

from __future__ import annotations

import random
from functools import cache
from pathlib import Path

import pytest

from miredo_core.config import load_hardware, load_workload_yaml
from miredo_core.cost_model import evaluate
from miredo_core.hardware import Axis, Hardware, Level
from miredo_core.kinds import objective_value
from miredo_core.mapping import Loop
from miredo_core.search.baselines import random_mapping, weight_stationary
from miredo_core.search.mip import solve_placement_mip
from miredo_core.search.placement import OBJECTIVES, FixedOrder, best_placement
from miredo_core.variants import with_buffer_size
from miredo_core.workload import Dim, Layer
from miredo_core.zoo import get_network

REPO_ROOT = Path(__file__).resolve().parent.parent
HARDWARE_DIR = REPO_ROOT / "sample_configs" / "hardware"

SOLVERS = ("highs", "cbc")

#: (hardware, layer, random orders besides the WS order): small layers on tiny.yaml, one on
#: tiny.yaml with a 1 Kib global buffer (the shared-capacity constraint binds), and two
#: ResNet-18 layers on default_8core.yaml.
CASES = [
    ("tiny", "conv3x3", 2),
    ("tiny", "conv1x1", 2),
    ("tiny", "depthwise3x3", 2),
    ("tiny_small_gb", "conv1x1", 1),
    ("default", "Conv_1", 1),
    ("default", "Conv_17", 1),
]
ORDER_IDS = [
    (hw, layer, index) for hw, layer, randoms in CASES for index in range(1 + randoms)
]  # index 0: the WS order


@cache
def hardware(name: str) -> Hardware:
    if name == "tiny_small_gb":
        return with_buffer_size(hardware("tiny"), Level.GLOBAL_BUFFER, 1024)
    file = "tiny.yaml" if name == "tiny" else "default_8core.yaml"
    return load_hardware(HARDWARE_DIR / file)


@cache
def layer_named(name: str) -> Layer:
    tiny = load_workload_yaml(REPO_ROOT / "sample_configs" / "workloads" / "tiny_layers.yaml")
    layers = {layer.name: layer for layer in (*tiny.layers, *get_network("resnet18").layers)}
    return layers[name]


@cache
def orders(hw_name: str, layer_name: str) -> tuple[FixedOrder, ...]:
    """The WS order, then random orders (at most 8 loops) of seeded random valid mappings."""
    hw, layer = hardware(hw_name), layer_named(layer_name)
    ws = weight_stationary(hw, layer)
    found = [FixedOrder(ws.spatial, ws.loops)]
    randoms = dict(((h, n), r) for h, n, r in CASES)[(hw_name, layer_name)]
    rng = random.Random(f"{hw_name}-{layer_name}")
    while len(found) < 1 + randoms:
        mapping = random_mapping(hw, layer, rng)
        if 2 <= len(mapping.loops) <= 8:
            found.append(FixedOrder(mapping.spatial, mapping.loops))
    return tuple(found)


@cache
def exact_value(hw_name: str, layer_name: str, index: int, objective: str) -> float:
    """The objective of best_placement's mapping for the order, as evaluate() computes it."""
    hw, layer = hardware(hw_name), layer_named(layer_name)
    result = best_placement(hw, layer, orders(hw_name, layer_name)[index], objective)
    return objective_value(evaluate(hw, layer, result.mapping), objective)


def relative(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize(("hw_name", "layer_name", "index"), ORDER_IDS)
def test_mip_reaches_the_exact_placement_optimum(hw_name, layer_name, index, objective, solver):
    hw, layer = hardware(hw_name), layer_named(layer_name)
    order = orders(hw_name, layer_name)[index]
    solution = solve_placement_mip(hw, layer, order, objective, solver)
    assert solution.status == "optimal"
    assert solution.mapping is not None and solution.solves >= 1
    assert (solution.mapping.spatial, solution.mapping.loops) == (order.spatial, order.loops)
    cost = evaluate(hw, layer, solution.mapping)
    value = objective_value(cost, objective)
    assert relative(value, exact_value(hw_name, layer_name, index, objective)) <= 1e-9
    # Predicted == evaluated: the MIP's coefficients are the cost model's own.
    assert relative(solution.predicted_latency_cycles, cost.latency_cycles) <= 1e-6
    assert relative(solution.predicted_energy_pj, cost.energy_pj) <= 1e-6
    assert solution.objective_bound <= value * (1 + 1e-6)


def test_unknown_solver_is_rejected() -> None:
    hw, layer = hardware("tiny"), layer_named("conv1x1")
    with pytest.raises(ValueError, match="unknown solver 'gurobi'"):
        solve_placement_mip(hw, layer, orders("tiny", "conv1x1")[0], "latency", "gurobi")


def test_operand_without_any_placement_is_infeasible_without_a_solve() -> None:
    """16-bit inputs never fit tiny.yaml's 8-bit input registers, so I has no placement."""
    layer = Layer("wide_inputs", P=2, C=2, K=2, input_bits=16)
    order = FixedOrder(((Axis.ROWS, Dim.C, 2), (Axis.COLUMNS, Dim.K, 2)), (Loop(Dim.P, 2),))
    solution = solve_placement_mip(hardware("tiny"), layer, order, "latency")
    assert solution.status == "infeasible"
    assert solution.mapping is None and solution.solves == 0


def test_unknown_objective_is_rejected() -> None:
    hw, layer = hardware("tiny"), layer_named("conv1x1")
    with pytest.raises(ValueError, match="throughput"):
        solve_placement_mip(hw, layer, orders("tiny", "conv1x1")[0], "throughput")


#: A Conv_10 order on default_8core.yaml whose latency optimum (2503714 cycles) has a
#: lower-energy neighbour one cycle slower.
CONV10_ORDER = FixedOrder(
    spatial=(
        (Axis.CORES, Dim.K, 4),
        (Axis.ROWS, Dim.C, 4),
        (Axis.ROWS, Dim.R, 3),
        (Axis.COLUMNS, Dim.K, 16),
    ),
    loops=tuple(Loop(Dim(t[0]), int(t[1:])) for t in "Q14 K2 K2 C8 P7 S3 P2 C2 C2".split()),
)


@pytest.mark.parametrize("solver", SOLVERS)
def test_energy_tie_break_never_costs_latency(solver: str) -> None:
    hw, layer = hardware("default"), layer_named("Conv_10")
    solution = solve_placement_mip(hw, layer, CONV10_ORDER, "latency", solver)
    exact = best_placement(hw, layer, CONV10_ORDER, "latency")
    assert evaluate(hw, layer, exact.mapping).latency_cycles == 2503714
    assert solution.status == "optimal"
    assert evaluate(hw, layer, solution.mapping).latency_cycles == 2503714
