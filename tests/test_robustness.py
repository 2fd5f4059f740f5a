"""Bad, hostile and absurd inputs end in bounded time with a clear message and the documented
exit code, never a traceback or a hang. The CLI runs as a subprocess with a timeout (a hang
fails the test through `subprocess.TimeoutExpired`); inputs are small and built here."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import onnx
import pandas as pd
import pytest
from onnx import TensorProto, helper

from miredo_core.cli import main
from miredo_core.config import (
    MAX_SHOWN_ISSUES,
    ConfigError,
    dump_hardware,
    load_hardware,
    parse_hardware,
    parse_workload,
    plausibility_warnings,
    workload_from_dict,
)
from miredo_core.onnx_import import import_onnx
from miredo_core.problem_keys import Answer, ProblemKey
from miredo_core.search.factors import divisors, factorizations, prime_factors
from miredo_core.store import ResultStore
from miredo_core.variants import with_core_count
from miredo_core.workload import MAX_DIM_SIZE, WorkloadError

REPO_ROOT = Path(__file__).resolve().parent.parent
TINY = REPO_ROOT / "sample_configs" / "hardware" / "tiny.yaml"
DEFAULT = REPO_ROOT / "sample_configs" / "hardware" / "default_8core.yaml"
CLI_TIMEOUT_S = 180  # a guard against hangs only; every run here takes seconds
LAYER_YAML = "workload:\n  name: one\n  layers:\n    - {name: a, P: 4, Q: 4, C: 8, K: 4}\n"


def run_cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m miredo_core.cli ARGS` in `cwd`; fails on a hang (timeout) or a traceback."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "MIREDO_STORE": str(cwd / "store.db")}
    completed = subprocess.run(
        [sys.executable, "-m", "miredo_core.cli", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
    )
    assert "Traceback" not in completed.stdout + completed.stderr
    return completed


def run_main(argv: list[str | Path], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The CLI in this process (for cases that need no process boundary): code, out, err."""
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.out, captured.err


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- item 3: hangs and limits
def test_factoring_is_bounded_by_the_dimension_limit() -> None:
    assert divisors(100_000_007) == [1, 100_000_007]
    assert factorizations(100_000_007) == [(100_000_007,)]
    assert prime_factors(MAX_DIM_SIZE) == [MAX_DIM_SIZE]  # 2**31 - 1 is prime
    assert divisors(720) == [d for d in range(1, 721) if 720 % d == 0]
    assert sorted(factorizations(12)) == [(2, 2, 3), (2, 6), (3, 4), (12,)]
    with pytest.raises(ValueError, match="can only factor integers in"):
        divisors(10**21)


def test_a_huge_dimension_is_refused_naming_the_field(tmp_path: Path) -> None:
    workload = write(tmp_path / "huge.yaml", LAYER_YAML.replace("C: 8", f"C: {10**21}"))
    completed = run_cli("map", "--hardware", TINY, "--workload", workload, cwd=tmp_path)
    assert completed.returncode == 2
    assert "workload.layers[0].C" in completed.stderr
    assert f"above the maximum {MAX_DIM_SIZE}" in completed.stderr


def test_the_custom_layer_path_of_the_dashboard_gets_the_same_error() -> None:
    document = {"workload": {"name": "custom", "layers": [{"name": "x", "K": 10**21}]}}
    with pytest.raises(ConfigError, match=r"workload.layers\[0\].K: K is 1.000e\+21"):
        workload_from_dict(document, source="custom layers")


def test_time_limit_must_be_finite_and_positive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    completed = run_cli(
        "map", "--hardware", TINY, "--workload", "resnet18", "--time-limit", "inf", cwd=tmp_path
    )
    assert completed.returncode == 2
    assert "--time-limit: inf must be a finite number of seconds" in completed.stderr
    for limit in ("nan", "-1", "0", "1e300"):
        argv = ["map", "--hardware", TINY, "--workload", "resnet18", "--time-limit", limit]
        code, _, err = run_main(argv, capsys)
        assert code == 2
        assert f"--time-limit: {limit} must be a finite number of seconds" in err


def test_a_prime_channel_count_with_a_time_limit_ends(tmp_path: Path) -> None:
    """C = 100,000,007 used to spend its time enumerating every integer below C as a candidate
    factor. (CBC: HiGHS currently fails with an interfacing error on this layer's model.)"""
    workload = write(
        tmp_path / "prime.yaml", LAYER_YAML.replace("P: 4, Q: 4, C: 8, K: 4", "C: 100000007")
    )
    completed = run_cli(
        "map", "--hardware", DEFAULT, "--workload", workload, "--mapper", "mip",
        "--time-limit", "3", "--solver", "cbc", cwd=tmp_path,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert "total one on default_8core: latency" in completed.stdout


# ---------------------------------------------------------------- item 4: silent drops
def conv_and_conv_transpose_model(path: Path) -> Path:
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1], name="conv"),
            helper.make_node("ConvTranspose", ["y", "wt"], ["z"], strides=[2, 2], name="up"),
            helper.make_node("Relu", ["z"], ["r"], name="relu"),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
        [helper.make_tensor_value_info("r", TensorProto.FLOAT, None)],
        [
            helper.make_tensor("w", TensorProto.FLOAT, [8, 4, 3, 3], [0.0] * 288),
            helper.make_tensor("wt", TensorProto.FLOAT, [8, 4, 2, 2], [0.0] * 128),
        ],
    )
    onnx.save(helper.make_model(graph), path)
    return path


def test_skipped_onnx_nodes_are_listed_everywhere(tmp_path: Path) -> None:
    model = conv_and_conv_transpose_model(tmp_path / "ct.onnx")
    completed = run_cli(
        "map", "--hardware", TINY, "--workload", model, "--csv", "out.csv", "--json", "out.json",
        cwd=tmp_path,
    )  # fmt: skip
    assert completed.returncode == 3  # a node with MAC work was not mapped
    assert "ConvTranspose x1: MAC operator ConvTranspose is not supported" in completed.stdout
    assert "Relu x1: not a MAC layer (Relu): relu" in completed.stdout
    assert "excludes 2 skipped node(s), 1 of them with MAC work (ConvTranspose)" in completed.stdout
    frame = pd.read_csv(tmp_path / "out.csv")
    assert list(frame["layer"]) == ["conv", "up", "relu"]
    assert list(frame["status"]) == ["evaluated", "skipped", "skipped"]
    assert frame["reason"][1].startswith("ConvTranspose: MAC operator")
    assert frame["macs"][0] == 18432  # the layer rows keep their integer column
    document = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert [node["op_type"] for node in document["skipped"]] == ["ConvTranspose", "Relu"]
    assert document["totals"]["skipped_nodes"] == 2


# ---------------------------------------------------------------- item 5: size and alias bombs
def alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = [f"a0: &a0 [{', '.join(['P'] * width)}]"]
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_quickly_with_a_short_message(tmp_path: Path) -> None:
    base = dump_hardware(load_hardware(TINY))
    text = (
        alias_bomb() + base[: base.index("  spatial_dims:")] + "  spatial_dims:\n    cores: *a9\n"
    )
    hardware = write(tmp_path / "bomb.yaml", text)
    completed = run_cli("map", "--hardware", hardware, "--workload", "resnet18", cwd=tmp_path)
    assert completed.returncode == 2
    assert "YAML aliases expand to more than 200,000 values" in completed.stderr
    assert len(completed.stderr) < 2000


def test_huge_files_and_devices_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    huge = write(tmp_path / "huge.yaml", "# padding\n" * 100_000 + TINY.read_text("utf-8"))
    code, _, err = run_main(["map", "--hardware", huge, "--workload", "resnet18"], capsys)
    assert code == 2
    assert f"{huge}: larger than the 65,536-byte limit" in err
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    device = tmp_path / "zero.yaml"
    device.symlink_to("/dev/zero")
    completed = run_cli("map", "--hardware", device, "--workload", "resnet18", cwd=tmp_path)
    assert completed.returncode == 2
    assert "zero.yaml: larger than the 65,536-byte limit" in completed.stderr


def test_every_error_message_is_capped() -> None:
    unknown = "".join(f"  key_{index}: 1\n" for index in range(500))
    with pytest.raises(ConfigError) as caught:
        parse_hardware("hardware:\n" + unknown + f"  ? {'x' * 5000}\n  : 1\n")
    lines = str(caught.value).splitlines()
    assert len(caught.value.items) > 500  # every problem is kept ...
    assert len(lines) == MAX_SHOWN_ISSUES + 1  # ... but only the first ones are shown
    assert lines[-1].startswith("... and ") and lines[-1].endswith("more problem(s)")
    long_value = "hardware:\n  name: [" + ", ".join(["x"] * 10_000) + "]\n"
    with pytest.raises(ConfigError, match=r"expected text, got a list of 10000 item\(s\)"):
        parse_hardware(long_value)
    assert all(len(line) <= 300 for line in lines)


# ---------------------------------------------------------------- item 6: store failures
def test_a_damaged_store_is_named_with_a_remedy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "damaged.db"
    with ResultStore(store) as filled:  # a valid store with a few pages of answers
        filled.put_many(
            (
                ProblemKey("h" * 64, f"layer {index}", "latency", "ws", "{}"),
                Answer("infeasible", None, "x" * 400),
            )
            for index in range(100)
        )
    connection = sqlite3.connect(store)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    data = bytearray(store.read_bytes())
    data[4096 * 2 :] = b"\xab" * (len(data) - 4096 * 2)  # every page after the schema page
    store.write_bytes(bytes(data))
    completed = _sweep(tmp_path, store, cores="2,4")
    assert completed.returncode == 2
    assert f"the result store {store} is damaged" in completed.stderr
    assert "--no-store" in completed.stderr


def test_a_foreign_sqlite_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "foreign.db"
    connection = sqlite3.connect(store)
    connection.execute("CREATE TABLE notes (text)")
    connection.commit()
    connection.close()
    code, _, err = run_main(_sweep_argv(tmp_path, store), capsys)
    assert code == 2
    assert f"{store} is an SQLite database but not a miredo result store" in err
    assert "--store PATH" in err


def test_a_read_only_store_serves_its_answers_and_the_run_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    store = folder / "store.db"
    assert run_main(_sweep_argv(tmp_path, store), capsys)[0] == 0
    if not _make_read_only(folder, store):
        pytest.skip("cannot make a file read-only here")
    try:
        completed = _sweep(tmp_path, store, cores="2,4")
    finally:
        _undo_read_only(folder, store)
    assert completed.returncode == 0, completed.stderr
    assert "cannot be written" in completed.stderr and "not saved" in completed.stderr
    assert "1 from the store" in completed.stdout  # the stored layer served, the new one solved


def _sweep_argv(tmp_path: Path, store: Path, cores: str = "2") -> list[str | Path]:
    workload = write(tmp_path / "one.yaml", LAYER_YAML)
    return [
        "sweep", "--hardware", TINY, "--axis", f"cores={cores}", "--workload", workload,
        "--mapper", "ws", "--jobs", "1", "--store", store,
    ]  # fmt: skip


def _sweep(tmp_path: Path, store: Path, cores: str = "2") -> subprocess.CompletedProcess[str]:
    return run_cli(*_sweep_argv(tmp_path, store, cores), cwd=tmp_path)


def _make_read_only(folder: Path, store: Path) -> bool:
    """Read-only for this process: permissions for a normal user, the immutable attribute
    for root (which ignores permissions)."""
    if os.geteuid() != 0:
        store.chmod(0o444)
        folder.chmod(0o555)
        return True
    chattr = shutil.which("chattr")
    if chattr is None:
        return False
    done = subprocess.run([chattr, "+i", store, folder], capture_output=True, timeout=30)
    return done.returncode == 0


def _undo_read_only(folder: Path, store: Path) -> None:
    if os.geteuid() != 0:
        folder.chmod(0o755)
        store.chmod(0o644)
    else:
        subprocess.run(["chattr", "-i", store, folder], capture_output=True, timeout=30)


# ---------------------------------------------------------------- item 7: outputs
def test_output_paths_are_checked_before_solving(tmp_path: Path) -> None:
    completed = run_cli(
        "map", "--hardware", TINY, "--workload", "resnet18", "--csv", "missing/out.csv",
        "--json", "/proc/out.json", "--mapper", "mip", cwd=tmp_path,
    )  # fmt: skip
    assert completed.returncode == 2
    assert "--csv missing/out.csv: directory missing does not exist" in completed.stderr
    assert "--json /proc/out.json: cannot be written" in completed.stderr
    assert completed.stdout == ""  # nothing was solved


def test_one_failing_output_does_not_prevent_the_others(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    workload = write(tmp_path / "one.yaml", LAYER_YAML)
    completed = run_cli(
        "map", "--hardware", TINY, "--workload", workload, "--csv", "/dev/full",
        "--json", "out.json", cwd=tmp_path,
    )  # fmt: skip
    assert completed.returncode == 4
    assert "--csv /dev/full: not written" in completed.stderr
    assert json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))["layers"]


# ---------------------------------------------------------------- item 8: exit codes
def test_exit_codes_distinguish_complete_incomplete_and_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = TINY.read_text(encoding="utf-8")
    one_bit = text.replace("      size_bits: 8\n", "      size_bits: 1\n")
    hardware = write(tmp_path / "one_bit.yaml", one_bit)
    workload = write(tmp_path / "one.yaml", LAYER_YAML)
    infeasible = run_cli("map", "--hardware", hardware, "--workload", workload, cwd=tmp_path)
    assert infeasible.returncode == 3
    assert "undefined, 1 layer(s) not mapped: a" in infeasible.stdout
    assert "outside the plausible range" in infeasible.stderr  # a warning, not an error
    assert run_main(["map", "--hardware", TINY, "--workload", workload], capsys)[0] == 0
    code, out, _ = run_main(["map", "--help"], capsys)
    assert code == 0
    assert "exit codes:" in out and "3    incomplete" in out


# ---------------------------------------------------------------- item 10: absurd values
def test_implausible_hardware_values_warn_but_load(caplog: pytest.LogCaptureFixture) -> None:
    hardware = with_core_count(load_hardware(TINY), 10**12)
    text = dump_hardware(hardware).replace(
        "read_bw_bits_per_cycle: 16.0", "read_bw_bits_per_cycle: 1.0e+300", 1
    )
    loaded = parse_hardware(text, "absurd.yaml")
    assert loaded.cores == 10**12
    paths = {issue.path for issue in plausibility_warnings(loaded)}
    assert paths == {"hardware.cores", "hardware.levels.dram.read_bw_bits_per_cycle"}
    assert "hardware.cores: 1,000,000,000,000 is outside the plausible range 1 .. 4,096" in (
        caplog.text
    )
    assert plausibility_warnings(load_hardware(TINY)) == []


def test_a_negative_onnx_dim_is_an_invalid_shape(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, -3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [helper.make_tensor("w", TensorProto.FLOAT, [3, 2], [0.0] * 6)],
    )
    with pytest.raises(WorkloadError) as caught:
        import_onnx(helper.make_model(graph).SerializeToString())
    assert "invalid shape: axis 1 of 'x' is -3" in str(caught.value)
    assert "static shapes" not in str(caught.value)


def test_every_bad_field_of_a_layer_is_listed() -> None:
    text = (
        "workload:\n  name: w\n  layers:\n"
        "    - {name: a, R: 0, stride_h: two, P: -1, K: 0.5, pad_top: -2}\n"
        "    - {name: b, P: 3, Q: 3, input_h: 10, input_w: 10}\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_workload(text)
    paths = {issue.path for issue in caught.value.items}
    assert paths == {
        "workload.layers[0].R",
        "workload.layers[0].stride_h",
        "workload.layers[0].P",
        "workload.layers[0].K",
        "workload.layers[0].pad_top",
        "workload.layers[1].P",
        "workload.layers[1].Q",
    }
