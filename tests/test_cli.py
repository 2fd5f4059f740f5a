"""The `miredo` command: outputs, exit codes and error messages (never a traceback)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from miredo_core.cli import main
from miredo_core.config import load_hardware
from miredo_core.workload import Operand
from miredo_core.zoo import load_workload

REQUIRED_HEADER = [
    "layer",
    "mapper",
    "objective",
    "status",
    "macs",
    "latency_cycles",
    "energy_pj",
    "edp_pj_cycles",
    "compute_cycles",
    "weight_load_stall_cycles",
    "input_stall_cycles",
    "output_stall_cycles",
    "startup_cycles",
    "writeback_cycles",
    "utilization",
    "spatial_utilization",
    "sim_latency_cycles",
    "sim_energy_pj",
    "solve_time_s",
    "reason",
]

TINY_WORKLOAD = """\
workload:
  name: two_layers
  layers:
    - name: pointwise
      P: 4
      Q: 4
      C: 8
      K: 4
    - name: matmul
      kind: matmul
      P: 8
      C: 8
      K: 8
"""


@pytest.fixture
def tiny_yaml(sample_hardware_dir: Path) -> Path:
    return sample_hardware_dir / "tiny.yaml"


@pytest.fixture
def workload_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "two_layers.yaml"
    path.write_text(TINY_WORKLOAD, encoding="utf-8")
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def test_map_writes_csv_json_and_prints_table(
    tiny_yaml: Path, workload_yaml: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv_path, json_path = tmp_path / "r.csv", tmp_path / "r.json"
    argv = ["map", "--hardware", str(tiny_yaml), "--workload", str(workload_yaml)]
    argv += ["--simulate", "--csv", str(csv_path), "--json", str(json_path)]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    frame = pd.read_csv(csv_path)
    assert list(frame.columns[: len(REQUIRED_HEADER)]) == REQUIRED_HEADER
    assert frame["layer"].tolist() == ["pointwise", "matmul"]
    assert frame["sim_latency_cycles"].notna().all()
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert all(entry["mapping"] for entry in data["layers"])
    assert "pointwise" in out and "matmul" in out
    assert "total two_layers on tiny" in out


def test_missing_hardware_file(
    workload_yaml: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.yaml"
    code, _, err = run(
        ["map", "--hardware", str(missing), "--workload", str(workload_yaml)], capsys
    )
    assert code == 2
    assert err.startswith("miredo: error:")
    assert str(missing) in err


def test_bad_hardware_yaml_lists_every_problem_with_its_path(
    tiny_yaml: Path, workload_yaml: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tiny_yaml.read_text(encoding="utf-8")
    text = text.replace("  cores: 2", "  cores: 0\n  coers: 2").replace("rows: 4", "rows: -4")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    code, _, err = run(["map", "--hardware", str(bad), "--workload", str(workload_yaml)], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) >= 3
    assert all(line.startswith(f"miredo: error: {bad}: ") for line in lines)
    assert "hardware.cores" in err
    assert "hardware.coers" in err
    assert "hardware.macro.rows" in err


def test_yaml_syntax_error(
    workload_yaml: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("hardware: [unclosed\n", encoding="utf-8")
    code, _, err = run(["map", "--hardware", str(bad), "--workload", str(workload_yaml)], capsys)
    assert code == 2
    assert err.startswith("miredo: error:")
    assert str(bad) in err


def test_unknown_network_name(tiny_yaml: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["map", "--hardware", str(tiny_yaml), "--workload", "resnet9000"], capsys)
    assert code == 2
    assert err.startswith("miredo: error:")
    assert "resnet9000" in err
    assert len(err.strip().splitlines()) == 1


def test_unwritable_output_is_an_error_not_a_traceback(
    tiny_yaml: Path, workload_yaml: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no" / "such" / "dir" / "r.csv"
    argv = ["map", "--hardware", str(tiny_yaml), "--workload", str(workload_yaml)]
    code, _, err = run(argv + ["--csv", str(target)], capsys)
    assert code == 2
    assert err.startswith("miredo: error:")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["map"],
        ["map", "--hardware", "x.yaml"],
        ["map", "--hardware", "x.yaml", "--workload", "resnet18", "--mapper", "magic"],
        ["map", "--hardware", "x.yaml", "--workload", "resnet18", "--objective", "area"],
        ["map", "--hardware", "x.yaml", "--workload", "resnet18", "--gap-tolerance", "1.5"],
        ["map", "--hardware", "x.yaml", "--workload", "resnet18", "--workers", "0"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(argv, capsys)
    assert code == 2
    assert "usage:" in err


def test_module_entry_point_runs(repo_root: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "miredo_core.cli", "map", "--help"],
        capture_output=True,
        text=True,
        cwd=repo_root,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert "--hardware" in completed.stdout


def console_script() -> str:
    """The installed `miredo` script: next to this interpreter, else on PATH."""
    beside = Path(sys.executable).parent / "miredo"
    if beside.exists():
        return str(beside)
    found = shutil.which("miredo")
    assert found, "the miredo console script is not installed (pip install -e .)"
    return found


@pytest.mark.slow
def test_console_script_maps_resnet18_above_its_floors(
    repo_root: Path, sample_hardware_dir: Path, tmp_path: Path
) -> None:
    hardware_path = sample_hardware_dir / "default_8core.yaml"
    csv_path = tmp_path / "r.csv"
    argv = [console_script(), "map", "--hardware", str(hardware_path), "--workload", "resnet18"]
    argv += ["--mapper", "ws", "--simulate", "--csv", str(csv_path)]
    completed = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr

    hw = load_hardware(hardware_path)
    network = load_workload("resnet18")
    frame = pd.read_csv(csv_path).set_index("layer")
    assert list(frame.index) == [layer.name for layer in network.layers]
    dram = hw.dram
    for layer in network.layers:
        row = frame.loc[layer.name]
        if row["status"] == "infeasible":
            continue
        # No mapping beats the array's peak throughput ...
        compute_floor = layer.macs / hw.peak_macs_per_cycle(layer.input_bits)
        # ... nor moves an operand across the DRAM port faster than its bandwidth: inputs and
        # weights are read from DRAM at least once, outputs written to it at least once.
        dram_floor = max(
            layer.operand_bits(Operand.I) / dram.read_bw_bits_per_cycle,
            layer.operand_bits(Operand.W) / dram.read_bw_bits_per_cycle,
            layer.operand_bits(Operand.O) / dram.write_bw_bits_per_cycle,
        )
        assert row["latency_cycles"] >= compute_floor * (1 - 1e-9), layer.name
        assert row["latency_cycles"] >= dram_floor * (1 - 1e-9), layer.name
        assert row["sim_latency_cycles"] > 0, layer.name
