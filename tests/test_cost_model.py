"""Closed-form checks of `cost_model.evaluate`, its exact breakdowns and its invariants.

Every expected number below is derived by hand from the docstrings of `cost_model.py`,
`mapping.py` and `hardware.py` and the hardware numbers; the derivation is in the comment next
to it.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

from miredo_core.config import load_hardware
from miredo_core.cost_model import LATENCY_PARTS, READ, WRITE, CostBreakdown, evaluate
from miredo_core.hardware import Axis, Hardware, Level, Macro, MemoryLevel
from miredo_core.mapping import InfeasibleMappingError, Mapping, analyze
from miredo_core.search.baselines import random_mapping, weight_stationary
from miredo_core.variants import with_bandwidth, with_ping_pong
from miredo_core.workload import Layer, Operand
from miredo_core.zoo import get_network

SAMPLES = Path(__file__).resolve().parent.parent / "sample_configs" / "hardware"
DEFAULT = load_hardware(SAMPLES / "default_8core.yaml")
TINY = load_hardware(SAMPLES / "tiny.yaml")


def toy_hardware(ping_pong: bool = False) -> Hardware:
    """2 cores, 4x4 macro of depth 4, t_MAC = 8 cycles; round energies (exact in binary) so the
    sums below are exact. Leakage: 1 (global buffer) + 2 x 0.125 (input buffers) + 2 x 0.125
    (output buffers) + 2 x 0.5 (macros) = 2.5 pJ/cycle."""

    def memory(size_bits, bandwidth, read_pj, write_pj, leakage=0.0) -> MemoryLevel:
        return MemoryLevel(
            size_bits, bandwidth, bandwidth, read_pj, write_pj, leakage_pj_per_cycle=leakage
        )

    return Hardware(
        name="toy",
        cores=2,
        dram=memory(2**30, 8, 10.0, 10.0),
        global_buffer=memory(8192, 32, 1.0, 2.0, leakage=1.0),
        input_buffer=memory(1024, 16, 0.5, 0.25, leakage=0.125),
        output_buffer=memory(2048, 16, 0.5, 0.25, leakage=0.125),
        input_register=memory(8, 8, 0.0, 0.0625),
        output_register=memory(16, 16, 0.0, 0.0625),
        macro=Macro(
            rows=4,
            columns=4,
            compartment_depth=4,
            ping_pong=ping_pong,
            write_bw_bits_per_cycle=8,
            write_energy_pj_per_bit=0.125,
            leakage_pj_per_cycle=0.5,
        ),
    )


TOY = toy_hardware()
TOY_PING_PONG = toy_hardware(ping_pong=True)
ARRAY = {"rows": {"C": 4}, "columns": {"K": 4}}

#: e_MAC of the toy 4x4 array with 8-bit inputs and weights (t_MAC = 8):
#: array 0.0002835 * 8 * 4 * 4 * 8 = 0.290304; adder tree max(4*9 - (8+3+1)*4, 0) = 0;
#: merge (0.003402 + 0.001701) * (8 + 8 + 2) * 8 * 4 = 2.939328.
TOY_ACTIVATION_PJ = 0.290304 + 0.0 + 2.939328


def dram(n: int) -> list[str]:
    return ["dram"] * n


def total_memory_pj(cost: CostBreakdown) -> float:
    return sum(cost.memory_energy_pj.values())


# ------------------------------------------------------------------- DRAM weight traffic


def test_weights_held_in_the_macro_are_read_from_dram_exactly_once() -> None:
    # K8 C8 P2 on rows C4 / columns K4, loops [K2 C2 P2], all W loops in the macro (4 weights
    # per cell, depth 4): the DRAM -> macro boundary fires once and DRAM sends every weight:
    # K*C*R*S*G*weight_bits = 8*8*1*1*1*8 = 512 bits, at 10 pJ/bit = 5120 pJ.
    layer = Layer("l", K=8, C=8, P=2)
    mapping = Mapping.build(
        ARRAY, [("K", 2), ("C", 2), ("P", 2)], {"I": dram(3), "W": ["macro"] * 3, "O": dram(3)}
    )
    cost = evaluate(TOY, layer, mapping)
    assert cost.memory_bits[(Level.DRAM, Operand.W, READ)] == 8 * 8 * 8
    assert cost.memory_energy_pj[(Level.DRAM, Operand.W, READ)] == pytest.approx(512 * 10.0)
    # Each of the 16 cells is written its 4 weights once: 16 * 4 * 8 = 512 bits at 0.125.
    assert cost.memory_bits[(Level.MACRO, Operand.W, WRITE)] == 512
    assert cost.memory_energy_pj[(Level.MACRO, Operand.W, WRITE)] == pytest.approx(64.0)


def test_a_reduction_loop_inside_an_irrelevant_one_re_reads_the_weights() -> None:
    # Loops [P2 K2 C2] in DRAM: W's trigger is C (slot 2) with P above it, so the 4 distinct
    # tiles of 16 weights are fetched 8 times: 8 * 16 * 8 = 1024 bits, twice the weights.
    layer = Layer("l", K=8, C=8, P=2)
    mapping = Mapping.build(ARRAY, [("P", 2), ("K", 2), ("C", 2)], {op: dram(3) for op in "IWO"})
    cost = evaluate(TOY, layer, mapping)
    assert cost.memory_bits[(Level.DRAM, Operand.W, READ)] == 2 * 8 * 8 * 8


RESNET18 = get_network("resnet18")
RESNET18_SHAPES = list({layer.shape_key(): layer for layer in RESNET18.layers}.values())


@pytest.mark.parametrize("layer", RESNET18_SHAPES, ids=lambda layer: layer.name)
def test_weight_stationary_reads_every_weight_once_from_dram(layer: Layer) -> None:
    # WS orders loops N G K C R S P Q: every loop above the weights' DRAM trigger is relevant
    # to W (N = 1), so each weight leaves DRAM exactly once.
    cost = evaluate(DEFAULT, layer, weight_stationary(DEFAULT, layer))
    expected = layer.K * layer.C * layer.R * layer.S * layer.G * layer.weight_bits
    assert cost.memory_bits[(Level.DRAM, Operand.W, READ)] == expected
    assert cost.memory_energy_pj[(Level.DRAM, Operand.W, READ)] == pytest.approx(
        expected * DEFAULT.dram.read_energy_pj_per_bit, rel=1e-12
    )


# ------------------------------------------------------------------------------ latency


def test_fully_spatial_mapping_is_one_pass_between_start_up_and_write_back() -> None:
    # K4 C4 fills the 4x4 array: no temporal loop, one bit-serial pass of t_MAC = 8 cycles.
    # Start-up: I sends C4 inputs (32 bits over DRAM's 8 bits/cycle = 4 cycles, each row
    # register takes 8 bits at 8 bits/cycle = 1); W sends 16 weights (128 bits / 8 = 16 cycles;
    # each cell takes 8 bits at 8 bits/cycle = 1): slowest cascade 16.
    # Write-back: 4 final 8-bit outputs into DRAM, 32 / 8 = 4 cycles.
    cost = evaluate(
        TOY, Layer("l", K=4, C=4), Mapping.build(ARRAY, [], {"I": [], "W": [], "O": []})
    )
    assert cost.compute_cycles == 8
    assert cost.startup_cycles == 16
    assert cost.writeback_cycles == 4
    assert cost.latency_cycles == 16 + 8 + 4
    assert cost.stall_cycles == 0


K4_LAYER = Layer("k", K=16, C=4)


def test_single_buffered_macro_serializes_weight_loads_and_passes() -> None:
    # Loops [K4], all in DRAM. W tile: 16 weights, 128 bits / 8 = 16 cycles per load, reloaded
    # every iteration (K is relevant). I (K irrelevant) is loaded once: 4 cycles. O: 4 final
    # outputs per iteration, 32 bits / 8 = 4 cycles, single-buffered register.
    # Each later iteration: the weights replace the ones just used, then the pass runs:
    # serial = max(W 16, O 4) = 16, so latency = start-up max(4, 16) + t_MAC + 3 * (t_MAC + 16)
    # + write-back 4 = 16 + 8 + 72 + 4 = 100, of which 3 * 16 = 48 are weight-load stalls.
    mapping = Mapping.build(ARRAY, [("K", 4)], {op: dram(1) for op in "IWO"})
    cost = evaluate(TOY, K4_LAYER, mapping)
    assert cost.latency_cycles == 16 + 8 + 3 * (8 + 16) + 4
    assert cost.compute_cycles == 4 * 8
    assert cost.weight_load_stall_cycles == 3 * 16
    assert (cost.input_stall_cycles, cost.output_stall_cycles) == (0, 0)
    assert (cost.startup_cycles, cost.writeback_cycles) == (16, 4)


def test_ping_pong_macro_overlaps_weight_loads_with_passes() -> None:
    # The same nest with the macro double-buffered: an iteration lasts
    # max(t_MAC + O write-back 4 = 12, weight channel 16, t_MAC 8) = 16, so latency
    # = 16 + 8 + 3 * 16 + 4 = 76; the stall 3 * (16 - 8) = 24 is the weight channel's.
    mapping = Mapping.build(ARRAY, [("K", 4)], {op: dram(1) for op in "IWO"}, [("macro", "W")])
    cost = evaluate(TOY_PING_PONG, K4_LAYER, mapping)
    assert cost.latency_cycles == 16 + 8 + 3 * 16 + 4
    assert cost.weight_load_stall_cycles == 3 * (16 - 8)
    assert cost.output_stall_cycles == 0


def test_ping_pong_hides_weight_loads_shorter_than_a_pass() -> None:
    # DRAM at 32 bits/cycle: a weight load is 128 / 32 = 4 cycles. I: 32 / 32 -> 1 cycle,
    # O: 32 / 32 -> 1 cycle. Iteration: max(8 + 1, 4, 8) = 9 (the output register's write-back
    # still sits between passes), start-up max(1, 4) = 4, write-back 1:
    # latency = 4 + 8 + 3 * 9 + 1 = 40, with 3 output-stall cycles and no weight stall.
    hw = with_bandwidth(TOY_PING_PONG, Level.DRAM, 32)
    mapping = Mapping.build(ARRAY, [("K", 4)], {op: dram(1) for op in "IWO"}, [("macro", "W")])
    cost = evaluate(hw, K4_LAYER, mapping)
    assert cost.latency_cycles == 4 + 8 + 3 * 9 + 1
    assert (cost.weight_load_stall_cycles, cost.output_stall_cycles) == (0, 3)


def test_start_up_and_write_back_are_cascades_through_the_used_levels() -> None:
    # Loops [K4]; W keeps them in the global buffer, O in the output buffer.
    # W start-up: DRAM -> GB once, 64 weights = 512 bits / 8 = 64 cycles (GB side 512 / 32 =
    # 16); then GB -> macro, 16 weights = 128 / 32 = 4 cycles: cascade 68 (I: 4).
    # Loop: W reloads from the GB (4), O's register writes 4 outputs into the buffer
    # (32 bits / 16 = 2): iteration t_MAC + 4 = 12.
    # Write-back: register -> buffer 2, then buffer -> DRAM 16 outputs = 128 / 8 = 16: 18.
    # latency = 68 + 8 + 3 * 12 + 18 = 130.
    placement = {"I": dram(1), "W": ["global_buffer"], "O": ["output_buffer"]}
    cost = evaluate(TOY, K4_LAYER, Mapping.build(ARRAY, [("K", 4)], placement))
    assert (cost.startup_cycles, cost.writeback_cycles) == (68, 18)
    assert cost.latency_cycles == 68 + 8 + 3 * 12 + 18
    assert cost.weight_load_stall_cycles == 3 * 4


def test_energy_of_the_single_loop_mapping_by_hand() -> None:
    # Loops [K4] in DRAM (latency 100, see above).
    # I: once, 4 inputs = 32 bits read from DRAM (320 pJ), written into 4 row registers
    #    (32 bits * 0.0625 = 2 pJ).
    # W: 4 loads of 16 weights = 512 bits from DRAM (5120 pJ) into 16 cells (512 * 0.125 = 64).
    # O: 4 write-backs of 4 outputs = 128 bits into DRAM (1280 pJ); register reads are free.
    # MAC: e_MAC * 4 passes * 1 core. Leakage: 2.5 pJ/cycle * 100 cycles = 250.
    mapping = Mapping.build(ARRAY, [("K", 4)], {op: dram(1) for op in "IWO"})
    cost = evaluate(TOY, K4_LAYER, mapping)
    assert cost.memory_bits == {
        (Level.DRAM, Operand.I, READ): 32,
        (Level.INPUT_REGISTER, Operand.I, WRITE): 32,
        (Level.DRAM, Operand.W, READ): 512,
        (Level.MACRO, Operand.W, WRITE): 512,
        (Level.OUTPUT_REGISTER, Operand.O, READ): 128,
        (Level.DRAM, Operand.O, WRITE): 128,
    }
    assert total_memory_pj(cost) == pytest.approx(320 + 2 + 5120 + 64 + 1280)
    assert TOY.macro.activation_energy_pj(8) == pytest.approx(TOY_ACTIVATION_PJ)
    assert cost.mac_energy_pj == pytest.approx(TOY_ACTIVATION_PJ * 4)
    assert TOY.leakage_pj_per_cycle == pytest.approx(2.5)
    assert cost.leakage_energy_pj == pytest.approx(250.0)
    assert cost.energy_pj == pytest.approx(6786 + TOY_ACTIVATION_PJ * 4 + 250)
    assert cost.energy_by_level()[Level.DRAM] == pytest.approx(320 + 5120 + 1280)
    assert cost.edp_pj_cycles == pytest.approx(cost.energy_pj * 100)


def test_psum_revisits_read_partial_sums_back_from_dram() -> None:
    # Loops [K2 C2 P2] in DRAM: O fires 8 times (trigger P) for 4 distinct tiles of 4 psums
    # (C above the trigger), 16 bits wide. Writes: 8 * 4 * 16 = 512 bits; reads of the 4
    # revisits: 4 * 4 * 16 = 256 bits, each written back into the 4 column registers.
    layer = Layer("l", K=8, C=8, P=2)
    mapping = Mapping.build(ARRAY, [("K", 2), ("C", 2), ("P", 2)], {op: dram(3) for op in "IWO"})
    cost = evaluate(TOY, layer, mapping)
    assert cost.memory_bits[(Level.DRAM, Operand.O, WRITE)] == 512
    assert cost.memory_bits[(Level.DRAM, Operand.O, READ)] == 256
    assert cost.memory_bits[(Level.OUTPUT_REGISTER, Operand.O, WRITE)] == 256


# ---------------------------------------------------------------------------- MAC energy


def test_default_activation_energy_is_the_reference_value() -> None:
    # miredo-model.md section 2.1: 9.289728 + 2.612736 + 13.716864 = 25.619328 pJ.
    assert DEFAULT.macro.activation_energy_pj(8) == pytest.approx(25.619328, rel=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_mac_energy_is_activation_times_passes_times_active_cores(seed: int) -> None:
    layer = Layer("a", R=3, S=3, P=8, Q=8, C=16, K=32, pad_top=1, pad_bottom=1, pad_left=1,
                  pad_right=1)  # fmt: skip
    mapping = random_mapping(DEFAULT, layer, random.Random(seed))
    analysis = analyze(DEFAULT, layer, mapping)
    cost = evaluate(DEFAULT, layer, mapping)
    passes = mapping.temporal_product()
    assert analysis.active_cores == mapping.axis_product(Axis.CORES)
    assert cost.mac_energy_pj == pytest.approx(25.619328 * passes * analysis.active_cores)


# --------------------------------------------------------------- breakdowns and floors

SMALL_LAYERS = (
    Layer("conv3x3", R=3, S=3, P=8, Q=8, C=16, K=32, pad_top=1, pad_bottom=1, pad_left=1,
          pad_right=1),
    Layer("pointwise", P=16, Q=16, C=64, K=64),
    Layer("depthwise", R=3, S=3, P=14, Q=14, G=32, stride_h=2, stride_w=2, pad_top=1,
          pad_bottom=1, pad_left=1, pad_right=1, kind="depthwise"),
    Layer("matmul", P=32, C=128, K=96, input_h=32, input_w=1, kind="matmul"),
)  # fmt: skip

CASES = [
    pytest.param(hw, layer, seed, id=f"{hw.name}-{layer.name}-{seed}")
    for hw in (DEFAULT, TINY)
    for layer in SMALL_LAYERS
    for seed in range(8)
]


@pytest.mark.parametrize(("hw", "layer", "seed"), CASES)
def test_breakdowns_are_exact_and_bounded_below(hw: Hardware, layer: Layer, seed: int) -> None:
    mapping = random_mapping(hw, layer, random.Random(seed))
    cost = evaluate(hw, layer, mapping)
    parts = (
        cost.compute_cycles
        + cost.weight_load_stall_cycles
        + cost.input_stall_cycles
        + cost.output_stall_cycles
        + cost.startup_cycles
        + cost.writeback_cycles
    )
    assert cost.latency_cycles == pytest.approx(parts, rel=1e-12)
    # The named parts are those fields, read off the typed parts.
    assert sum(getattr(cost, name) for name in LATENCY_PARTS) == parts
    assert all(getattr(cost, n) == getattr(cost.latency_parts, n) for n in LATENCY_PARTS)
    assert cost.energy_pj == pytest.approx(
        total_memory_pj(cost) + cost.mac_energy_pj + cost.leakage_energy_pj, rel=1e-12
    )
    assert cost.leakage_energy_pj == pytest.approx(hw.leakage_pj_per_cycle * cost.latency_cycles)
    energies = [cost.energy_pj, cost.mac_energy_pj, cost.leakage_energy_pj]
    assert min(energies + list(cost.memory_energy_pj.values())) >= 0
    assert min(cost.memory_bits.values()) >= 0
    stalls = (cost.weight_load_stall_cycles, cost.input_stall_cycles, cost.output_stall_cycles)
    assert min(stalls) >= 0
    # Compute floor: every MAC needs a cell for a whole pass.
    floor = layer.macs / hw.peak_macs_per_cycle(layer.input_bits)
    assert cost.latency_cycles >= cost.compute_cycles >= floor
    # DRAM floors: each operand has its own DRAM port, which must carry its traffic.
    dram_bw = hw.dram.read_bw_bits_per_cycle
    for operand in (Operand.I, Operand.W):
        assert cost.latency_cycles >= cost.memory_bits[(Level.DRAM, operand, READ)] / dram_bw
    output_bits = cost.memory_bits[(Level.DRAM, Operand.O, WRITE)] + cost.memory_bits.get(
        (Level.DRAM, Operand.O, READ), 0.0
    )
    assert cost.latency_cycles >= output_bits / hw.dram.write_bw_bits_per_cycle
    # Every weight and every final output crosses DRAM at least once.
    assert cost.memory_bits[(Level.DRAM, Operand.W, READ)] >= layer.operand_bits(Operand.W)
    assert cost.memory_bits[(Level.DRAM, Operand.O, WRITE)] >= layer.operand_bits(Operand.O)
    assert cost.macs == layer.macs
    assert cost.utilization == pytest.approx(
        layer.macs / (hw.peak_macs_per_cycle(layer.input_bits) * cost.latency_cycles)
    )
    assert 0 < cost.utilization <= 1
    assert cost.area_mm2 == hw.area_mm2


def test_invalid_mapping_raises() -> None:
    mapping = Mapping.build(ARRAY, [("K", 2)], {op: dram(1) for op in "IWO"})
    with pytest.raises(InfeasibleMappingError, match="the layer has K=16"):
        evaluate(TOY, K4_LAYER, mapping)


# ---------------------------------------------------------------------------- invariants


def _fits(hw: Hardware, layer: Layer, mapping: Mapping) -> bool:
    try:
        analyze(hw, layer, mapping)
    except InfeasibleMappingError:
        return False
    return True


@pytest.mark.parametrize(("hw", "layer", "seed"), CASES)
def test_ping_pong_macro_never_increases_latency(hw: Hardware, layer: Layer, seed: int) -> None:
    mapping = random_mapping(hw, layer, random.Random(seed))
    before = evaluate(hw, layer, mapping).latency_cycles
    ping_pong = with_ping_pong(hw, True)
    # The flag alone changes nothing for a mapping that does not use it.
    assert evaluate(ping_pong, layer, mapping).latency_cycles == before
    doubled = replace(mapping, double_buffered=mapping.double_buffered | {(Level.MACRO, Operand.W)})
    if _fits(ping_pong, layer, doubled):
        assert evaluate(ping_pong, layer, doubled).latency_cycles <= before


ELIGIBLE = (Level.GLOBAL_BUFFER, Level.INPUT_BUFFER, Level.OUTPUT_BUFFER)


@pytest.mark.parametrize(("hw", "layer", "seed"), CASES)
def test_extra_double_buffer_never_increases_latency(hw: Hardware, layer: Layer, seed: int) -> None:
    mapping = random_mapping(hw, layer, random.Random(seed))
    before = evaluate(hw, layer, mapping).latency_cycles
    for operand in Operand:
        for level in set(mapping.levels_of(operand)) & set(ELIGIBLE):
            if (level, operand) in mapping.double_buffered:
                continue
            doubled = replace(mapping, double_buffered=mapping.double_buffered | {(level, operand)})
            if _fits(hw, layer, doubled):
                assert evaluate(hw, layer, doubled).latency_cycles <= before, (level, operand)


@pytest.mark.parametrize(("hw", "layer", "seed"), CASES)
def test_faster_dram_never_increases_latency(hw: Hardware, layer: Layer, seed: int) -> None:
    mapping = random_mapping(hw, layer, random.Random(seed))
    latency = evaluate(hw, layer, mapping).latency_cycles
    bandwidth = hw.dram.read_bw_bits_per_cycle
    for factor in (1.5, 2, 4, 64):
        faster = evaluate(with_bandwidth(hw, Level.DRAM, bandwidth * factor), layer, mapping)
        assert faster.latency_cycles <= latency
        latency = faster.latency_cycles


# -------------------------------------------------------------------------------- golden


def test_golden_weight_stationary_resnet18_conv1_on_default() -> None:
    """Pinned numbers: a change here is a change of the model, to be explained."""
    layer = RESNET18.layer("Conv_1")
    mapping = weight_stationary(DEFAULT, layer)
    cost = evaluate(DEFAULT, layer, mapping)
    floor = layer.macs / DEFAULT.peak_macs_per_cycle(layer.input_bits)
    assert floor == 225792  # 115605504 MACs / (8 * 32 * 16 / 8) MACs per cycle
    assert floor <= cost.latency_cycles <= 20 * floor
    assert cost.latency_cycles == pytest.approx(2168544.0, rel=1e-9)
    assert cost.energy_pj == pytest.approx(1004490337.6025681, rel=1e-9)
    assert cost.compute_cycles == 225792
    assert cost.mac_energy_pj == pytest.approx(25.619328 * 28224 * 8, rel=1e-12)
