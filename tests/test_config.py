"""YAML loading: sample configs reproduce the paper's numbers, round trips are exact, and every
problem in a bad file is reported with its YAML path."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import yaml

from miredo_core.config import (
    ConfigError,
    ConfigIssue,
    dump_hardware,
    dump_workload,
    hardware_from_dict,
    hardware_to_dict,
    load_hardware,
    load_workload_yaml,
    parse_hardware,
    parse_workload,
    workload_to_dict,
)
from miredo_core.hardware import Axis, Hardware, Level
from miredo_core.workload import Dim, Layer, Network, SkippedNode

SAMPLES = Path(__file__).parent.parent / "sample_configs"
HARDWARE_FILES = sorted((SAMPLES / "hardware").glob("*.yaml"))
WORKLOAD_FILES = sorted((SAMPLES / "workloads").glob("*.yaml"))


def _paths(error: ConfigError) -> set[str]:
    return {item.path for item in error.items}


def _default_document() -> dict:
    return hardware_to_dict(load_hardware(SAMPLES / "hardware" / "default_8core.yaml"))


# ------------------------------------------------------------------ sample configs
def test_sample_files_exist() -> None:
    names = {path.name for path in HARDWARE_FILES}
    assert {"default_8core.yaml", "transformer_16core.yaml", "tiny.yaml"} <= names
    assert {"tiny_layers.yaml", "custom_example.yaml"} <= {path.name for path in WORKLOAD_FILES}


@pytest.mark.parametrize("path", HARDWARE_FILES, ids=lambda p: p.name)
def test_sample_hardware_loads_and_round_trips(path: Path) -> None:
    hw = load_hardware(path)
    assert isinstance(hw, Hardware)
    assert parse_hardware(dump_hardware(hw)) == hw
    assert hardware_from_dict(hardware_to_dict(hw)) == hw


@pytest.mark.parametrize("path", WORKLOAD_FILES, ids=lambda p: p.name)
def test_sample_workload_loads_and_round_trips(path: Path) -> None:
    network = load_workload_yaml(path)
    assert isinstance(network, Network)
    assert parse_workload(dump_workload(network)) == network


# Reference section 2.2, "default" column: (size, bandwidth, read energy, write energy).
PAPER_DEFAULT_LEVELS = {
    Level.DRAM: (8589934592, 64, 7.91, 7.91),
    Level.GLOBAL_BUFFER: (2097152, 128, 0.197874140625, 0.1428060375),
    Level.OUTPUT_BUFFER: (131072, 128, 0.039508509375, 0.04694506875),
    Level.INPUT_BUFFER: (65536, 128, 0.02953310625, 0.032814871875),
    Level.OUTPUT_REGISTER: (16, 16, 0.0, 0.001701),
    Level.INPUT_REGISTER: (8, 8, 0.0, 0.001701),
}


@pytest.mark.parametrize("level", list(PAPER_DEFAULT_LEVELS), ids=str)
def test_default_levels_equal_the_paper(level: Level) -> None:
    memory = load_hardware(SAMPLES / "hardware" / "default_8core.yaml").memory(level)
    size, bandwidth, read_energy, write_energy = PAPER_DEFAULT_LEVELS[level]
    assert memory.size_bits == size
    assert memory.read_bw_bits_per_cycle == memory.write_bw_bits_per_cycle == bandwidth
    assert memory.read_energy_pj_per_bit == read_energy
    assert memory.write_energy_pj_per_bit == write_energy


def test_default_macro_equals_the_paper() -> None:
    hw = load_hardware(SAMPLES / "hardware" / "default_8core.yaml")
    macro = hw.macro
    assert hw.cores == 8
    assert (macro.rows, macro.columns, macro.compartment_depth) == (32, 16, 8)
    assert (macro.weight_bits, macro.input_bits_per_cycle, macro.psum_bits) == (8, 1, 16)
    assert macro.ping_pong is False
    assert macro.cell_bits == 64
    assert macro.pass_cycles(8) == 8
    assert macro.write_bw_bits_per_cycle == 8
    assert macro.write_energy_pj_per_bit == 0.02575
    assert macro.activation_energy_pj(8) == pytest.approx(25.619328, rel=1e-12)
    assert hw.axis_dims(Axis.CORES) == {Dim.P, Dim.Q, Dim.K, Dim.G, Dim.N}
    assert hw.axis_dims(Axis.ROWS) == {Dim.R, Dim.S, Dim.C}
    assert hw.axis_dims(Axis.COLUMNS) == {Dim.K}


def test_transformer_template_equals_the_paper() -> None:
    hw = load_hardware(SAMPLES / "hardware" / "transformer_16core.yaml")
    assert hw.cores == 16
    assert (hw.macro.rows, hw.macro.columns, hw.macro.cell_bits) == (64, 32, 64)
    assert hw.dram.size_bits == 34359738368 and hw.dram.read_bw_bits_per_cycle == 256
    assert hw.global_buffer.size_bits == 33554432
    assert hw.global_buffer.read_bw_bits_per_cycle == 512
    assert hw.global_buffer.read_energy_pj_per_bit == 0.4182283125
    assert hw.global_buffer.write_energy_pj_per_bit == 0.2767365
    assert (hw.output_buffer.size_bits, hw.input_buffer.size_bits) == (262144, 131072)
    assert hw.macro.activation_energy_pj(8) == pytest.approx(71.12448, rel=1e-12)


@pytest.mark.parametrize(
    ("file_name", "paper_nj_per_cycle"),
    [("default_8core.yaml", 0.035930852808574304), ("transformer_16core.yaml", 0.4719655086538611)],
)
def test_leakage_total_equals_the_paper(file_name: str, paper_nj_per_cycle: float) -> None:
    hw = load_hardware(SAMPLES / "hardware" / file_name)
    assert hw.leakage_pj_per_cycle == pytest.approx(paper_nj_per_cycle * 1000, rel=1e-9)
    # Split over SRAM capacity: every on-chip SRAM bit leaks the same.
    per_bit = hw.leakage_pj_per_cycle / hw.on_chip_sram_bits
    for level in (Level.GLOBAL_BUFFER, Level.INPUT_BUFFER, Level.OUTPUT_BUFFER):
        memory = hw.memory(level)
        assert memory.leakage_pj_per_cycle == pytest.approx(per_bit * memory.size_bits, rel=1e-9)
    macro_bits = hw.macro.rows * hw.macro.columns * hw.macro.cell_bits
    assert hw.macro.leakage_pj_per_cycle == pytest.approx(per_bit * macro_bits, rel=1e-9)


def test_workload_round_trip_keeps_skipped_nodes_and_non_defaults() -> None:
    shape = {"R": 3, "P": 5, "Q": 7, "C": 3, "K": 2, "G": 2, "N": 2, "stride_h": 2}
    extras = {"pad_top": 1, "input_h": 10, "input_bits": 4, "output_bits": 16}
    layer = Layer("odd", **shape, **extras)
    network = Network("net", (layer,), (SkippedNode("relu1", "Relu", "elementwise"),))
    assert parse_workload(dump_workload(network)) == network
    assert "skipped" in workload_to_dict(network)["workload"]


# ------------------------------------------------------------------ error reporting
def test_three_problems_are_all_reported_with_paths() -> None:
    document = _default_document()
    levels = document["hardware"]["levels"]
    levels["input_buffer"]["leakage_pj_per_cyle"] = 0.0
    levels["output_buffer"]["size_bits"] = -5
    document["hardware"]["spatial_dims"]["rows"] = ["R", "S", "K"]
    with pytest.raises(ConfigError) as caught:
        parse_hardware(yaml.safe_dump(document, sort_keys=False), source="bad.yaml")
    error = caught.value
    assert _paths(error) == {
        "hardware.levels.input_buffer.leakage_pj_per_cyle",
        "hardware.levels.output_buffer.size_bits",
        "hardware.spatial_dims.rows[2]",
    }
    messages = {item.path: item.message for item in error.items}
    assert (
        "did you mean 'leakage_pj_per_cycle'?"
        in messages["hardware.levels.input_buffer.leakage_pj_per_cyle"]
    )
    assert "> 0" in messages["hardware.levels.output_buffer.size_bits"]
    assert "cannot be unrolled on rows" in messages["hardware.spatial_dims.rows[2]"]
    lines = str(error).splitlines()
    assert len(lines) == 3
    assert all(": " in line for line in lines)
    assert isinstance(error, ValueError)


def test_misspelled_required_key_is_unknown_and_missing() -> None:
    document = _default_document()
    level = document["hardware"]["levels"]["global_buffer"]
    level["sizebits"] = level.pop("size_bits")
    with pytest.raises(ConfigError) as caught:
        hardware_from_dict(document)
    messages = {item.path: item.message for item in caught.value.items}
    assert messages["hardware.levels.global_buffer.sizebits"] == (
        "unknown key 'sizebits'; did you mean 'size_bits'?"
    )
    assert "missing" in messages["hardware.levels.global_buffer.size_bits"]


@pytest.mark.parametrize(
    ("section", "key", "value", "fragment"),
    [
        ("macro", "rows", 2.5, "integer"),
        ("macro", "rows", True, "positive integer"),
        ("macro", "ping_pong", "no", "true or false"),
        ("macro", "adder_energy_pj_per_bit", -0.1, ">= 0"),
        ("macro", "write_bw_bits_per_cycle", 0, "> 0"),
        ("levels.dram", "read_energy_pj_per_bit", "1e-3", "write 1.0e-3"),
        ("levels.dram", "read_bw_bits_per_cycle", float("inf"), "finite"),
        ("levels.global_buffer", "size_bits", 0, "> 0"),
        ("spatial_dims", "columns", "K", "expected a list"),
    ],
)
def test_wrong_values_are_reported_at_their_path(
    section: str, key: str, value: object, fragment: str
) -> None:
    document = _default_document()
    target = document["hardware"]
    for part in section.split("."):
        target = target[part]
    target[key] = value
    with pytest.raises(ConfigError) as caught:
        hardware_from_dict(document)
    (item,) = caught.value.items
    assert item.path == f"hardware.{section}.{key}"
    assert fragment in item.message


def test_missing_sections_and_unknown_top_level_keys() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_hardware("hardware:\n  name: x\n  cores: 2\n  colour: red\n")
    assert _paths(caught.value) == {"hardware.levels", "hardware.macro", "hardware.colour"}
    with pytest.raises(ConfigError) as caught:
        parse_hardware("")
    assert _paths(caught.value) == {"hardware"}


def test_missing_level_is_reported() -> None:
    document = _default_document()
    del document["hardware"]["levels"]["input_register"]
    with pytest.raises(ConfigError) as caught:
        hardware_from_dict(document)
    assert _paths(caught.value) == {"hardware.levels.input_register"}


def test_yaml_syntax_error_gives_the_line() -> None:
    text = "hardware:\n  name: x\n  cores: [8\n  levels: {}\n"
    with pytest.raises(ConfigError) as caught:
        parse_hardware(text, source="broken.yaml")
    (item,) = caught.value.items
    assert item.path == "broken.yaml"
    assert "YAML syntax error at line" in item.message


def test_duplicate_keys_are_reported_not_collapsed() -> None:
    text = (SAMPLES / "hardware" / "tiny.yaml").read_text(encoding="utf-8")
    text = text.replace("  cores: 2\n", "  cores: 2\n  cores: 4\n", 1)
    with pytest.raises(ConfigError) as caught:
        parse_hardware(text)
    (item,) = caught.value.items
    assert item.path == "hardware.cores"
    assert "duplicate key" in item.message


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    for loader in (load_hardware, load_workload_yaml):
        with pytest.raises(ConfigError) as caught:
            loader(missing)
        assert caught.value.items == (ConfigIssue(str(missing), "file not found"),)


def test_bad_layer_gives_the_field_path() -> None:
    text = """
workload:
  name: bad
  layers:
    - {name: fine, P: 4, C: 4, K: 4}
    - {name: wrong_output, R: 3, P: 5, input_h: 4}
    - {name: typed, stride_h: two, P: 2}
    - {name: typo, Kk: 3}
"""
    with pytest.raises(ConfigError) as caught:
        parse_workload(text)
    messages = {item.path: item.message for item in caught.value.items}
    assert set(messages) == {
        "workload.layers[1].P",
        "workload.layers[2].stride_h",
        "workload.layers[3].Kk",
    }
    assert "output height is 5" in messages["workload.layers[1].P"]
    assert "did you mean 'K'?" in messages["workload.layers[3].Kk"]


def test_workload_level_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_workload("workload:\n  name: empty\n  layers: []\n")
    assert _paths(caught.value) == {"workload.layers"}
    duplicate = "workload:\n  name: d\n  layers:\n    - {name: a}\n    - {name: a, R: 0}\n"
    with pytest.raises(ConfigError) as caught:
        parse_workload(duplicate)
    assert _paths(caught.value) == {"workload.layers[1].R", "workload.layers[1].name"}
    assert "duplicate layer name 'a'" in str(caught.value)


def test_config_error_survives_pickling() -> None:
    error = ConfigError([ConfigIssue("a.b", "bad"), ConfigIssue("c[0]", "worse")], "x.yaml")
    copy = pickle.loads(pickle.dumps(error))
    assert copy.items == error.items and copy.source == "x.yaml"
    assert str(copy) == "a.b: bad\nc[0]: worse"


def test_numbers_are_floats_and_integers_stay_integers() -> None:
    hw = load_hardware(SAMPLES / "hardware" / "tiny.yaml")
    assert isinstance(hw.dram.read_bw_bits_per_cycle, float)
    assert isinstance(hw.global_buffer.size_bits, int)


def test_odd_dim_entries_do_not_crash() -> None:
    document = _default_document()
    document["hardware"]["spatial_dims"]["cores"] = [{"P": 1}, 3, "P"]
    with pytest.raises(ConfigError) as caught:
        hardware_from_dict(document)
    assert _paths(caught.value) == {
        "hardware.spatial_dims.cores[0]",
        "hardware.spatial_dims.cores[1]",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x: " + "[" * 5000 + "]" * 5000, "nested more than 64 levels"),
        ("x:\n" + "".join(" " * i + "- \n" for i in range(1200)), "nested too deeply"),
        ("a: &a [*a]\nhardware: *a\n", "recursive structure"),
        (f"hardware: {{cores: {'9' * 5000}}}\n", "cannot be read"),
        ("hardware:\n  cores: 8\n  cores: 9\n", "duplicate key"),
    ],
    ids=["flow", "block", "recursive", "long-int", "duplicate"],
)
def test_hostile_yaml_structures_are_config_errors(text: str, message: str) -> None:
    # The workload parser: its 1 MiB limit leaves room for 1,200 levels of block nesting.
    with pytest.raises(ConfigError, match=message):
        parse_workload(text)
