"""search.spatial: candidate counts, legality, utilization and the soundness of the bounds."""

from __future__ import annotations

import dataclasses
import math
import random
from pathlib import Path

import pytest

from miredo_core.config import load_hardware, load_workload_yaml
from miredo_core.cost_model import evaluate
from miredo_core.hardware import AXES, Axis, Hardware, Level
from miredo_core.mapping import Loop, Mapping, analyze
from miredo_core.search.baselines import random_mapping
from miredo_core.search.engine import SolveOptions, solve_layer
from miredo_core.search.heuristic import (
    MAX_REPEATED_MOVES,
    OrderSearch,
    count_orders,
    enumerate_candidate,
    neighbour,
)
from miredo_core.search.spatial import (
    TRANSPOSE,
    candidate,
    dram_floor_cycles,
    latency_floor_terms,
    reduction_fit,
    spatial_candidates,
    transpose_symmetric,
    transposed,
)
from miredo_core.variants import apply_variant, with_compartment_depth, with_ping_pong
from miredo_core.workload import DIMS, OPERANDS, Dim, Layer, Operand
from miredo_core.zoo import get_network

#: Spatial candidates of ResNet-18 layers on default_8core.yaml (reference figures).
REFERENCE_COUNTS = {"Conv_0": 654, "Conv_1": 1744, "Conv_8": 1600, "Conv_17": 180}

#: Random valid mappings drawn per layer for the bound check (8 layers: 200 mappings).
SAMPLES_PER_LAYER = 25


@pytest.fixture(scope="module")
def default_hardware(sample_hardware_dir: Path) -> Hardware:
    return load_hardware(sample_hardware_dir / "default_8core.yaml")


@pytest.fixture(scope="module")
def resnet18_layers() -> dict[str, Layer]:
    return {layer.name: layer for layer in get_network("resnet18").layers}


@pytest.fixture(scope="module")
def tiny_layers(repo_root: Path) -> dict[str, Layer]:
    network = load_workload_yaml(repo_root / "sample_configs" / "workloads" / "tiny_layers.yaml")
    return {layer.name: layer for layer in network.layers}


@pytest.fixture(scope="module")
def resnet18_candidates(default_hardware: Hardware, resnet18_layers: dict[str, Layer]):
    """Candidates of the reference layers (transposed twins included), enumerated once for the
    module."""
    return {
        name: spatial_candidates(default_hardware, resnet18_layers[name], twins=True)
        for name in REFERENCE_COUNTS
    }


@pytest.mark.parametrize("name", sorted(REFERENCE_COUNTS))
def test_candidate_counts_match_the_reference(resnet18_candidates, name: str) -> None:
    assert len(resnet18_candidates[name]) == REFERENCE_COUNTS[name]


@pytest.mark.parametrize("name", sorted(REFERENCE_COUNTS))
def test_every_candidate_is_legal_and_distinct(
    default_hardware: Hardware, resnet18_layers, resnet18_candidates, name: str
) -> None:
    hw, layer = default_hardware, resnet18_layers[name]
    cands = resnet18_candidates[name]
    assert len({frozenset(c.spatial) for c in cands}) == len(cands)
    total_cells = hw.cores * hw.macro.rows * hw.macro.columns
    for cand in cands:
        pairs = [(axis, dim) for axis, dim, _ in cand.spatial]
        assert len(set(pairs)) == len(pairs)
        for axis in AXES:
            used = [(dim, f) for a, dim, f in cand.spatial if a is axis]
            assert all(dim in hw.axis_dims(axis) and f > 1 for dim, f in used)
            assert math.prod(f for _, f in used) <= hw.axis_size(axis)
        temporal = dict(cand.temporal)
        assert all(f > 1 for f in temporal.values())
        for dim in DIMS:
            spatial = math.prod(f for _, d, f in cand.spatial if d is dim)
            assert layer.size(dim) % spatial == 0
            assert spatial * temporal.get(dim, 1) == layer.size(dim)
        assert cand.utilization == math.prod(f for _, _, f in cand.spatial) / total_cells
        assert 0 < cand.utilization <= 1


def test_candidates_are_valid_mappings_with_every_loop_in_dram(
    default_hardware: Hardware, resnet18_layers, resnet18_candidates
) -> None:
    """The model's own validator accepts each candidate (keeping all loops in DRAM is always
    legal when the spatial unrolling is)."""
    layer = resnet18_layers["Conv_17"]
    for cand in resnet18_candidates["Conv_17"]:
        loops = tuple(Loop(dim, f) for dim, f in cand.temporal)
        placement = tuple((Level.DRAM,) * len(loops) for _ in OPERANDS)
        analyze(default_hardware, layer, Mapping(cand.spatial, loops, placement))


@pytest.mark.parametrize("name", sorted(REFERENCE_COUNTS))
def test_candidates_come_best_utilization_first(resnet18_candidates, name: str) -> None:
    utilizations = [c.utilization for c in resnet18_candidates[name]]
    assert utilizations == sorted(utilizations, reverse=True)


def transpose_mapping(mapping: Mapping) -> Mapping:
    """The mapping with rows and columns swapped, in its spatial unrolling and its loops."""
    return Mapping(
        spatial=transposed(mapping.spatial),
        loops=tuple(Loop(TRANSPOSE.get(loop.dim, loop.dim), loop.factor)
                    for loop in mapping.loops),  # fmt: skip
        placement=mapping.placement,
        double_buffered=mapping.double_buffered,
    )


#: Square ResNet-18 planes: the 7x7 stride-2 stem, a 3x3 conv, a 3x3 stride-2 conv and the
#: 1x1 stride-2 shortcut.
SQUARE_LAYERS = ("Conv_0", "Conv_1", "Conv_5", "Conv_7")


@pytest.mark.parametrize("name", SQUARE_LAYERS)
def test_a_transposed_mapping_costs_the_same(default_hardware, resnet18_layers, name) -> None:
    """The premise of listing one of each pair of transposed twins: swapping rows and columns
    of random mappings of square layers keeps every figure of the cost model and the
    candidate's bounds."""
    hw, layer = default_hardware, resnet18_layers[name]
    assert transpose_symmetric(hw, layer)
    rng = random.Random(name)
    moved = 0
    for _ in range(SAMPLES_PER_LAYER):
        mapping = random_mapping(hw, layer, rng)
        twin = transpose_mapping(mapping)
        moved += twin != mapping
        cost, twin_cost = evaluate(hw, layer, mapping), evaluate(hw, layer, twin)
        assert twin_cost.latency_parts == cost.latency_parts
        assert twin_cost.memory_bits == cost.memory_bits
        assert twin_cost.energy_pj == pytest.approx(cost.energy_pj, rel=1e-12)
        bounds = candidate(hw, layer, mapping.spatial)
        twin_bounds = candidate(hw, layer, twin.spatial)
        assert twin_bounds.latency_bound_cycles == bounds.latency_bound_cycles
        assert twin_bounds.energy_bound_pj == pytest.approx(bounds.energy_bound_pj, rel=1e-12)
    # Most draws unroll or tile the plane unevenly, so the swap really moves them.
    assert moved >= SAMPLES_PER_LAYER // 2


@pytest.mark.parametrize("name", sorted(REFERENCE_COUNTS))
def test_one_of_each_pair_of_transposed_twins_is_listed(
    default_hardware, resnet18_layers, resnet18_candidates, name
) -> None:
    listed = spatial_candidates(default_hardware, resnet18_layers[name])
    kept = {c.spatial for c in listed}
    every = resnet18_candidates[name]
    assert [c for c in every if c.spatial in kept] == listed  # same candidates, same order
    for cand in every:
        twin = transposed(cand.spatial)
        assert cand.spatial in kept or twin in kept
        assert not (cand.spatial in kept and twin in kept and twin != cand.spatial)
    # Every reference layer has a square plane, so some unrollings are dropped.
    assert transpose_symmetric(default_hardware, resnet18_layers[name])
    assert len(listed) < len(every)


def test_layers_or_hardware_without_the_symmetry_list_every_unrolling(
    default_hardware, resnet18_layers
) -> None:
    hw = default_hardware
    wide = dataclasses.replace(resnet18_layers["Conv_1"], name="wide", Q=28, input_w=28)
    fc = resnet18_layers["fc"]
    only_p = dataclasses.replace(hw, core_dims=hw.core_dims - {Dim.Q})
    conv = resnet18_layers["Conv_1"]
    for machine, layer in ((hw, wide), (only_p, conv)):
        assert not transpose_symmetric(machine, layer)
        assert len(spatial_candidates(machine, layer)) == len(
            spatial_candidates(machine, layer, twins=True)
        )
    # A 1x1 plane is its own transpose: nothing to drop.
    assert len(spatial_candidates(hw, fc)) == len(spatial_candidates(hw, fc, twins=True))


def test_top_conv1_candidate_fills_the_array(resnet18_candidates) -> None:
    assert resnet18_candidates["Conv_1"][0].utilization == 1.0


def test_candidate_bounds_in_closed_form(tiny_hardware: Hardware) -> None:
    """1x1 conv P=Q=4, C=8, K=4 on tiny.yaml, rows C4, columns K4, cores P2: the temporal
    remainder is P2 Q4 C2, i.e. P = 16 passes of t_MAC = 8 cycles = 128 cycles.

    Interface floor: each input register (one per core and row) holds P2 Q4 C2 = 16 inputs of
    8 bits over the layer, 128 bits at 8 bits/cycle: 16 cycles serial with compute (144).

    Transition floor: one input-register firing takes X_I = 1 cycle (8 bits at 8 bits/cycle;
    the input buffer sends 4 rows x 8 bits over 32 bits/cycle), one output-register firing
    X_O = 1 cycle (4 columns x 8 bits over the output buffer's 32 bits/cycle), so M = 1 and
    L = (16 - 1) x 1 = 15. A weight firing (one compartment: 16 weights of 8 bits, shared by
    both cores, from the global buffer at 64 bits/cycle) takes X_W = 2 cycles; all 32 weights
    cross the global buffer port once: B_W = 256 / 64 = 4 cycles. With the single-buffered
    macro: 128 + L + M + B_W (1 - M / X_W) + X_O = 128 + 15 + 1 + 2 + 1 = 147. (Nests with no
    loop after the output register's trigger pay partial-sum round trips of X_O* = 2 x 2
    cycles per pass instead, far more.) 147 beats
    start-up max(X_I, X_W) = 2 with the plain reloads (128 + 15 + 2 + 1 = 146) and every DRAM
    floor (I 1024 bits, W 256, O 512 over 16 bits/cycle: 64, 16 and 32 cycles)."""
    hw = tiny_hardware
    assert not hw.macro.ping_pong
    assert hw.input_register.write_bw_bits_per_cycle == 8.0
    layer = Layer("pointwise", P=4, Q=4, C=8, K=4)
    spatial = ((Axis.CORES, Dim.P, 2), (Axis.ROWS, Dim.C, 4), (Axis.COLUMNS, Dim.K, 4))
    cand = candidate(hw, layer, spatial)
    assert dict(cand.temporal) == {Dim.P: 2, Dim.Q: 4, Dim.C: 2}
    assert cand.utilization == 32 / 32
    assert cand.latency_bound_cycles == 147.0
    expected_energy = (
        hw.macro.activation_energy_pj(8) * 16 * 2
        + (1024 + 256) * hw.dram.read_energy_pj_per_bit
        + 512 * hw.dram.write_energy_pj_per_bit
        + 128 * 8 * hw.input_register.write_energy_pj_per_bit  # 8 registers (cores x rows)
        + 16 * 32 * hw.macro.write_energy_pj_per_bit  # 16 bits into each of the 32 cells
        + 64 * 8 * hw.output_register.read_energy_pj_per_bit  # 8 registers (cores x columns)
        + hw.leakage_pj_per_cycle * 147.0
    )
    assert cand.energy_bound_pj == pytest.approx(expected_energy, rel=1e-12)
    assert cand.bound("edp") == cand.latency_bound_cycles * cand.energy_bound_pj
    # With a ping-pong macro the weight writes overlap compute; the register reloads do not.
    pp = candidate(with_ping_pong(hw, True), layer, spatial)
    assert pp.latency_bound_cycles == 146.0


def test_one_weight_per_cell_moves_weights_or_partial_sums_every_pass(tiny_hardware) -> None:
    """The closed-form case above with one weight per cell: the macro then holds exactly the
    spatial weight tile (4 x 4 weights of 8 bits = 128 bits), so no reduction loop fits in its
    block (`reduction_fit` is empty, s = 1). The two ways a nest can end:
    (a) an output loop innermost: every pass is a partial-sum round trip, M* = X_O* = 4:
        L = 15 x 4 = 60, latency >= 128 + 60 + max(X_I, X_W) + X_O = 128 + 60 + 2 + 1;
    (b1) the reduction C2 innermost: its loop is outside the macro block, so every pass
        rewrites the weights, X_IW = max(X_I, X_W) = 2 per pass:
        L = 1 x 15 + (2 - 1) x (16 - 1) + 0 = 30, latency >= 128 + 30 + 2 + 1 = 161;
    ((b2) needs a reduction loop inside the macro block: impossible.) The floor is 161, where
    the weight-free count of case (b) gave 147; no mapping beats it (enumerated: 185)."""
    hw = with_compartment_depth(tiny_hardware, 1)
    layer = Layer("pointwise", P=4, Q=4, C=8, K=4)
    spatial = ((Axis.CORES, Dim.P, 2), (Axis.ROWS, Dim.C, 4), (Axis.COLUMNS, Dim.K, 4))
    cand = candidate(hw, layer, spatial)
    assert reduction_fit(hw, layer, spatial, dict(cand.temporal)) == {}
    assert cand.latency_bound_cycles == 161.0
    state, complete = enumerate_candidate(hw, layer, cand, "latency")
    assert complete and state.best_value >= cand.latency_bound_cycles
    # Two weights per cell: C2 fits the macro block, and a nest that keeps it there pays
    # partial-sum round trips every other pass only; the floor falls back to case (b2).
    two = with_compartment_depth(tiny_hardware, 2)
    assert reduction_fit(two, layer, spatial, dict(cand.temporal)) == {Dim.C: 2}


def test_a_fitted_start_finds_the_split_reduction_order(default_hardware, resnet18_layers):
    """With two weights per cell, ResNet-18 Conv_1's best orders keep the weights of C2 in the
    macro, innermost, inside an output tile whose partial sums one output buffer half holds
    (P7 R3 S3 P4 Q56 C2: 331,462 cycles); interactive without the fitted starts returned
    358,410 for this candidate, the fitted starts score that order directly."""
    hw = with_compartment_depth(default_hardware, 2)
    layer = resnet18_layers["Conv_1"]
    spatial = ((Axis.CORES, Dim.P, 2), (Axis.CORES, Dim.K, 4), (Axis.ROWS, Dim.C, 32),
               (Axis.COLUMNS, Dim.K, 16))  # fmt: skip
    search = OrderSearch(hw, layer, candidate(hw, layer, spatial), "latency")
    starts = search.fitted_starts()
    assert all(order[-1] == Loop(Dim.C, 2) for order in starts)
    best = min(search.score(order) for order in starts)
    assert best <= 331_462
    assert best >= search.candidate.latency_bound_cycles


def test_a_ping_pong_macro_gets_fitted_starts_that_fill_one_half_of_it(
    default_hardware, resnet18_layers
):
    """With a ping-pong macro, ResNet-18 Conv_16's best orders keep C4 innermost, the weights
    that fill one half of the macro, so the next C4's are written into the other half while
    these compute (K2 K2 C2 C2 R3 S3 Q7 P7 C4: 299,182 cycles, thorough's answer, certified
    within 1 %). The full-macro fit C8 leaves no room to write ahead: those starts score
    448,978, and interactive without the half fit returned 339,982."""
    hw = with_ping_pong(default_hardware, True)
    layer = resnet18_layers["Conv_16"]
    spatial = ((Axis.CORES, Dim.K, 8), (Axis.ROWS, Dim.C, 32), (Axis.COLUMNS, Dim.K, 16))
    cand = candidate(hw, layer, spatial)
    remaining = dict(cand.temporal)
    assert reduction_fit(hw, layer, spatial, remaining) == {Dim.C: 8}
    assert reduction_fit(hw, layer, spatial, remaining, share=2) == {Dim.C: 4}
    search = OrderSearch(hw, layer, cand, "latency")
    starts = search.fitted_starts()
    assert {order[-1] for order in starts} == {Loop(Dim.C, 8), Loop(Dim.C, 4)}
    best = min(search.score(order) for order in starts)
    assert cand.latency_bound_cycles <= best <= 299_182
    # Without ping-pong there is no second half: only the full-macro fit.
    plain = OrderSearch(default_hardware, layer, candidate(default_hardware, layer, spatial),
                        "latency")  # fmt: skip
    assert {order[-1] for order in plain.fitted_starts()} == {Loop(Dim.C, 8)}


def test_a_one_deep_ping_pong_macro_has_no_half_macro_fit(tiny_hardware) -> None:
    """One weight per cell: the macro holds exactly the spatial weight tile, so one half of a
    ping-pong macro holds none of it. There is no fitted tile then, and a solve goes on
    without one (the half-macro fit raised on an empty set of tiles before)."""
    hw = with_ping_pong(with_compartment_depth(tiny_hardware, 1), True)
    layer = Layer("pointwise", P=4, Q=4, C=8, K=4)
    spatial = ((Axis.CORES, Dim.P, 2), (Axis.ROWS, Dim.C, 4), (Axis.COLUMNS, Dim.K, 4))
    cand = candidate(hw, layer, spatial)
    assert reduction_fit(hw, layer, spatial, dict(cand.temporal), share=2) == {}
    assert OrderSearch(hw, layer, cand, "latency").fitted_starts() == []
    result = solve_layer(hw, layer, "latency", SolveOptions(preset="interactive", workers=1))
    assert result.mapping is not None and result.lower_bound <= result.value


def test_fitted_starts_try_the_kernel_rows_and_columns_both_ways(default_hardware,
                                                                 resnet18_layers):  # fmt: skip
    """On the default hardware, ResNet-18 Conv_1's EDP optimum (16,285,180,103,884 pJ x cycles,
    certified exactly) keeps C2 S3 innermost where `reduction_fit` picks C2 R3 (the same
    weights, other input halos), and its kernel loop K2 sits between the output loops around
    the partial-sum tile and the reduction remainder R3. The fitted starts now score that
    order itself; interactive returned 1.0369 x the optimum without them."""
    hw = default_hardware
    layer = resnet18_layers["Conv_1"]
    spatial = ((Axis.CORES, Dim.Q, 4), (Axis.CORES, Dim.K, 2), (Axis.ROWS, Dim.C, 32),
               (Axis.COLUMNS, Dim.K, 16))  # fmt: skip
    cand = candidate(hw, layer, spatial)
    assert reduction_fit(hw, layer, spatial, dict(cand.temporal)) == {Dim.C: 2, Dim.R: 3}
    search = OrderSearch(hw, layer, cand, "edp")
    starts = search.fitted_starts()
    optimum = tuple(Loop(d, f) for d, f in ((Dim.P, 4), (Dim.K, 2), (Dim.R, 3), (Dim.P, 14),
                                            (Dim.Q, 14), (Dim.C, 2), (Dim.S, 3)))  # fmt: skip
    assert optimum in starts
    assert {order[-1] for order in starts} == {Loop(Dim.R, 3), Loop(Dim.S, 3)}
    best = min(search.score(order) for order in starts)
    assert cand.bound("edp") <= best <= 16_285_180_103_884


BOUND_CASES = [
    ("tiny", "conv3x3"),
    ("tiny", "conv1x1"),
    ("tiny", "depthwise3x3"),
    ("tiny", "matmul"),
    ("tiny", "conv3x3_stride2"),
    ("default", "Conv_7"),
    ("default", "Conv_17"),
    ("default", "fc"),
]


@pytest.mark.parametrize(("hardware_name", "layer_name"), BOUND_CASES)
def test_bounds_hold_for_random_valid_mappings(
    tiny_hardware, default_hardware, tiny_layers, resnet18_layers, hardware_name, layer_name
) -> None:
    """No mapping with a candidate's spatial unrolling beats the candidate's bounds."""
    if hardware_name == "tiny":
        hw, layer = tiny_hardware, tiny_layers[layer_name]
    else:
        hw, layer = default_hardware, resnet18_layers[layer_name]
    enumerated = {frozenset(c.spatial) for c in spatial_candidates(hw, layer, twins=True)}
    rng = random.Random(BOUND_CASES.index((hardware_name, layer_name)))
    for _ in range(SAMPLES_PER_LAYER):
        mapping = random_mapping(hw, layer, rng)
        cost = evaluate(hw, layer, mapping)
        cand = candidate(hw, layer, mapping.spatial)
        assert frozenset(mapping.spatial) in enumerated
        assert cost.latency_cycles >= cand.latency_bound_cycles
        assert cost.energy_pj >= cand.energy_bound_pj * (1 - 1e-12)
        assert cost.edp_pj_cycles >= cand.bound("edp") * (1 - 1e-12)


def test_searched_mapping_survives_a_round_trip(default_hardware: Hardware) -> None:
    layer = Layer("pointwise", P=4, Q=4, C=8, K=64)
    cand = next(
        c
        for c in spatial_candidates(default_hardware, layer)
        if {d for a, d, _ in c.spatial if a is Axis.CORES} == {Dim.P, Dim.K}
    )
    loops = tuple(Loop(dim, f) for dim, f in cand.temporal)
    mapping = Mapping(cand.spatial, loops, tuple((Level.DRAM,) * len(loops) for _ in OPERANDS))
    assert Mapping.from_dict(mapping.to_dict()) == mapping


def _tiny_variant(hw: Hardware, variant: str) -> Hardware:
    """tiny.yaml changed in one way that moves a bound: one or two weights per cell, a
    ping-pong macro, or registers wide enough to hold a relevant loop (the transition floor's
    premise then fails and it must step aside)."""
    if variant.startswith("depth"):
        return with_compartment_depth(hw, int(variant.removeprefix("depth")))
    if variant == "ping_pong":
        return with_ping_pong(hw, True)
    assert variant == "wide_registers"
    return dataclasses.replace(
        hw,
        input_register=dataclasses.replace(hw.input_register, size_bits=32),
        output_register=dataclasses.replace(hw.output_register, size_bits=64),
    )


_DEFAULT_EXHAUSTIVE = [("depthwise3x3", "depth1"), ("conv1x1", "wide_registers"),
                       ("matmul", "ping_pong")]  # fmt: skip


@pytest.mark.parametrize(
    ("layer_name", "variant"),
    [
        *_DEFAULT_EXHAUSTIVE,
        *(pytest.param(name, variant, marks=pytest.mark.slow)
          for name in ("conv1x1", "matmul", "depthwise3x3")
          for variant in ("depth1", "depth2", "ping_pong", "wide_registers")
          if (name, variant) not in _DEFAULT_EXHAUSTIVE),
    ],
)  # fmt: skip
def test_no_mapping_of_a_candidate_beats_its_bounds_exhaustively(
    tiny_hardware, tiny_layers, layer_name, variant
) -> None:
    """The exact optimum of a candidate (every tiling, order and placement) is at least each of
    its bounds, on the tiny template with one or two weights per cell (the weight-write floor
    then counts the most), a ping-pong macro, or wide registers."""
    hw = _tiny_variant(tiny_hardware, variant)
    layer = tiny_layers[layer_name]
    small = [c for c in spatial_candidates(hw, layer) if count_orders(c.temporal) <= 200]
    checked = 0
    for cand in random.Random(layer_name).sample(small, min(6, len(small))):
        for objective in ("latency", "energy", "edp"):
            state, complete = enumerate_candidate(hw, layer, cand, objective)
            assert complete
            if state.best is not None:
                assert state.best_value >= cand.bound(objective) * (1 - 1e-12)
                checked += 1
    assert checked >= 3


@pytest.mark.parametrize("layer_name", ["Conv_17", "fc"])
def test_bounds_hold_for_random_mappings_with_one_weight_per_cell(
    default_hardware, resnet18_layers, layer_name
) -> None:
    hw = with_compartment_depth(default_hardware, 1)
    layer = resnet18_layers[layer_name]
    rng = random.Random(layer_name)
    for _ in range(SAMPLES_PER_LAYER):
        mapping = random_mapping(hw, layer, rng)
        cost = evaluate(hw, layer, mapping)
        cand = candidate(hw, layer, mapping.spatial)
        assert cost.latency_cycles >= cand.latency_bound_cycles
        assert cost.energy_pj >= cand.energy_bound_pj * (1 - 1e-12)


#: One axis changed from default_8core.yaml at a time: the points of `bench/certify_grid.py`.
GRID_POINTS = [
    ("cores", 4),
    ("cores", 16),
    ("compartment_depth", 1),
    ("compartment_depth", 2),
    ("macro_rows", 64),
    ("ping_pong", True),
    (None, None),
]


def _scored_orders_respect_the_bound(hw, layer, picks: int, evaluations: int, seed: int) -> int:
    """Every order a local search scores (each with its best placement, so near-optimal
    mappings, not random ones) costs at least its candidate's latency bound; returns how many
    were checked."""
    # The best-bound candidates: where the bounds are tightest and the optimum lives (and
    # whose few loops keep each placement search cheap).
    cands = sorted(spatial_candidates(hw, layer), key=lambda c: c.latency_bound_cycles)[:40]
    rng = random.Random(seed)
    chosen = cands[:2] + rng.sample(cands[2:], min(picks, len(cands) - 2))
    checked = 0
    for cand in chosen:
        search = OrderSearch(hw, layer, cand, "latency")
        for loops in search.starts()[:3]:  # unsplit loops: cheap placement searches
            search.score(loops)
        repeats = 0  # moves to orders scored before: a small order space runs out of new ones
        while (search.state.best is not None and search.state.evaluations < evaluations
               and repeats <= MAX_REPEATED_MOVES):  # fmt: skip
            before = search.state.evaluations
            search.score(neighbour(search.state.best.mapping.loops, rng))
            repeats = repeats + 1 if search.state.evaluations == before else 0
        for loops, value in search.cache.items():
            assert value >= cand.latency_bound_cycles, (cand.spatial, loops)
            checked += value != math.inf
    return checked


@pytest.mark.parametrize(
    ("axis", "value"), [("cores", 16), ("compartment_depth", 1), ("ping_pong", True)]
)
def test_bounds_hold_for_near_optimal_mappings_across_the_grid(
    default_hardware, resnet18_layers, axis, value
) -> None:
    hw = apply_variant(default_hardware, axis, value)
    assert _scored_orders_respect_the_bound(hw, resnet18_layers["Conv_12"], 1, 8, 7) >= 4


@pytest.mark.slow
@pytest.mark.parametrize(("axis", "value"), GRID_POINTS)
@pytest.mark.parametrize("name", ["Conv_1", "Conv_11", "Conv_17"])
def test_bounds_hold_for_near_optimal_mappings_of_many_shapes(
    default_hardware, resnet18_layers, axis, value, name
) -> None:
    hw = default_hardware if axis is None else apply_variant(default_hardware, axis, value)
    assert _scored_orders_respect_the_bound(hw, resnet18_layers[name], 3, 24, 11) >= 8


def test_certified_optima_respect_every_candidate_bound(default_hardware, resnet18_layers):
    """The 36 certified ResNet-18 optima (latency, energy, EDP) cost at least the bounds of
    their own candidates."""
    import json

    data = json.loads((Path(__file__).resolve().parent / "data" / "resnet18_certified.json")
                      .read_text())  # fmt: skip
    for row in data["optima"]:
        layer = resnet18_layers[row["layer"]]
        mapping = Mapping.from_dict(row["mapping"])
        cost = evaluate(default_hardware, layer, mapping)
        cand = candidate(default_hardware, layer, mapping.spatial)
        value = {"latency": cost.latency_cycles, "energy": cost.energy_pj,
                 "edp": cost.edp_pj_cycles}[row["objective"]]  # fmt: skip
        assert value >= cand.bound(row["objective"]) * (1 - 1e-12), row["layer"]


@pytest.mark.parametrize(("axis", "value"), [(None, None), ("compartment_depth", 1), ("cores", 4)])
def test_quick_floors_never_exceed_the_full_bounds(default_hardware, resnet18_layers, axis, value):
    """The quick floors take only some of the terms of the full bounds, for every objective,
    so a search may keep them for candidates it will never search."""
    hw = default_hardware if axis is None else apply_variant(default_hardware, axis, value)
    for name in ("Conv_0", "Conv_12", "fc"):
        for full in spatial_candidates(hw, resnet18_layers[name]):
            quick = candidate(hw, resnet18_layers[name], full.spatial, quick=True)
            assert (quick.temporal, quick.utilization) == (full.temporal, full.utilization)
            for objective in ("latency", "energy", "edp"):
                assert 0 < quick.bound(objective) <= full.bound(objective), (name, objective)


@pytest.mark.parametrize(("axis", "value"), GRID_POINTS)
def test_the_named_latency_floors_make_up_the_candidate_bound(
    default_hardware: Hardware, resnet18_layers: dict[str, Layer], axis, value
) -> None:
    """The largest named floor is the candidate's latency bound, on every unrolling of a 7x7,
    a 3x3, a 1x1 and the fully connected layer, at every grid point."""
    hw = default_hardware if axis is None else apply_variant(default_hardware, axis, value)
    for name in ("Conv_0", "Conv_5", "Conv_7", "fc"):
        layer = resnet18_layers[name]
        for cand in spatial_candidates(hw, layer, twins=True):
            terms = latency_floor_terms(hw, layer, cand.spatial)
            assert max(terms.values()) == cand.latency_bound_cycles, (name, cand.spatial)
            assert terms["compute"] == hw.macro.pass_cycles(layer.input_bits) * math.prod(
                size for _, size in cand.temporal
            )


def test_weight_writes_are_named_only_where_a_macro_cannot_overlap_them(
    default_hardware: Hardware, resnet18_layers: dict[str, Layer]
) -> None:
    from miredo_core.explain import binding_floor

    layer, fc = resnet18_layers["Conv_5"], resnet18_layers["fc"]
    name, cycles = binding_floor(default_hardware, layer, "latency")
    assert name == "compute + register reloads between passes and weight writes into the macro"
    # The stem's weight writes add 513 of its 439,573 cycles, under WEIGHT_SHARE_NAMED: not named.
    stem = binding_floor(default_hardware, resnet18_layers["Conv_0"], "latency")
    assert stem == ("compute + register reloads between passes", 439573.0)
    ping_pong = with_ping_pong(default_hardware, True)
    assert binding_floor(ping_pong, layer, "latency")[0] == (
        "compute + register reloads between passes"  # a ping-pong macro overlaps its writes
    )
    floors = [c.latency_bound_cycles for c in spatial_candidates(default_hardware, layer)]
    assert cycles == min(floors)
    dram = dram_floor_cycles(default_hardware, fc)
    assert binding_floor(default_hardware, fc, "latency") == ("DRAM bandwidth (W)", dram[Operand.W])
