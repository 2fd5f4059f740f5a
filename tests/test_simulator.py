"""The iteration-level simulator as an independent check of `cost_model.evaluate`.

Latency must agree within 5 %. Traffic, MAC energy and so every dynamic energy must agree
exactly (to 1e-9): both count the same boundary firings. Total energies differ only by the
leakage over the latency difference, since leakage is static power times latency.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miredo_core import simulator
from miredo_core.config import load_hardware
from miredo_core.cost_model import READ, evaluate
from miredo_core.hardware import Hardware, Level, Macro, MemoryLevel
from miredo_core.mapping import Mapping
from miredo_core.search.baselines import random_mapping, weight_stationary
from miredo_core.simulator import simulate
from miredo_core.workload import Layer, Operand
from miredo_core.zoo import get_network

SAMPLES = Path(__file__).resolve().parent.parent / "sample_configs" / "hardware"
DEFAULT = load_hardware(SAMPLES / "default_8core.yaml")
TINY = load_hardware(SAMPLES / "tiny.yaml")

LATENCY_TOLERANCE = 0.05


def assert_agrees(hw: Hardware, layer: Layer, mapping: Mapping) -> None:
    cost = evaluate(hw, layer, mapping)
    result = simulate(hw, layer, mapping)
    assert result.passes == mapping.temporal_product()
    assert result.memory_bits == pytest.approx(cost.memory_bits, rel=1e-9)
    assert result.mac_energy_pj == pytest.approx(cost.mac_energy_pj, rel=1e-9)
    dynamic = cost.energy_pj - cost.leakage_energy_pj
    assert result.energy_pj - result.leakage_energy_pj == pytest.approx(dynamic, rel=1e-9)
    assert result.leakage_energy_pj == pytest.approx(
        hw.leakage_pj_per_cycle * result.latency_cycles, rel=1e-9
    )
    # Last, so that a known latency disagreement (xfail) still checks the traffic above.
    assert result.latency_cycles == pytest.approx(cost.latency_cycles, rel=LATENCY_TOLERANCE)


# ------------------------------------------------------------------------ ResNet-18 WS

RESNET18_SHAPES = list(
    {layer.shape_key(): layer for layer in get_network("resnet18").layers}.values()
)


@pytest.mark.parametrize("layer", RESNET18_SHAPES, ids=lambda layer: layer.name)
def test_weight_stationary_resnet18_agrees(layer: Layer) -> None:
    assert_agrees(DEFAULT, layer, weight_stationary(DEFAULT, layer))


# ------------------------------------------------------------------ random small layers

SMALL_LAYERS = (
    Layer("conv3x3", R=3, S=3, P=8, Q=8, C=16, K=32, pad_top=1, pad_bottom=1, pad_left=1,
          pad_right=1),
    Layer("pointwise", P=16, Q=16, C=64, K=64),
    Layer("depthwise", R=3, S=3, P=14, Q=14, G=32, stride_h=2, stride_w=2, pad_top=1,
          pad_bottom=1, pad_left=1, pad_right=1, kind="depthwise"),
    Layer("matmul", P=32, C=128, K=96, input_h=32, input_w=1, kind="matmul"),
)  # fmt: skip

#: Random mappings on default_8core where the analytical latency is more than 5 % below the
#: simulator's: a double-buffered output channel paces compute inside a loop whose iterations
#: also reload weights and end with a single-buffered write-back that waits for the channel to
#: drain; the closed form takes the larger of these per iteration where they partly add up.
KNOWN_DISAGREEMENTS = {
    ("pointwise", 1): "cost model 11 % below the simulator: double-buffered output buffer",
    ("matmul", 7): "cost model 7 % below the simulator: double-buffered output buffer",
}


def _random_cases():
    for layer in SMALL_LAYERS:
        for seed in range(10):
            reason = KNOWN_DISAGREEMENTS.get((layer.name, seed))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(layer, seed, marks=marks, id=f"{layer.name}-{seed}")


@pytest.mark.parametrize(("layer", "seed"), list(_random_cases()))
def test_random_mappings_agree_on_default(layer: Layer, seed: int) -> None:
    assert_agrees(DEFAULT, layer, random_mapping(DEFAULT, layer, random.Random(seed)))


#: Small values with many divisors, so random tilings have several loops per dim.
SMALL_DIMS = st.sampled_from([1, 2, 4, 6, 8, 12])


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    kernel=st.sampled_from([1, 3]),
    P=SMALL_DIMS,
    Q=st.sampled_from([1, 2, 4, 8]),
    C=SMALL_DIMS,
    K=SMALL_DIMS,
    G=st.sampled_from([1, 2, 4]),
)
def test_random_mappings_of_random_layers_agree_on_tiny(seed, kernel, P, Q, C, K, G) -> None:
    layer = Layer("drawn", R=kernel, S=kernel, P=P, Q=Q, C=C, K=K, G=G)
    mapping = random_mapping(TINY, layer, random.Random(seed))
    assert_agrees(TINY, layer, mapping)


# ---------------------------------------------------------------------- fast-forward


def _simulate_every_pass(hw: Hardware, layer: Layer, mapping: Mapping, monkeypatch):
    """The simulator with its steady-state detection switched off: every pass is executed."""
    with monkeypatch.context() as patch:
        patch.setattr(simulator._Simulator, "_steady", lambda self, delta: False)
        return simulate(hw, layer, mapping)


def test_fast_forward_is_used_and_exact_on_a_large_ws_layer(monkeypatch) -> None:
    layer = get_network("resnet18").layer("Conv_1")  # 28224 passes
    mapping = weight_stationary(DEFAULT, layer)
    fast = simulate(DEFAULT, layer, mapping)
    assert fast.passes == 28224
    assert fast.simulated_passes < fast.passes / 10
    brute = _simulate_every_pass(DEFAULT, layer, mapping, monkeypatch)
    assert brute.simulated_passes == brute.passes == 28224
    assert fast.latency_cycles == brute.latency_cycles
    assert fast.memory_bits == brute.memory_bits
    assert fast.energy_pj == brute.energy_pj


@pytest.mark.parametrize("seed", range(12))
def test_fast_forward_is_exact_on_random_mappings(seed: int, monkeypatch) -> None:
    layer = SMALL_LAYERS[seed % len(SMALL_LAYERS)]
    hw = (DEFAULT, TINY)[seed // len(SMALL_LAYERS) % 2]
    mapping = random_mapping(hw, layer, random.Random(seed))
    fast = simulate(hw, layer, mapping)
    brute = _simulate_every_pass(hw, layer, mapping, monkeypatch)
    assert brute.simulated_passes == brute.passes
    assert (fast.latency_cycles, fast.memory_bits) == (brute.latency_cycles, brute.memory_bits)


# ------------------------------------------------------------ known model disagreement


def _slow_global_buffer() -> Hardware:
    """1 core, a 4x4 macro; a global buffer port of 1 bit/cycle makes the output buffer's
    write-back channel the bottleneck."""

    def memory(size_bits: int, bandwidth: float) -> MemoryLevel:
        return MemoryLevel(size_bits, bandwidth, bandwidth, 1.0, 1.0)

    return Hardware(
        name="slow_gb",
        cores=1,
        dram=memory(2**30, 8),
        global_buffer=memory(8192, 1),
        input_buffer=memory(1024, 16),
        output_buffer=memory(2048, 16),
        input_register=memory(8, 8),
        output_register=memory(16, 16),
        macro=Macro(rows=4, columns=4, compartment_depth=4),
    )


def test_bounded_look_ahead_of_a_double_buffered_output_channel() -> None:
    """Loops [P2 Q2 Q2]; O keeps them in DRAM / global buffer / output buffer (double-buffered).

    The output buffer -> global buffer write-back takes 8 outputs x 8 bits / 1 = 64 cycles, more
    than the 2 passes (about 24 cycles) that fill the next tile, so that channel is always
    behind. After the last pass (cycle 338) the last tile waits for the previous write-back
    (until 380), then 64 cycles, then global buffer -> DRAM 128: 572. The cost model adds the
    write-back cascade 2 + 64 + 128 to the end of the last pass: 16 + 322 + 194 = 532.
    """
    layer = Layer("l", K=4, C=4, P=2, Q=4)
    mapping = Mapping.build(
        {"rows": {"C": 4}, "columns": {"K": 4}},
        [("P", 2), ("Q", 2), ("Q", 2)],
        {"I": ["dram"] * 3, "W": ["dram"] * 3, "O": ["dram", "global_buffer", "output_buffer"]},
        [("output_buffer", "O")],
    )
    hw = _slow_global_buffer()
    assert_agrees(hw, layer, mapping)


def test_the_single_buffered_variant_of_that_mapping_agrees_exactly() -> None:
    layer = Layer("l", K=4, C=4, P=2, Q=4)
    mapping = Mapping.build(
        {"rows": {"C": 4}, "columns": {"K": 4}},
        [("P", 2), ("Q", 2), ("Q", 2)],
        {"I": ["dram"] * 3, "W": ["dram"] * 3, "O": ["dram", "global_buffer", "output_buffer"]},
    )
    hw = _slow_global_buffer()
    assert (
        evaluate(hw, layer, mapping).latency_cycles == simulate(hw, layer, mapping).latency_cycles
    )


def test_bounded_look_ahead_of_a_double_buffered_input_channel() -> None:
    """On default_8core, loops [K4 P4 C4]: weights reload from DRAM at every K (192 cycles,
    single-buffered macro); the input buffer (double-buffered) receives a new tile at every P
    (64 cycles, more than the 4 passes that use it). During a weight reload the input channel
    can fill only the free half of the buffer, so the later tiles of the next K iteration are
    on the critical path again; the cost model assumes the whole 4 x 64 overlaps the reload."""
    layer = Layer("l", P=32, C=128, K=48, input_h=32, input_w=1)
    mapping = Mapping.build(
        {"cores": {"P": 8}, "rows": {"C": 32}, "columns": {"K": 12}},
        [("K", 4), ("P", 4), ("C", 4)],
        {
            "I": ["dram", "global_buffer", "input_buffer"],
            "W": ["dram", "dram", "macro"],
            "O": ["dram", "output_buffer", "output_buffer"],
        },
        [("input_buffer", "I")],
    )
    assert_agrees(DEFAULT, layer, mapping)


def test_simulator_reports_dram_traffic_by_level() -> None:
    layer = get_network("resnet18").layer("Conv_1")
    result = simulate(DEFAULT, layer, weight_stationary(DEFAULT, layer))
    # Weight stationary: every weight leaves DRAM once (64 * 64 * 3 * 3 * 8 bits).
    assert result.memory_bits[(Level.DRAM, Operand.W, READ)] == 64 * 64 * 9 * 8
