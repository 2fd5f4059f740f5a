"""Variants are pure and change only what they name (plus the name, which records it)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from miredo_core.config import dump_hardware, load_hardware, parse_hardware
from miredo_core.hardware import Hardware, Level
from miredo_core.variants import (
    AXES,
    VARIANT_AXES,
    apply_variant,
    apply_variants,
    variant_name,
    with_bandwidth,
    with_buffer_size,
    with_compartment_depth,
    with_core_count,
    with_macro_columns,
    with_macro_rows,
    with_ping_pong,
)

SAMPLES = Path(__file__).parent.parent / "sample_configs" / "hardware"
DEFAULT = load_hardware(SAMPLES / "default_8core.yaml")


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else key))
        return flat
    return {prefix: value}


def _changed_keys(before: Hardware, after: Hardware) -> set[str]:
    old, new = _flatten(dataclasses.asdict(before)), _flatten(dataclasses.asdict(after))
    assert old.keys() == new.keys()
    return {key for key in old if old[key] != new[key]}


def _level_keys(level: str, *fields: str) -> set[str]:
    return {f"{level}.{field}" for field in fields}


SCALED = ("size_bits", "area_mm2", "leakage_pj_per_cycle")
BANDWIDTH = ("read_bw_bits_per_cycle", "write_bw_bits_per_cycle")

CASES: list[tuple[str, Callable[[Hardware], Hardware], set[str]]] = [
    ("cores", lambda hw: with_core_count(hw, 16), {"cores"}),
    ("rows", lambda hw: with_macro_rows(hw, 64), {"macro.rows"}),
    ("columns", lambda hw: with_macro_columns(hw, 32), {"macro.columns"}),
    ("depth", lambda hw: with_compartment_depth(hw, 4), {"macro.compartment_depth"}),
    ("ping_pong", lambda hw: with_ping_pong(hw, True), {"macro.ping_pong"}),
    (
        "gb_size",
        lambda hw: with_buffer_size(hw, Level.GLOBAL_BUFFER, 4194304),
        _level_keys("global_buffer", *SCALED),
    ),
    (
        "ibuf_size",
        lambda hw: with_buffer_size(hw, "input_buffer", 32768),
        _level_keys("input_buffer", *SCALED),
    ),
    (
        "obuf_size",
        lambda hw: with_buffer_size(hw, Level.OUTPUT_BUFFER, 262144),
        _level_keys("output_buffer", *SCALED),
    ),
    ("dram_bw", lambda hw: with_bandwidth(hw, Level.DRAM, 128), _level_keys("dram", *BANDWIDTH)),
    (
        "oreg_bw",
        lambda hw: with_bandwidth(hw, Level.OUTPUT_REGISTER, 32),
        _level_keys("output_register", *BANDWIDTH),
    ),
]
AXIS_CASES: list[tuple[str, Any, set[str]]] = [
    ("cores", 4, {"cores"}),
    ("macro_rows", 16, {"macro.rows"}),
    ("macro_columns", 8, {"macro.columns"}),
    ("compartment_depth", 16, {"macro.compartment_depth"}),
    ("gb_kib", 512, _level_keys("global_buffer", *SCALED)),
    ("ibuf_kib", 16, _level_keys("input_buffer", *SCALED)),
    ("obuf_kib", 0.5, _level_keys("output_buffer", *SCALED)),
    ("gb_bw", 256, _level_keys("global_buffer", *BANDWIDTH)),
    ("dram_bw", 32.0, _level_keys("dram", *BANDWIDTH)),
    ("ping_pong", True, {"macro.ping_pong"}),
]


@pytest.mark.parametrize(("label", "variant", "expected"), CASES, ids=[c[0] for c in CASES])
def test_variant_changes_only_its_field(
    label: str, variant: Callable[[Hardware], Hardware], expected: set[str]
) -> None:
    before = dataclasses.asdict(DEFAULT)
    changed = variant(DEFAULT)
    assert dataclasses.asdict(DEFAULT) == before  # the input is untouched
    assert _changed_keys(DEFAULT, changed) == expected | {"name"}
    assert parse_hardware(dump_hardware(changed)) == changed  # still a valid config


@pytest.mark.parametrize(("axis", "value", "expected"), AXIS_CASES, ids=[c[0] for c in AXIS_CASES])
def test_every_axis_changes_only_its_field(axis: str, value: Any, expected: set[str]) -> None:
    changed = apply_variant(DEFAULT, axis, value)
    assert _changed_keys(DEFAULT, changed) == expected | {"name"}
    assert changed.name.startswith("default_8core[") and axis in changed.name


def test_axes_registry_is_complete() -> None:
    assert set(VARIANT_AXES) == {axis for axis, _, _ in AXIS_CASES}


def test_kib_axes_convert_to_bits() -> None:
    assert apply_variant(DEFAULT, "gb_kib", 512).global_buffer.size_bits == 512 * 8192
    assert apply_variant(DEFAULT, "obuf_kib", 0.5).output_buffer.size_bits == 4096


def test_buffer_area_and_leakage_scale_with_capacity() -> None:
    doubled = with_buffer_size(DEFAULT, Level.GLOBAL_BUFFER, 2 * DEFAULT.global_buffer.size_bits)
    old, new = DEFAULT.global_buffer, doubled.global_buffer
    assert new.area_mm2 == pytest.approx(2 * old.area_mm2)
    assert new.leakage_pj_per_cycle == pytest.approx(2 * old.leakage_pj_per_cycle)
    assert new.read_energy_pj_per_bit == old.read_energy_pj_per_bit


def test_names_record_the_change() -> None:
    assert with_core_count(DEFAULT, 16).name == "default_8core[cores=16]"
    chained = apply_variant(apply_variant(DEFAULT, "cores", 16), "gb_kib", 512)
    assert chained.name == "default_8core[cores=16,gb_kib=512]"
    assert apply_variant(chained, "cores", 4).name == "default_8core[cores=4,gb_kib=512]"
    assert with_ping_pong(DEFAULT, False).name == "default_8core[ping_pong=off]"
    assert variant_name("plain[x]", "cores", 2) == "plain[x][cores=2]"


def test_applying_values_a_design_already_has_leaves_it_as_it_is() -> None:
    assert apply_variants(DEFAULT, {"cores": 8, "gb_kib": 256}) is DEFAULT  # its own values
    moved = apply_variants(DEFAULT, [("cores", 8), ("gb_kib", 512)])
    assert moved.name == "default_8core[gb_kib=512]" and moved.cores == DEFAULT.cores
    assert moved == apply_variant(DEFAULT, "gb_kib", 512)
    with pytest.raises(ValueError, match="unknown variant axis"):
        apply_variants(DEFAULT, {"warp_drive": 1})
    with pytest.raises(ValueError, match="positive integer"):
        apply_variants(DEFAULT, {"cores": 8.0})  # checked even where it would change nothing
    assert apply_variants(DEFAULT, [("cores", 4), ("cores", 8)]) is DEFAULT  # the last wins


def test_the_same_changes_give_the_same_name_in_any_order() -> None:
    one = apply_variants(DEFAULT, [("ping_pong", True), ("cores", 4), ("gb_kib", 128)])
    other = apply_variants(DEFAULT, [("gb_kib", 128), ("cores", 4), ("ping_pong", True)])
    assert one == other and one.name == "default_8core[cores=4,ping_pong=on,gb_kib=128]"


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: with_core_count(DEFAULT, 0), "positive integer"),
        (lambda: with_core_count(DEFAULT, -3), "positive integer"),
        (lambda: with_core_count(DEFAULT, 2.5), "positive integer"),
        (lambda: with_core_count(DEFAULT, True), "positive integer"),
        (lambda: with_macro_rows(DEFAULT, 0), "macro rows"),
        (lambda: with_macro_columns(DEFAULT, -1), "macro columns"),
        (lambda: with_compartment_depth(DEFAULT, 0), "compartment depth"),
        (lambda: with_buffer_size(DEFAULT, Level.GLOBAL_BUFFER, 0), "positive integer"),
        (lambda: with_buffer_size(DEFAULT, Level.DRAM, 1024), "not dram"),
        (lambda: with_buffer_size(DEFAULT, Level.INPUT_REGISTER, 16), "not input_register"),
        (lambda: with_buffer_size(DEFAULT, "l2", 16), "unknown memory level"),
        (lambda: with_bandwidth(DEFAULT, Level.DRAM, 0), "positive"),
        (lambda: with_bandwidth(DEFAULT, Level.DRAM, float("inf")), "finite"),
        (lambda: with_bandwidth(DEFAULT, Level.DRAM, float("nan")), "finite"),
        (lambda: with_bandwidth(DEFAULT, Level.MACRO, 8), "macro"),
        (lambda: with_ping_pong(DEFAULT, "yes"), "True or False"),
        (lambda: apply_variant(DEFAULT, "gb_kib", 0), "positive number of KiB"),
        (lambda: apply_variant(DEFAULT, "gb_kib", 0.0001), "whole number of bits"),
        (lambda: apply_variant(DEFAULT, "ibuf_kib", float("inf")), "positive number of KiB"),
    ],
)
def test_invalid_values_raise(call: Callable[[], Hardware], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        call()


def test_unknown_axis_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError) as caught:
        apply_variant(DEFAULT, "core", 4)
    message = str(caught.value)
    assert "'core'" in message
    assert all(axis in message for axis in VARIANT_AXES)


@given(st.integers(min_value=1, max_value=4096))
def test_core_count_variant_property(cores: int) -> None:
    changed = with_core_count(DEFAULT, cores)
    assert changed.cores == cores
    assert _changed_keys(DEFAULT, changed) <= {"cores", "name"}


@pytest.mark.parametrize("name", list(AXES))
def test_each_axis_reads_back_what_it_sets(name: str) -> None:
    hw = DEFAULT
    axis = AXES[name]
    current = axis.read(hw)
    assert isinstance(current, axis.type) or axis.type is float and isinstance(current, int)
    new = (not current) if axis.type is bool else current * 2
    assert axis.read(apply_variant(hw, name, new)) == new
    assert axis.minimum <= current <= axis.typical_maximum
    assert axis.yaml_paths and all(p.startswith("hardware.") for p in axis.yaml_paths)
