"""search.placement (the fast evaluator), its Pareto filter, and the factor / order helpers.

The fast evaluator must agree exactly with `cost_model.evaluate`: both implement the same
latency recursion and energy sum, one per mapping, one vectorized over operand combinations.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest

from miredo_core.config import load_hardware, load_workload_yaml
from miredo_core.cost_model import evaluate, latency_from_profiles
from miredo_core.hardware import Axis, Hardware, Level
from miredo_core.kinds import objective_value
from miredo_core.mapping import InfeasibleMappingError, Mapping
from miredo_core.search.baselines import random_mapping, weight_stationary
from miredo_core.search.factors import divisors, factorizations, prime_factors
from miredo_core.search.heuristic import all_orders, count_orders
from miredo_core.search.placement import (
    OBJECTIVES,
    PROFILE_FIELDS,
    FixedOrder,
    PlacementCache,
    PlacementOption,
    _path_table,
    _suffix_tiles,
    batch_latency,
    best_placement,
    mapping_from_options,
    operand_options,
    pareto_options,
    placement_options,
)
from miredo_core.variants import with_buffer_size
from miredo_core.workload import OPERANDS, Dim, Layer, Operand
from miredo_core.zoo import get_network

#: Option triples sampled per order for the exact-agreement check.
TRIPLES_PER_ORDER = 50
#: Sampled triples whose every combination batch_latency evaluates at once.
GRID_TRIPLES = 8

#: (hardware, layer, seed): tiny.yaml layers, tiny.yaml with a 1 Kib global buffer (so that
#: combinations can overflow it), and ResNet-18 layers on default_8core.yaml.
CASES = [
    ("tiny", "conv3x3", 11),
    ("tiny", "matmul", 12),
    ("tiny", "conv3x3_stride2", 13),
    ("tiny_small_gb", "conv1x1", 14),
    ("tiny_small_gb", "depthwise3x3", 15),
    ("default", "Conv_7", 16),
    ("default", "Conv_17", 17),
    ("default", "fc", 18),
]
CASE_IDS = [f"{hw}-{layer}" for hw, layer, _ in CASES]


@pytest.fixture(scope="module")
def hardware(tiny_hardware: Hardware, sample_hardware_dir: Path) -> dict[str, Hardware]:
    return {
        "tiny": tiny_hardware,
        "tiny_small_gb": with_buffer_size(tiny_hardware, Level.GLOBAL_BUFFER, 1024),
        "default": load_hardware(sample_hardware_dir / "default_8core.yaml"),
    }


@pytest.fixture(scope="module")
def layers(repo_root: Path) -> dict[str, Layer]:
    tiny = load_workload_yaml(repo_root / "sample_configs" / "workloads" / "tiny_layers.yaml")
    return {layer.name: layer for layer in (*tiny.layers, *get_network("resnet18").layers)}


def random_orders(hw: Hardware, layer: Layer, seed: int, count: int = 2, max_loops: int = 7):
    """`count` random valid mappings with at most `max_loops` temporal loops, each with its
    order (spatial unrolling + loops) as a FixedOrder."""
    rng = random.Random(seed)
    found: list[tuple[Mapping, FixedOrder]] = []
    while len(found) < count:
        mapping = random_mapping(hw, layer, rng)
        if 2 <= len(mapping.loops) <= max_loops:
            found.append((mapping, FixedOrder(mapping.spatial, mapping.loops)))
    return found


@pytest.fixture(scope="module")
def orders(hardware, layers) -> dict[str, tuple[Hardware, Layer, list]]:
    return {
        case_id: (hardware[hw], layers[name], random_orders(hardware[hw], layers[name], seed))
        for case_id, (hw, name, seed) in zip(CASE_IDS, CASES, strict=True)
    }


def fast_value(latency: float, energy: float, objective: str) -> float:
    return {"latency": latency, "energy": energy, "edp": latency * energy}[objective]


def relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def sample_triples(options: dict[Operand, list[PlacementOption]], rng: random.Random):
    return [{op: rng.choice(options[op]) for op in OPERANDS} for _ in range(TRIPLES_PER_ORDER)]


def combination_energy(hw: Hardware, layer: Layer, order: FixedOrder, chosen, latency) -> float:
    """Memory energy of the chosen options + MAC energy + leakage (cost_model's energy sum)."""
    cores = math.prod(f for a, _, f in order.spatial if a is Axis.CORES)
    mac = hw.macro.activation_energy_pj(layer.input_bits) * math.prod(order.factors) * cores
    return sum(chosen[op].energy_pj for op in OPERANDS) + mac + hw.leakage_pj_per_cycle * latency


def check_triples(hw: Hardware, layer: Layer, order: FixedOrder, triples) -> int:
    """Assert that latency_from_profiles, batch_latency and the energy sum of every option triple
    equal evaluate() of the mapping it decodes to, and that a triple is infeasible exactly when
    its global-buffer footprint overflows; return how many overflowed."""
    pass_cycles = hw.macro.pass_cycles(layer.input_bits)
    expected, overflowing = [], 0
    for chosen in triples:
        mapping = mapping_from_options(order, chosen)
        for op in OPERANDS:
            assert mapping.levels_of(op) == chosen[op].levels
        profiles = {op: chosen[op].profile for op in OPERANDS}
        parts = latency_from_profiles(order.factors, pass_cycles, profiles)
        expected.append(parts.latency_cycles)
        if sum(chosen[op].gb_bits for op in OPERANDS) > hw.global_buffer.size_bits:
            overflowing += 1
            with pytest.raises(InfeasibleMappingError, match="global_buffer"):
                evaluate(hw, layer, mapping)
            continue
        cost = evaluate(hw, layer, mapping)
        assert cost.latency_parts == parts
        energy = combination_energy(hw, layer, order, chosen, parts.latency_cycles)
        assert relative(energy, cost.energy_pj) <= 1e-9
    # The grid of the first sampled options: triple k sits on the diagonal [k, k, k].
    head = triples[:GRID_TRIPLES]
    grid = batch_latency(
        order.factors, pass_cycles, {op: [c[op].profile for c in head] for op in OPERANDS}
    )
    assert grid.shape == (len(head),) * 3
    np.testing.assert_array_equal(np.einsum("iii->i", grid), expected[: len(head)])
    # Off the diagonal, each axis indexes its own operand.
    mixed = {op: triples[k][op].profile for k, op in enumerate(OPERANDS)}
    assert grid[0, 1, 2] == latency_from_profiles(order.factors, pass_cycles, mixed).latency_cycles
    return overflowing


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_sampled_combinations_agree_exactly_with_evaluate(orders, case_id: str) -> None:
    hw, layer, cases = orders[case_id]
    rng = random.Random(case_id)
    for _, order in cases:
        check_triples(hw, layer, order, sample_triples(placement_options(hw, layer, order), rng))


@pytest.mark.parametrize("case_id", [c for c in CASE_IDS if c.startswith("tiny_small_gb")])
def test_unfiltered_combinations_agree_and_overflow_exactly_when_full(orders, case_id) -> None:
    hw, layer, cases = orders[case_id]
    rng = random.Random(case_id)
    overflowing = 0
    for _, order in cases:
        raw = {op: operand_options(hw, layer, order, op) for op in OPERANDS}
        overflowing += check_triples(hw, layer, order, sample_triples(raw, rng))
    assert overflowing, "no sampled combination overflowed the 1 Kib global buffer"


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_best_placement_reports_what_evaluate_computes(orders, case_id, objective) -> None:
    hw, layer, cases = orders[case_id]
    for _, order in cases:
        result = best_placement(hw, layer, order, objective)
        assert result is not None
        assert result.mapping.spatial == order.spatial and result.mapping.loops == order.loops
        cost = evaluate(hw, layer, result.mapping)
        assert relative(result.latency_cycles, cost.latency_cycles) <= 1e-9
        assert relative(result.energy_pj, cost.energy_pj) <= 1e-9
        assert result.combinations >= 1


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_best_placement_is_never_worse_than_the_random_placement(orders, case_id, objective):
    hw, layer, cases = orders[case_id]
    for mapping, order in cases:
        own = objective_value(evaluate(hw, layer, mapping), objective)
        result = best_placement(hw, layer, order, objective)
        assert fast_value(result.latency_cycles, result.energy_pj, objective) <= own * (1 + 1e-9)


def test_best_placement_is_never_worse_than_weight_stationary(tiny_hardware, layers) -> None:
    for name in ("conv3x3", "conv1x1", "depthwise3x3", "matmul", "conv3x3_stride2"):
        layer = layers[name]
        mapping = weight_stationary(tiny_hardware, layer)
        order = FixedOrder(mapping.spatial, mapping.loops)
        for objective in OBJECTIVES:
            own = objective_value(evaluate(tiny_hardware, layer, mapping), objective)
            result = best_placement(tiny_hardware, layer, order, objective)
            assert fast_value(result.latency_cycles, result.energy_pj, objective) <= own * (
                1 + 1e-9
            )


def option_vector(option: PlacementOption) -> np.ndarray:
    profile = option.profile
    entries = [value for field in PROFILE_FIELDS for value in getattr(profile, field)]
    return np.array(
        [*entries, profile.cascade, option.energy_pj, option.gb_bits],
        dtype=float,
    )


#: Tiny cases for the unfiltered comparison (every raw combination is evaluated).
PARETO_CASES = CASE_IDS[:5]


@pytest.mark.parametrize("case_id", PARETO_CASES)
def test_pareto_filter_keeps_exactly_the_non_dominated_options(orders, case_id: str) -> None:
    hw, layer, cases = orders[case_id]
    for _, order in cases:
        for op in OPERANDS:
            raw = operand_options(hw, layer, order, op)
            kept = pareto_options(raw)
            assert all(any(k is r for r in raw) for k in kept)
            raw_vectors = [option_vector(o) for o in raw]
            kept_vectors = [option_vector(o) for o in kept]
            # Every dropped option is matched or beaten in every entry by a kept one.
            for vector in raw_vectors:
                assert any(np.all(k <= vector) for k in kept_vectors)
            # No kept option is dominated by (or a duplicate of) another kept one.
            for i, vector in enumerate(kept_vectors):
                for j, other in enumerate(kept_vectors):
                    if i != j:
                        assert not np.all(other <= vector)


@pytest.mark.parametrize("seed", range(8))
def test_the_compiled_pareto_filter_drops_exactly_what_its_rule_drops(seed: int) -> None:
    """Random small-integer vectors (many ties and exact duplicates): a row is dropped exactly
    when a row before it in (sum, index) order is <= it everywhere."""
    from miredo_core.search.placement import pareto_dropped

    rng = np.random.default_rng(seed)
    vectors = rng.integers(0, 3, size=(int(rng.integers(1, 60)), int(rng.integers(1, 6))))
    vectors = vectors.astype(float)
    order = sorted(range(len(vectors)), key=lambda r: (vectors[r].sum(), r))
    rank = {row: position for position, row in enumerate(order)}
    expected = [any(rank[i] < rank[j] and np.all(vectors[i] <= vectors[j])
                    for i in range(len(vectors))) for j in range(len(vectors))]  # fmt: skip
    assert pareto_dropped(vectors).tolist() == expected


def option_facts(option: PlacementOption) -> tuple:
    return (option.levels, option.double_buffered, option.boundaries, option.profile,
            option.energy_pj, option.gb_bits)  # fmt: skip


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_a_cache_shared_by_the_orders_of_one_unrolling_changes_no_option(orders, case_id) -> None:
    """Options built through one PlacementCache for many orders of the same spatial unrolling
    (shuffled and regrouped loops) equal those built from scratch for each order."""
    hw, layer, cases = orders[case_id]
    rng = random.Random(case_id)
    for _, order in cases:
        cache = PlacementCache()
        loops = list(order.loops)
        for _ in range(6):
            rng.shuffle(loops)
            shuffled = FixedOrder(order.spatial, tuple(loops))
            for op in OPERANDS:
                cached = operand_options(hw, layer, shuffled, op, cache)
                fresh = operand_options(hw, layer, shuffled, op)
                assert [option_facts(o) for o in cached] == [option_facts(o) for o in fresh]
        # Building an order again reuses the cached boundaries (the same objects) and adds none.
        size = len(cache.boundaries)
        again = operand_options(hw, layer, shuffled, Operand.I, cache)
        assert len(cache.boundaries) == size
        stored = {id(entry[0]) for entry in cache.boundaries.values()}
        assert all(id(b) in stored for option in again for b in option.boundaries)
        assert best_placement(hw, layer, shuffled, "edp", cache=cache) == best_placement(
            hw, layer, shuffled, "edp"
        )


def test_suffix_tiles_are_the_temporal_tiles_of_every_start(orders) -> None:
    from miredo_core.analysis import temporal_tile
    from miredo_core.workload import DIMS

    for _, _, cases in orders.values():
        for _, order in cases:
            tiles = _suffix_tiles(order.loops)
            assert tiles == [tuple(temporal_tile(order.loops, start)[d] for d in DIMS)
                             for start in range(len(order.loops) + 1)]  # fmt: skip


@pytest.mark.parametrize("operand", OPERANDS)
@pytest.mark.parametrize("seed", range(6))
def test_the_path_table_holds_exactly_the_legal_paths(operand: Operand, seed: int) -> None:
    """Every choice of used levels and block starts, enumerated blindly, is in the table exactly
    when each intermediate block is non-empty and holds a loop relevant to the operand, with
    every slot placed at the last used level starting at or before it (DRAM above the first)."""
    import itertools

    from miredo_core.hardware import OPERAND_LEVELS

    rng = random.Random(seed)
    relevant = tuple(rng.random() < 0.6 for _ in range(rng.randint(0, 6)))
    chain, n = OPERAND_LEVELS[operand], len(relevant)
    innermost = len(chain) - 1
    expected = set()
    for mask in itertools.product((False, True), repeat=innermost - 1):
        used = (*(d for d, flag in zip(range(1, innermost), mask, strict=True) if flag), innermost)
        for starts in itertools.product(range(n + 1), repeat=len(used)):
            if list(starts) != sorted(set(starts)):
                continue
            blocks = zip(starts, starts[1:], strict=False)
            if not all(any(relevant[a:b]) for a, b in blocks):
                continue
            levels = tuple(
                next((chain[u] for u, st in zip(used[::-1], starts[::-1], strict=True) if st <= i),
                     Level.DRAM)
                for i in range(n)
            )  # fmt: skip
            spans = tuple(zip((0, *used[:-1]), used, starts, strict=True))
            expected.add((used, spans, levels))
    table = _path_table(operand, relevant)
    assert len(table) == len(set(table))
    assert set(table) == expected


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("case_id", PARETO_CASES)
def test_pareto_filter_never_removes_the_optimum(orders, case_id, objective) -> None:
    hw, layer, cases = orders[case_id]
    for _, order in cases:
        raw = {op: operand_options(hw, layer, order, op) for op in OPERANDS}
        unfiltered = best_placement(hw, layer, order, objective, options=raw)
        filtered = best_placement(hw, layer, order, objective)
        assert filtered.combinations <= unfiltered.combinations
        assert (
            relative(
                fast_value(filtered.latency_cycles, filtered.energy_pj, objective),
                fast_value(unfiltered.latency_cycles, unfiltered.energy_pj, objective),
            )
            <= 1e-12
        )


def test_tight_global_buffer_is_respected(hardware, layers) -> None:
    """With a 1 Kib global buffer the chosen operands fit it together, and the optimum is no
    better than with the roomy 16 Kib buffer of tiny.yaml."""
    tight, roomy = hardware["tiny_small_gb"], hardware["tiny"]
    layer = layers["conv1x1"]
    for _, order in random_orders(tight, layer, seed=3, count=4):
        options = placement_options(tight, layer, order)
        result = best_placement(tight, layer, order, "latency", options=options)
        mapping = result.mapping
        chosen = [
            next(
                o
                for o in options[op]
                if o.levels == mapping.levels_of(op)
                and o.double_buffered == {lv for lv, who in mapping.double_buffered if who is op}
            )
            for op in OPERANDS
        ]
        assert sum(o.gb_bits for o in chosen) <= tight.global_buffer.size_bits
        evaluate(tight, layer, mapping)  # raises if the global buffer overflowed
        assert best_placement(roomy, layer, order, "latency").latency_cycles <= (
            result.latency_cycles
        )


def test_best_placement_rejects_an_unknown_objective(tiny_hardware, layers) -> None:
    mapping = weight_stationary(tiny_hardware, layers["conv1x1"])
    with pytest.raises(ValueError, match="unknown objective"):
        best_placement(tiny_hardware, layers["conv1x1"], FixedOrder(mapping.spatial,
                       mapping.loops), "throughput")  # fmt: skip


def test_divisors_and_prime_factors() -> None:
    assert divisors(1) == [1]
    assert divisors(36) == [1, 2, 3, 4, 6, 9, 12, 18, 36]
    assert divisors(97) == [1, 97]
    assert prime_factors(1) == []
    assert prime_factors(360) == [2, 2, 2, 3, 3, 5]
    assert prime_factors(97) == [97]


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, [()]),
        (7, [(7,)]),
        (12, [(2, 2, 3), (2, 6), (3, 4), (12,)]),
        (16, [(2, 2, 2, 2), (2, 2, 4), (2, 8), (4, 4), (16,)]),
    ],
)
def test_factorizations_of_small_numbers(n: int, expected) -> None:
    assert factorizations(n) == expected


@pytest.mark.parametrize("n", [2, 30, 36, 64, 112])
def test_factorizations_are_distinct_sorted_and_multiply_to_n(n: int) -> None:
    found = factorizations(n)
    assert len(set(found)) == len(found)
    for factors in found:
        assert math.prod(factors) == n
        assert list(factors) == sorted(factors) and all(f >= 2 for f in factors)


ORDER_CASES = [
    ((), 1),
    (((Dim.P, 2),), 1),
    (((Dim.K, 4), (Dim.C, 2)), 5),  # K2 K2 C2: 3 orders; K4 C2: 2 orders
    (((Dim.P, 2), (Dim.Q, 3)), 2),
    (((Dim.K, 8), (Dim.C, 4), (Dim.P, 2)), None),
    (((Dim.R, 3), (Dim.S, 3), (Dim.C, 4), (Dim.K, 2)), None),
]


@pytest.mark.parametrize(("temporal", "expected"), ORDER_CASES)
def test_all_orders_enumerates_count_orders_distinct_tilings(temporal, expected) -> None:
    orders = list(all_orders(temporal))
    assert count_orders(temporal) == len(orders)
    if expected is not None:
        assert len(orders) == expected
    assert len(set(orders)) == len(orders)
    for loops in orders:
        assert all(loop.factor >= 2 for loop in loops)
        for dim, size in temporal:
            assert math.prod(loop.factor for loop in loops if loop.dim is dim) == size
        assert {loop.dim for loop in loops} == {dim for dim, _ in temporal}
