"""search.spatial: candidate counts, legality, utilization and the soundness of the bounds."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from miredo_core.config import load_hardware, load_workload_yaml
from miredo_core.cost_model import evaluate
from miredo_core.hardware import AXES, Axis, Hardware, Level
from miredo_core.mapping import Loop, Mapping, analyze
from miredo_core.search.baselines import random_mapping
from miredo_core.search.heuristic import count_orders, enumerate_candidate
from miredo_core.search.spatial import candidate, spatial_candidates
from miredo_core.variants import with_compartment_depth, with_ping_pong
from miredo_core.workload import DIMS, OPERANDS, Dim, Layer
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
    """Candidates of the reference layers, enumerated once for the module."""
    return {
        name: spatial_candidates(default_hardware, resnet18_layers[name])
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


def test_top_conv1_candidate_fills_the_array(resnet18_candidates) -> None:
    assert resnet18_candidates["Conv_1"][0].utilization == 1.0


def test_candidate_bounds_in_closed_form(tiny_hardware: Hardware) -> None:
    """1x1 conv P=Q=4, C=8, K=4 on tiny.yaml, rows C4, columns K4, cores P2: the temporal
    remainder is P2 Q4 C2, i.e. 16 passes of t_MAC = 8 cycles = 128 cycles. Each input register
    (one per core and row) holds P2 Q4 C2 = 16 inputs of 8 bits over the layer: 128 bits at
    8 bits/cycle, 16 cycles serial with compute (a register has no double buffer); that beats
    the cells' weights (C2 x 8 bits at 8 bits/cycle, 2 cycles), the output registers' (P2 Q4 x
    8 bits at 16 bits/cycle, 4 cycles) and every DRAM floor (I 1024 bits, W 256, O 512 over
    16 bits/cycle: 64, 16 and 32 cycles)."""
    hw = tiny_hardware
    assert not hw.macro.ping_pong
    assert hw.input_register.write_bw_bits_per_cycle == 8.0
    layer = Layer("pointwise", P=4, Q=4, C=8, K=4)
    spatial = ((Axis.CORES, Dim.P, 2), (Axis.ROWS, Dim.C, 4), (Axis.COLUMNS, Dim.K, 4))
    cand = candidate(hw, layer, spatial)
    assert dict(cand.temporal) == {Dim.P: 2, Dim.Q: 4, Dim.C: 2}
    assert cand.utilization == 32 / 32
    assert cand.latency_bound_cycles == 128.0 + 16.0
    expected_energy = (
        hw.macro.activation_energy_pj(8) * 16 * 2
        + (1024 + 256) * hw.dram.read_energy_pj_per_bit
        + 512 * hw.dram.write_energy_pj_per_bit
        + 128 * 8 * hw.input_register.write_energy_pj_per_bit  # 8 registers (cores x rows)
        + 16 * 32 * hw.macro.write_energy_pj_per_bit  # 16 bits into each of the 32 cells
        + 64 * 8 * hw.output_register.read_energy_pj_per_bit  # 8 registers (cores x columns)
        + hw.leakage_pj_per_cycle * 144.0
    )
    assert cand.energy_bound_pj == pytest.approx(expected_energy, rel=1e-12)
    assert cand.bound("edp") == cand.latency_bound_cycles * cand.energy_bound_pj
    # With a ping-pong macro the weight writes overlap compute; the registers still do not.
    pp = candidate(with_ping_pong(hw, True), layer, spatial)
    assert pp.latency_bound_cycles == 144.0


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
    enumerated = {frozenset(c.spatial) for c in spatial_candidates(hw, layer)}
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


@pytest.mark.parametrize(
    ("layer_name", "depth"),
    [
        ("depthwise3x3", 1),
        *(pytest.param(name, depth, marks=pytest.mark.slow)
          for name, depth in [("conv1x1", 1), ("conv1x1", 2), ("matmul", 1), ("matmul", 2),
                              ("depthwise3x3", 2)]),
    ],
)  # fmt: skip
def test_no_mapping_of_a_candidate_beats_its_bounds_exhaustively(
    tiny_hardware, tiny_layers, layer_name, depth
) -> None:
    """The exact optimum of a candidate (every tiling, order and placement) is at least each of
    its bounds, on the tiny template and with one weight per cell (the weight-write floor then
    counts the most)."""
    hw = with_compartment_depth(tiny_hardware, depth)
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
