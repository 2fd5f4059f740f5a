"""The weight-stationary and random baselines: always valid, shaped as documented, seeded."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from miredo_core.config import load_hardware
from miredo_core.cost_model import evaluate
from miredo_core.hardware import AXES, Axis, Hardware
from miredo_core.mapping import analyze
from miredo_core.search.baselines import (
    WS_ORDER,
    divisors,
    objective_value,
    random_mapping,
    random_search,
    weight_stationary,
)
from miredo_core.workload import Dim, Layer
from miredo_core.zoo import NETWORK_NAMES, get_network

SAMPLES = Path(__file__).resolve().parent.parent / "sample_configs" / "hardware"
DEFAULT = load_hardware(SAMPLES / "default_8core.yaml")
TINY = load_hardware(SAMPLES / "tiny.yaml")

ZOO_LAYERS = [
    pytest.param(layer, id=f"{name}-{layer.name}")
    for name in NETWORK_NAMES
    for layer in get_network(name).layers
]


# ----------------------------------------------------------------------- weight stationary


@pytest.mark.parametrize("layer", ZOO_LAYERS)
def test_weight_stationary_is_valid_and_shaped_as_documented(layer: Layer) -> None:
    mapping = weight_stationary(DEFAULT, layer)
    analyze(DEFAULT, layer, mapping)  # raises if invalid

    columns = {dim: f for axis, dim, f in mapping.spatial if axis is Axis.COLUMNS}
    rows = {dim: f for axis, dim, f in mapping.spatial if axis is Axis.ROWS}
    # Columns take the largest divisor of K that fits the 16 columns.
    best_k = max(d for d in divisors(layer.K) if d <= DEFAULT.macro.columns)
    assert columns == ({Dim.K: best_k} if best_k > 1 else {})
    # Rows unroll the reduction only, within the 32 rows.
    assert set(rows) <= {Dim.R, Dim.S, Dim.C}
    assert mapping.axis_product(Axis.ROWS) <= DEFAULT.macro.rows
    assert mapping.axis_product(Axis.CORES) <= DEFAULT.cores

    # One temporal loop per remaining dim, in the order N, G, K, C, R, S, P, Q.
    loop_dims = [loop.dim for loop in mapping.loops]
    assert loop_dims == [d for d in WS_ORDER if d in loop_dims]
    for loop in mapping.loops:
        spatial = 1
        for axis in AXES:
            spatial *= mapping.spatial_factor(axis, loop.dim)
        assert loop.factor * spatial == layer.size(loop.dim)
    assert mapping.double_buffered == frozenset()


def test_weight_stationary_fills_the_array_for_a_regular_layer() -> None:
    # ResNet-18 Conv_1: C64 K64 P56 Q56 R3 S3. Columns K16, rows C32 (C32 beats any R/S
    # combination within 32 rows), cores K4 then P2; loops C2 R3 S3 P28 Q56.
    layer = get_network("resnet18").layer("Conv_1")
    mapping = weight_stationary(DEFAULT, layer)
    spatial = {(axis, dim): factor for axis, dim, factor in mapping.spatial}
    assert spatial == {
        (Axis.COLUMNS, Dim.K): 16,
        (Axis.ROWS, Dim.C): 32,
        (Axis.CORES, Dim.K): 4,
        (Axis.CORES, Dim.P): 2,
    }
    assert [(loop.dim, loop.factor) for loop in mapping.loops] == [
        (Dim.C, 2),
        (Dim.R, 3),
        (Dim.S, 3),
        (Dim.P, 28),
        (Dim.Q, 56),
    ]


# ---------------------------------------------------------------------------- random


RANDOM_LAYERS = (
    Layer("conv3x3", R=3, S=3, P=8, Q=8, C=16, K=32, pad_top=1, pad_bottom=1, pad_left=1,
          pad_right=1),
    Layer("pointwise", P=16, Q=16, C=64, K=64),
    Layer("depthwise", R=3, S=3, P=14, Q=14, G=32, stride_h=2, stride_w=2, pad_top=1,
          pad_bottom=1, pad_left=1, pad_right=1),
    Layer("odd", R=5, S=5, P=15, Q=15, C=3, K=7, N=2),
    Layer("scalar"),
)  # fmt: skip


@pytest.mark.parametrize("hw", [DEFAULT, TINY], ids=lambda hw: hw.name)
@pytest.mark.parametrize("layer", RANDOM_LAYERS, ids=lambda layer: layer.name)
def test_random_mapping_is_always_valid(hw: Hardware, layer: Layer) -> None:
    rng = random.Random(7)
    mappings = [random_mapping(hw, layer, rng) for _ in range(25)]
    for mapping in mappings:
        analyze(hw, layer, mapping)
    # random_mapping validates what it returns; what this checks is that the rejection loop
    # does produce on-chip placements rather than falling back to all-DRAM every time.
    if any(m.loops for m in mappings):
        assert any(lv != "dram" for m in mappings for op in "IWO" for lv in m.levels_of(op))
        assert len({m.loops for m in mappings}) > 1


@pytest.mark.parametrize("layer", RANDOM_LAYERS, ids=lambda layer: layer.name)
def test_random_mapping_fallback_is_valid(layer: Layer) -> None:
    # With no attempt left it keeps every loop in DRAM over the WS spatial unrolling.
    mapping = random_mapping(TINY, layer, random.Random(0), attempts=0)
    analyze(TINY, layer, mapping)
    assert all(set(mapping.levels_of(op)) <= {"dram"} for op in "IWO")
    assert mapping.double_buffered == frozenset()


def test_random_mapping_is_determined_by_the_generator_state() -> None:
    layer = RANDOM_LAYERS[0]
    first = [random_mapping(DEFAULT, layer, random.Random(3)) for _ in range(2)]
    assert first[0] == first[1]


@pytest.mark.parametrize("objective", ["latency", "energy", "edp"])
def test_random_search_is_reproducible_and_never_worse_than_its_first_sample(
    objective: str,
) -> None:
    layer = RANDOM_LAYERS[0]
    best = random_search(DEFAULT, layer, objective, samples=30, seed=11)
    assert random_search(DEFAULT, layer, objective, samples=30, seed=11) == best
    first = random_mapping(DEFAULT, layer, random.Random(11))
    assert random_search(DEFAULT, layer, objective, samples=1, seed=11) == first
    best_value = objective_value(evaluate(DEFAULT, layer, best), objective)
    assert best_value <= objective_value(evaluate(DEFAULT, layer, first), objective)


_SEARCH_SCRIPT = """
import sys
from miredo_core.config import load_hardware
from miredo_core.search.baselines import random_search
from miredo_core.workload import Layer
hw = load_hardware(sys.argv[1])
layer = Layer("conv3x3", R=3, S=3, P=8, Q=8, C=16, K=32)
print(random_search(hw, layer, "edp", samples=20, seed=4).to_json())
"""


def test_random_search_is_reproducible_across_processes() -> None:
    # Sweeps run mappers in process pools: the result must not depend on string hashing.
    outputs = set()
    for hash_seed in ("1", "2"):
        completed = subprocess.run(
            [sys.executable, "-c", _SEARCH_SCRIPT, str(SAMPLES / "default_8core.yaml")],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.add(completed.stdout)
    assert len(outputs) == 1


def test_random_search_improves_with_more_samples() -> None:
    layer = RANDOM_LAYERS[1]
    values = [
        evaluate(DEFAULT, layer, random_search(DEFAULT, layer, samples=n, seed=5)).latency_cycles
        for n in (1, 10, 40)
    ]
    assert values == sorted(values, reverse=True)


def test_unknown_objective_is_rejected() -> None:
    layer = RANDOM_LAYERS[0]
    cost = evaluate(DEFAULT, layer, weight_stationary(DEFAULT, layer))
    with pytest.raises(ValueError, match="unknown objective 'speed'; choose one of latency"):
        objective_value(cost, "speed")
