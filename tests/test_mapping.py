"""Mapping construction, serialization, every validation rule of `analyze`, and boundaries
derived by hand from the docstrings of `mapping.py` and `hardware.py`."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

import miredo_core.mapping as mapping_module
from miredo_core import analysis
from miredo_core.analysis import Boundary, analyze, validate
from miredo_core.hardware import Axis, Hardware, Level, Macro, MemoryLevel
from miredo_core.mapping import InfeasibleMappingError, Loop, Mapping
from miredo_core.workload import Dim, Layer, Operand

# ------------------------------------------------------------------------------ fixtures


def toy_hardware(**macro_fields) -> Hardware:
    """2 cores, a 4x4 macro of depth 4 (32 bits per cell), round bandwidths and sizes.

    Per instance: DRAM 8 bits/cycle; global buffer 8192 bits at 32 bits/cycle; input buffer 1024
    and output buffer 2048 bits at 16 bits/cycle; registers 8 (input) and 16 (output) bits.
    """

    def memory(size_bits: int, bandwidth: float) -> MemoryLevel:
        return MemoryLevel(size_bits, bandwidth, bandwidth, 1.0, 1.0)

    return Hardware(
        name="toy",
        cores=2,
        dram=memory(2**30, 8),
        global_buffer=memory(8192, 32),
        input_buffer=memory(1024, 16),
        output_buffer=memory(2048, 16),
        input_register=memory(8, 8),
        output_register=memory(16, 16),
        macro=Macro(**{"rows": 4, "columns": 4, "compartment_depth": 4, **macro_fields}),
    )


HW = toy_hardware()

#: K8 C8 P2: the array unrolls C4 on the rows and K4 on the columns, loops take the rest.
LAYER = Layer("l", K=8, C=8, P=2)
SPATIAL = {"rows": {"C": 4}, "columns": {"K": 4}}
LOOPS = [("K", 2), ("C", 2), ("P", 2)]


def dram_only(n: int = 3) -> dict[str, list[str]]:
    return {op: ["dram"] * n for op in "IWO"}


def build(placement=None, double_buffered=None, spatial=None, loops=None) -> Mapping:
    return Mapping.build(
        SPATIAL if spatial is None else spatial,
        LOOPS if loops is None else loops,
        dram_only() if placement is None else placement,
        double_buffered,
    )


def error_of(mapping: Mapping, layer: Layer = LAYER, hw: Hardware = HW) -> str:
    with pytest.raises(InfeasibleMappingError) as caught:
        analyze(hw, layer, mapping)
    return str(caught.value)


# ------------------------------------------------------------------ build and serialization


def test_build_converts_strings_to_enums_and_drops_unit_spatial_factors() -> None:
    mapping = Mapping.build(
        {"columns": {"K": 4}, "rows": {"C": 4, "R": 1}, "cores": {}},
        [("K", 2), (Dim.C, 2), ("P", 2)],
        {"I": ["dram"] * 3, Operand.W: [Level.DRAM] * 3, "O": ["dram", "dram", "output_buffer"]},
        [("output_buffer", "O")],
    )
    # Sorted by axis (cores, rows, columns), unit factors gone.
    assert mapping.spatial == ((Axis.ROWS, Dim.C, 4), (Axis.COLUMNS, Dim.K, 4))
    assert mapping.loops == (Loop(Dim.K, 2), Loop(Dim.C, 2), Loop(Dim.P, 2))
    assert mapping.levels_of(Operand.O) == (Level.DRAM, Level.DRAM, Level.OUTPUT_BUFFER)
    assert mapping.double_buffered == frozenset({(Level.OUTPUT_BUFFER, Operand.O)})
    assert mapping.spatial_factor(Axis.ROWS, Dim.C) == 4
    assert mapping.spatial_factor(Axis.CORES, Dim.K) == 1
    assert mapping.axis_product(Axis.COLUMNS) == 4
    assert mapping.temporal_product() == 8
    assert mapping.describe() == "spatial [rows:C4, columns:K4] loops [K2 C2 P2]"


def test_to_dict_gives_plain_values() -> None:
    mapping = build(
        {"I": ["dram"] * 3, "W": ["dram"] * 3, "O": ["dram", "dram", "output_buffer"]},
        [("output_buffer", "O")],
    )
    assert mapping.to_dict() == {
        "spatial": {"rows": {"C": 4}, "columns": {"K": 4}},
        "loops": [["K", 2], ["C", 2], ["P", 2]],
        "placement": {
            "I": ["dram", "dram", "dram"],
            "W": ["dram", "dram", "dram"],
            "O": ["dram", "dram", "output_buffer"],
        },
        "double_buffered": [["output_buffer", "O"]],
    }


@pytest.mark.parametrize(
    "mapping",
    [
        build(),
        build(
            {"I": ["global_buffer"] * 3, "W": ["dram", "macro", "macro"], "O": ["dram"] * 3},
            [("global_buffer", "I")],
        ),
        Mapping.build({}, [], {"I": [], "W": [], "O": []}),
    ],
)
def test_dict_and_json_round_trips_are_exact(mapping: Mapping) -> None:
    assert Mapping.from_dict(mapping.to_dict()) == mapping
    text = mapping.to_json()
    assert json.loads(text) == mapping.to_dict()
    assert Mapping.from_json(text) == mapping


def test_malformed_descriptions_raise_infeasible_mapping_error() -> None:
    with pytest.raises(InfeasibleMappingError, match="not valid JSON"):
        Mapping.from_json("{loops")
    with pytest.raises(InfeasibleMappingError, match="malformed mapping description.*placement"):
        Mapping.from_dict({"loops": []})
    with pytest.raises(InfeasibleMappingError, match="'X' is not a valid Dim"):
        Mapping.from_dict({"loops": [["X", 2]], "placement": {"I": ["dram"]}})
    with pytest.raises(InfeasibleMappingError, match="malformed"):
        Mapping.from_dict({"loops": [["K"]], "placement": {}})


# ------------------------------------------------------------------------- shape rules


def test_the_reference_mapping_is_valid() -> None:
    validate(HW, LAYER, build())


def test_disallowed_spatial_dim_names_axis_dim_and_allowed_dims() -> None:
    mapping = build(spatial={"rows": {"C": 4}, "columns": {"K": 2, "P": 2}}, loops=[("K", 4)])
    message = error_of(mapping)
    assert "spatial axis columns cannot unroll ['P'] (allowed: K)" in message


def test_axis_over_subscribed_names_axis_and_both_sizes() -> None:
    mapping = build(spatial={"rows": {"C": 8}, "columns": {"K": 4}}, loops=[("K", 2), ("P", 2)])
    assert "spatial axis rows unrolls 8 but has 4" in error_of(mapping)


def test_cores_over_subscribed() -> None:
    spatial = {"cores": {"K": 4}, "rows": {"C": 4}, "columns": {"K": 2}}
    mapping = build(dram_only(2), spatial=spatial, loops=[("C", 2), ("P", 2)])
    assert error_of(mapping) == "spatial axis cores unrolls 4 but has 2"


def test_dim_product_different_from_the_layer_dim_names_all_numbers() -> None:
    mapping = build(loops=[("K", 2), ("P", 2)])  # C: 4 spatial x 1 temporal != 8
    assert "dim C: spatial 4 x temporal 1 = 4, but the layer has C=8" in error_of(mapping)


def test_over_covering_dim_is_not_padded() -> None:
    mapping = build(loops=[("K", 2), ("C", 4), ("P", 2)])
    assert "dim C: spatial 4 x temporal 4 = 16, but the layer has C=8" in error_of(mapping)


def test_loop_factor_one_is_rejected_with_its_slot() -> None:
    mapping = build(placement=dram_only(4), loops=[*LOOPS, ("N", 1)])
    assert "loop 3 (N) has factor 1; use >= 2" in error_of(mapping)


def test_non_positive_spatial_factor_is_rejected() -> None:
    mapping = build(spatial={"cores": {"K": 0}, "rows": {"C": 4}, "columns": {"K": 4}})
    assert "spatial factor cores:K=0 must be positive" in error_of(mapping)


# --------------------------------------------------------------------- placement rules


def test_placement_length_must_match_the_loops() -> None:
    mapping = build(placement={"I": ["dram"] * 3, "W": ["dram"] * 3, "O": ["dram"] * 2})
    assert "operand O: 2 levels for 3 loops" in error_of(mapping)


def test_placement_must_list_three_operands() -> None:
    mapping = Mapping(spatial=(), loops=(), placement=((), ()))
    message = error_of(mapping, Layer("scalar"))
    assert message == "placement must list the levels of I, W and O"


def test_non_monotone_placement_is_rejected() -> None:
    # C (slot 1) is relevant to I, so only the monotonicity rule is broken.
    placement = {"I": ["dram", "input_buffer", "global_buffer"], "W": ["dram"] * 3}
    placement["O"] = ["dram"] * 3
    message = error_of(build(placement))
    assert message == "operand I: levels must not move outward along the loops"


def test_operand_in_a_level_it_cannot_use_lists_the_allowed_levels() -> None:
    placement = {**dram_only(), "W": ["dram", "dram", "input_buffer"]}
    message = error_of(build(placement))
    assert "operand W cannot live in ['input_buffer'] (allowed: dram, global_buffer, macro)" in (
        message
    )


def test_output_in_the_input_register_is_rejected() -> None:
    placement = {**dram_only(), "O": ["dram", "dram", "input_register"]}
    assert "operand O cannot live in ['input_register']" in error_of(build(placement))


def test_intermediate_level_holding_only_irrelevant_loops_is_rejected() -> None:
    # P is irrelevant to W: a global buffer holding only P would duplicate the macro.
    placement = {**dram_only(), "W": ["dram", "dram", "global_buffer"]}
    message = error_of(build(placement))
    assert message.startswith("operand W at global_buffer holds only loops irrelevant to it (P)")
    assert "place those loops one level up" in message


def test_innermost_level_may_hold_only_irrelevant_loops() -> None:
    # The register / macro is always used, so the rule applies to intermediate levels only.
    # C (innermost) accumulates in the output register, which holds one psum.
    placement = {**dram_only(), "O": ["dram", "dram", "output_register"]}
    validate(HW, LAYER, build(placement, loops=[("K", 2), ("P", 2), ("C", 2)]))
    validate(HW, LAYER, build({**dram_only(), "W": ["dram", "dram", "macro"]}))


# ----------------------------------------------------------------------- double buffers


@pytest.mark.parametrize(
    ("pair", "expected"),
    [
        (("dram", "I"), "dram cannot be double-buffered (asked for I)"),
        (("dram", "O"), "dram cannot be double-buffered (asked for O)"),
        (("input_register", "I"), "input_register cannot be double-buffered (asked for I)"),
        (("output_register", "O"), "output_register cannot be double-buffered (asked for O)"),
        (("global_buffer", "I"), "double buffer at global_buffer for I, which bypasses it"),
        (("output_buffer", "O"), "double buffer at output_buffer for O, which bypasses it"),
        (("input_buffer", "W"), "double buffer at input_buffer for W: W does not live there"),
        (("macro", "W"), "macro weights can be double-buffered only with a ping-pong macro"),
    ],
)
def test_illegal_double_buffers_are_rejected(pair: tuple[str, str], expected: str) -> None:
    assert error_of(build(double_buffered=[pair])) == expected


def test_macro_double_buffer_is_legal_with_ping_pong() -> None:
    validate(toy_hardware(ping_pong=True), LAYER, build(double_buffered=[("macro", "W")]))


def test_used_buffer_may_be_double_buffered() -> None:
    placement = {**dram_only(), "I": ["dram", "dram", "input_buffer"]}
    validate(HW, LAYER, build(placement, [("input_buffer", "I")]))


# ---------------------------------------------------------------------------- capacity

#: C8 K4 P32 on rows C4 / columns K4, loops [C2 P32]: an input buffer holding both loops
#: holds C (2 loop x 4 rows) x 32 rows of the input = 256 elements = 2048 bits per core.
BIG_LAYER = Layer("big", C=8, K=4, P=32)
BIG_LOOPS = [("C", 2), ("P", 32)]


def test_input_buffer_capacity_error_gives_needed_and_available_bits() -> None:
    placement = {"I": ["input_buffer"] * 2, "W": ["dram"] * 2, "O": ["dram"] * 2}
    message = error_of(build(placement, loops=BIG_LOOPS), BIG_LAYER)
    assert message == (
        "capacity exceeded at input_buffer: 2,048 bits needed (I 2,048), 1,024 available per "
        "instance"
    )


def test_double_buffer_doubles_the_space_it_needs() -> None:
    # Only P32 in the input buffer: 32 x 4 elements x 8 bits = 1024 bits, exactly the capacity.
    placement = {"I": ["dram", "input_buffer"], "W": ["dram"] * 2, "O": ["dram"] * 2}
    mapping = build(placement, loops=BIG_LOOPS)
    analysis = analyze(HW, BIG_LAYER, mapping)
    assert analysis.resident_bits[(Level.INPUT_BUFFER, Operand.I)] == 1024
    message = error_of(build(placement, [("input_buffer", "I")], loops=BIG_LOOPS), BIG_LAYER)
    assert "2,048 bits needed (I 2,048 (double-buffered)), 1,024 available" in message


def test_global_buffer_capacity_counts_every_operand() -> None:
    # Global buffer of 1024 bits. The whole input (C8 x 32 rows x 8 bits = 2048 bits) needs
    # 2048 bits, the weights (32 x 8 bits) 256 and the outputs (K4 x 32 psums of 16 bits) 2048.
    hw = replace(HW, global_buffer=replace(HW.global_buffer, size_bits=1024))
    placement = {"I": ["global_buffer"] * 2, "W": ["global_buffer", "macro"]}
    placement["O"] = ["global_buffer"] * 2
    message = error_of(build(placement, loops=BIG_LOOPS), BIG_LAYER, hw)
    assert "capacity exceeded at global_buffer: 4,352 bits needed" in message
    assert "I 2,048" in message and "W 256" in message and "O 2,048" in message
    assert "1,024 available per instance" in message


def test_macro_capacity_is_the_compartment_depth() -> None:
    # Weights K2 x C2 per cell = 4 weights = 32 bits: exactly a depth-4 cell; depth 2 is short.
    placement = {**dram_only(), "W": ["macro", "macro", "macro"]}
    validate(HW, LAYER, build(placement))
    shallow = toy_hardware(compartment_depth=2)
    assert "capacity exceeded at macro: 32 bits needed (W 32), 16 available" in error_of(
        build(placement), hw=shallow
    )


def test_weights_wider_than_the_macro_cells_are_rejected() -> None:
    layer = Layer("w16", K=8, C=8, P=2, weight_bits=16)
    message = error_of(build(), layer)
    assert "layer 'w16' has 16-bit weights but the macro cells hold 8-bit weights" in message


def test_dram_capacity_names_needed_and_available_bits() -> None:
    hw = replace(HW, dram=replace(HW.dram, size_bits=100))
    # I: 2 x 1 x 8 = 16 elements, W: 64, O: 16; 96 elements x 8 bits = 768 bits.
    assert "dram: the layer needs 768 bits, 100 available" in error_of(build(), hw=hw)


def test_every_violated_rule_is_reported_at_once() -> None:
    mapping = build(spatial={"rows": {"C": 8}, "columns": {"P": 2}}, loops=[("K", 8)])
    message = error_of(mapping)
    assert re.search(r"rows unrolls 8 but has 4", message)
    assert "columns cannot unroll ['P']" in message
    assert "dim P" not in message  # P = 2 x 1 is consistent


# -------------------------------------------------------------------------------- boundaries


def boundary(mapping: Mapping, operand: Operand, child: Level) -> Boundary:
    chain = analyze(HW, LAYER, mapping).boundaries[operand]
    return next(b for b in chain if b.child is child)


def test_all_in_dram_boundaries_by_hand() -> None:
    """Loops [K2 C2 P2] (slots 0, 1, 2), every operand keeps them in DRAM, so each operand has a
    single boundary DRAM -> its compute interface whose trigger is its innermost relevant slot.
    """
    analysis = analyze(HW, LAYER, build())
    assert [len(analysis.boundaries[op]) for op in Operand] == [1, 1, 1]
    (i,) = analysis.boundaries[Operand.I]
    (w,) = analysis.boundaries[Operand.W]
    (o,) = analysis.boundaries[Operand.O]

    # I: C and P are relevant, K is not: trigger P (slot 2), fired 2*2*2 = 8 times for C2*P2 = 4
    # distinct tiles (K re-fetches them). DRAM sends C4 inputs (the rows); each of the 4 row
    # registers receives 1. One transfer: max(ceil(4*8/8), ceil(1*8/8)) = 4 cycles.
    assert (i.parent, i.child, i.trigger, i.firings, i.distinct_tiles) == (
        Level.DRAM,
        Level.INPUT_REGISTER,
        2,
        8,
        4,
    )
    assert (i.parent_tile_elements, i.child_tile_elements) == (4, 1)
    assert (i.parent_instances, i.child_instances, i.bits, i.psum, i.cycles) == (1, 4, 8, False, 4)

    # W: K and C are relevant: trigger C (slot 1), 4 firings of 4 distinct tiles (P reuses
    # them). DRAM sends C4 x K4 = 16 weights, one per cell: max(ceil(128/8), ceil(8/8)) = 16.
    assert (w.trigger, w.firings, w.distinct_tiles) == (1, 4, 4)
    assert (w.parent_tile_elements, w.child_tile_elements, w.child_instances) == (16, 1, 16)
    assert (w.bits, w.psum, w.cycles) == (8, False, 16)

    # O: K and P are relevant: trigger P (slot 2), 8 firings of K2*P2 = 4 distinct tiles. C
    # (slot 1) sits above the trigger, so every revisit carries 16-bit psums. DRAM receives K4
    # outputs, each of the 4 column registers sends 1: max(ceil(4*16/8), ceil(16/16)) = 8.
    assert (o.parent, o.child, o.trigger, o.firings, o.distinct_tiles) == (
        Level.DRAM,
        Level.OUTPUT_REGISTER,
        2,
        8,
        4,
    )
    assert (o.psum, o.bits, o.passes, o.cycles) == (True, 16, 2, 8)
    assert (o.parent_tile_elements, o.child_tile_elements, o.child_instances) == (4, 1, 4)

    assert analysis.pass_cycles == 8  # 8-bit inputs, 1 bit per cycle
    assert analysis.passes == 8
    assert analysis.active_cores == 1
    assert analysis.spatial_utilization == pytest.approx(16 / (2 * 4 * 4))
    assert analysis.slot_boundary(Operand.W, 1) is w
    assert analysis.slot_boundary(Operand.W, 2) is None
    assert analysis.resident_bits == {
        (Level.INPUT_REGISTER, Operand.I): 8,
        (Level.MACRO, Operand.W): 8,
        (Level.OUTPUT_REGISTER, Operand.O): 16,  # the output register always holds psums
    }


def test_innermost_reduction_accumulates_in_place_without_psums() -> None:
    # Loops [P2 K2 C2]: O's innermost relevant loop is K (slot 1); only P sits above it, so no
    # tile is revisited: 4 firings, 4 distinct tiles, 8-bit final outputs.
    mapping = build(loops=[("P", 2), ("K", 2), ("C", 2)])
    o = boundary(mapping, Operand.O, Level.OUTPUT_REGISTER)
    assert (o.trigger, o.firings, o.distinct_tiles, o.psum, o.bits, o.passes) == (
        1,
        4,
        4,
        False,
        8,
        1,
    )
    # DRAM receives 4 outputs of 8 bits: ceil(32/8) = 4 cycles.
    assert o.cycles == 4


def test_loops_in_the_innermost_level_make_a_boundary_fire_once() -> None:
    # All weight loops in the macro (4 weights per cell, depth 4): weights cross once.
    mapping = build({**dram_only(), "W": ["macro"] * 3})
    w = boundary(mapping, Operand.W, Level.MACRO)
    assert (w.trigger, w.firings, w.distinct_tiles) == (-1, 1, 1)
    # DRAM sends all 64 weights; each of 16 cells receives K2 x C2 = 4.
    assert (w.parent_tile_elements, w.child_tile_elements, w.child_instances) == (64, 4, 16)
    # max(ceil(64*8/8), ceil(4*8/8)) = 64 cycles.
    assert w.cycles == 64


def test_output_buffer_boundaries_by_hand() -> None:
    """O keeps K2 C2 in DRAM and P2 in the output buffer.

    DRAM -> output buffer: above it K (slot 0, relevant) and C (slot 1, irrelevant): trigger 0,
    2 firings, no reduction above slot 0, so the buffer accumulates over C in place and sends
    8-bit final outputs. Output buffer -> register: trigger P (slot 2), C above it: psums.
    """
    mapping = build({**dram_only(), "O": ["dram", "dram", "output_buffer"]})
    analysis = analyze(HW, LAYER, mapping)
    outer, inner = analysis.boundaries[Operand.O]
    assert (outer.parent, outer.child) == (Level.DRAM, Level.OUTPUT_BUFFER)
    assert (outer.trigger, outer.firings, outer.distinct_tiles, outer.psum) == (0, 2, 2, False)
    # The buffer spans the columns (K4) and holds P2: 8 outputs per firing, one core.
    assert (outer.parent_tile_elements, outer.child_tile_elements, outer.bits) == (8, 8, 8)
    # max(ceil(8*8/8) at DRAM, ceil(8*8/16) at the buffer) = 8 cycles.
    assert outer.cycles == 8
    assert (inner.parent, inner.child) == (Level.OUTPUT_BUFFER, Level.OUTPUT_REGISTER)
    assert (inner.trigger, inner.firings, inner.distinct_tiles, inner.psum) == (2, 8, 4, True)
    # The buffer reads 4 psums (one per column) for its 4 registers: ceil(64/16) = 4 cycles.
    assert (inner.parent_tile_elements, inner.child_instances, inner.cycles) == (4, 4, 4)
    # The buffer accumulates psums from below, so it holds them 16 bits wide: 8 x 16 bits.
    assert analysis.resident_bits[(Level.OUTPUT_BUFFER, Operand.O)] == 128


def test_cores_replicate_weights_but_share_the_global_buffer_tile() -> None:
    # P2 on the cores: each core's 16 cells need the same weights. The global buffer spans the
    # cores, so it sends the 16-weight tile once per firing to 32 cells.
    layer = Layer("l", K=8, C=8, P=4)
    mapping = Mapping.build(
        {"cores": {"P": 2}, **SPATIAL}, LOOPS, {**dram_only(), "W": ["global_buffer"] * 3}
    )
    analysis = analyze(HW, layer, mapping)
    outer, inner = analysis.boundaries[Operand.W]
    assert (outer.trigger, outer.firings, outer.parent_tile_elements) == (-1, 1, 64)
    assert (inner.trigger, inner.firings, inner.distinct_tiles) == (1, 4, 4)
    assert (inner.parent_tile_elements, inner.parent_instances) == (16, 1)
    assert (inner.child_tile_elements, inner.child_instances) == (1, 32)
    assert analysis.active_cores == 2


def test_unknown_keys_in_a_mapping_description_are_rejected() -> None:
    data = {
        "loops": [["K", 2]],
        "placement": {"I": ["dram"], "W": ["dram"], "O": ["dram"]},
        "double_bufered": [["global_buffer", "W"]],
    }
    with pytest.raises(InfeasibleMappingError, match="unknown keys \\['double_bufered'\\]"):
        Mapping.from_dict(data)


def test_names_moved_to_analysis_stay_importable_from_mapping() -> None:
    for name in mapping_module._MOVED:
        assert getattr(mapping_module, name) is getattr(analysis, name)
    with pytest.raises(AttributeError, match="no_such_name"):
        mapping_module.no_such_name  # noqa: B018
