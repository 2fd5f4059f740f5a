"""Sweeps: axis parsing, sampling, deduplication, the store (a dead worker retried or failed,
cancel and resume), the CLI, and equal results on a thread pool, a process pool and a Dask
LocalCluster."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from miredo_core import workers
from miredo_core.cli import main
from miredo_core.hardware import Hardware
from miredo_core.network import MAPPERS, map_network
from miredo_core.pareto import pareto_mask
from miredo_core.search.engine import SolveOptions
from miredo_core.store import MEMORY, ResultStore
from miredo_core.sweep import (
    POINT_COLUMNS,
    SweepAxis,
    SweepSpec,
    parse_axis,
    parse_axis_values,
    run_sweep,
)
from miredo_core.workload import Layer, Network

NETWORK = Network(
    "repeated",
    (
        Layer("block1", P=4, Q=4, C=8, K=4),
        Layer("matmul", P=8, C=8, K=8, kind="matmul"),
        Layer("block2", P=4, Q=4, C=8, K=4),
        Layer("conv3x3", R=3, S=3, P=4, Q=4, C=4, K=4, pad_top=1, pad_bottom=1, pad_left=1,
              pad_right=1),
    ),
)  # fmt: skip
AXES = (SweepAxis("cores", (1, 2, 4)), SweepAxis("gb_kib", (1, 2)))
COMPARED = ["point", "cores", "gb_kib", *POINT_COLUMNS]


def spec_for(hw: Hardware, **changes) -> SweepSpec:
    return dataclasses.replace(SweepSpec(hw, AXES, NETWORK, "edp", "ws"), **changes)


@pytest.fixture
def threads():
    """The ws mapper has no solver state, so threads are the fastest executor for tests."""
    with concurrent.futures.ThreadPoolExecutor(2) as executor:
        yield executor


@pytest.fixture
def store(tmp_path: Path):
    with ResultStore(tmp_path / "results.sqlite3") as opened:
        yield opened


# ------------------------------------------------------------------ axes and points
def test_axis_values_lists_ranges_and_switches() -> None:
    assert parse_axis_values("cores", "4, 8,16,8") == (4, 8, 16)
    assert parse_axis_values("cores", "4:16:4") == (4, 8, 12, 16)
    assert parse_axis_values("cores", "1:16:*2,3") == (1, 2, 4, 8, 16, 3)
    assert parse_axis_values("gb_kib", "0.5,1:2:0.5") == (0.5, 1, 1.5, 2)
    assert parse_axis_values("dram_bw", "64.0") == (64,)
    assert parse_axis_values("ping_pong", "on,off,true") == (True, False)
    assert parse_axis("gb_kib=128:512:*2") == SweepAxis("gb_kib", (128, 256, 512))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cores", "name=v1,v2"),
        ("colors=1,2", "unknown axis 'colors'"),
        ("cores=", "at least one value"),
        ("cores=2.5", "not an integer"),
        ("gb_kib=big", "not a number"),
        ("ping_pong=maybe", "not on/off"),
        ("cores=16:4:4", "must rise"),
        ("cores=1:4", "start:stop:step"),
        ("cores=1:8:*1", "must rise"),
    ],
)
def test_axis_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_axis(text)


def test_grid_points_in_order_with_their_hardware(tiny_hardware: Hardware) -> None:
    spec = spec_for(tiny_hardware)
    assert spec_for(tiny_hardware, axes=[("cores", [1, 2, 4]), ("gb_kib", (1, 2))]) == spec
    points = spec.points()
    assert points == [{"cores": c, "gb_kib": g} for c in (1, 2, 4) for g in (1, 2)]
    hw = spec.hardware_at(points[-1])
    assert (hw.cores, hw.global_buffer.size_bits) == (4, 2 * 8 * 1024)
    assert hw.name == "tiny[cores=4]"  # tiny.yaml's own 2 KiB buffer is not a change
    assert spec.hardware_at({"cores": 2, "gb_kib": 2}) is tiny_hardware  # the base point


def test_random_sampling_is_seeded_distinct_and_from_the_grid(tiny_hardware: Hardware) -> None:
    axes = (SweepAxis("cores", (1, 2, 3, 4, 5)), SweepAxis("macro_rows", (2, 4, 8, 16)))
    spec = spec_for(tiny_hardware, axes=axes, samples=7, seed=3)
    grid = spec_for(tiny_hardware, axes=axes).points()
    sample = spec.points()
    assert len(sample) == 7 and all(point in grid for point in sample)
    assert len({tuple(p.values()) for p in sample}) == 7
    assert sample == sorted(sample, key=grid.index)
    assert spec_for(tiny_hardware, axes=axes, samples=7, seed=3).points() == sample
    seeds = {tuple(map(tuple, (p.values() for p in spec_for(
        tiny_hardware, axes=axes, samples=7, seed=s).points()))) for s in range(5)}  # fmt: skip
    assert len(seeds) > 1
    assert spec_for(tiny_hardware, axes=axes, samples=20).points() == grid


def test_spec_errors_are_collected(tiny_hardware: Hardware) -> None:
    bad = (SweepAxis("cores", (0, 2)), SweepAxis("cores", (1,)), SweepAxis("gb_kib", (1e-9,)))
    with pytest.raises(ValueError) as error:
        spec_for(tiny_hardware, axes=bad, objective="speed", mapper="magic", samples=99)
    lines = str(error.value).splitlines()
    assert any("axis cores: core count must be a positive integer" in line for line in lines)
    assert any("axis cores is given twice" in line for line in lines)
    assert any("axis gb_kib" in line and "whole number of bits" in line for line in lines)
    assert any("unknown objective 'speed'" in line for line in lines)
    assert any("unknown mapper 'magic'" in line for line in lines)
    assert any("samples must be between 1 and the 2 grid points" in line for line in lines)
    with pytest.raises(ValueError, match="at least one axis"):
        spec_for(tiny_hardware, axes=())


# ------------------------------------------------------------------ results
def test_points_agree_with_map_network_and_deduplicate(
    tiny_hardware: Hardware, threads, store: ResultStore
) -> None:
    spec = spec_for(tiny_hardware)
    done: list[int] = []
    result = run_sweep(spec, threads, store, lambda count, total, _: done.append(count))
    # One report per distinct problem, counting layers: block2 is done with block1.
    assert len(done) == 18 and done == sorted(done) and done[-1] == 24
    stats = result.stats
    assert (stats.points, stats.layer_problems, stats.distinct_problems) == (6, 24, 18)
    assert (stats.saved_by_dedup, stats.store_hits, stats.solved, stats.unsolved) == (6, 0, 18, 0)
    frame = result.points_frame()
    assert list(frame.columns) == COMPARED
    for row in frame.itertuples():
        hw = spec.hardware_at({"cores": row.cores, "gb_kib": row.gb_kib})
        reference = map_network(hw, NETWORK, "edp", "ws").summary()
        assert row.hardware == hw.name
        assert row.latency_cycles == reference["latency_cycles"]
        assert row.energy_pj == reference["energy_pj"]
        assert row.edp_pj_cycles == reference["edp_pj_cycles"]
        assert row.area_mm2 == hw.area_mm2
        assert row.status == "evaluated" and row.infeasible_layers == 0
    expected = pareto_mask(frame[["latency_cycles", "energy_pj", "area_mm2"]].to_numpy())
    assert frame["pareto"].tolist() == expected.tolist()
    assert result.points_frame(["edp"])["pareto"].sum() >= 1

    layers = result.layers_frame()
    assert len(layers) == 24
    first = layers[layers["point"] == 0].set_index("layer")
    assert first.loc["block2", "reused_from"] == "block1"
    assert first["source"].tolist() == ["solved", "solved", "reused", "solved"]
    assert (first["solve_time_s"] > 0).sum() == 3  # the copy's solve is not counted twice


def test_a_repeated_sweep_reads_everything_from_the_store(
    tiny_hardware: Hardware, threads, store: ResultStore
) -> None:
    spec = spec_for(tiny_hardware)
    cold = run_sweep(spec, threads, store)
    calls: list[tuple] = []
    warm = run_sweep(spec, threads, store, progress=lambda *args: calls.append(args))
    assert (warm.stats.store_hits, warm.stats.solved) == (18, 0)
    assert calls == [(24, 24, "24 layers found in the store")]
    pd.testing.assert_frame_equal(warm.points_frame(), cold.points_frame())
    assert set(warm.layers_frame()["source"]) == {"store"}
    assert warm.layers_frame()["solve_time_s"].sum() == 0
    compared = [c for c in warm.layers_frame().columns if c not in ("solve_time_s", "source")]
    pd.testing.assert_frame_equal(warm.layers_frame()[compared], cold.layers_frame()[compared])
    # Another network with one of the same layer shapes on the same hardware: solved once.
    other = Network("other", (dataclasses.replace(NETWORK.layers[1], name="fc"),))
    reused = map_network(tiny_hardware, other, "edp", "ws", store=store, executor=threads)
    assert reused.layer_results[0].cost is not None
    assert len(store) == 18


def test_infeasible_points_have_nan_totals_and_stay_off_the_front(
    tiny_hardware: Hardware, threads, store: ResultStore
) -> None:
    register = dataclasses.replace(tiny_hardware.input_register, size_bits=1)
    hw = dataclasses.replace(tiny_hardware, input_register=register)
    frame = run_sweep(spec_for(hw, axes=(AXES[0],)), threads, store).points_frame()
    assert set(frame["status"]) == {"infeasible"}
    assert frame["latency_cycles"].isna().all() and not frame["pareto"].any()
    assert (frame["infeasible_layers"] == 4).all()


def _slow_ws(hw, layer, objective, options, cancel):
    """The ws mapper, slowed down so that a cancel lands while tasks are still pending."""
    time.sleep(0.05)
    return MAPPERS["ws"](hw, layer, objective, options, cancel)


def test_cancel_keeps_finished_answers_and_a_rerun_completes(
    tiny_hardware: Hardware, store: ResultStore, monkeypatch
) -> None:
    monkeypatch.setitem(MAPPERS, "slow_ws", _slow_ws)
    spec = spec_for(tiny_hardware, mapper="slow_ws")
    seen: list[int] = []
    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        partial = run_sweep(spec, executor, store, lambda done, *_: seen.append(done),
                            cancel=lambda: len(seen) >= 3)  # fmt: skip
    assert not partial.complete
    assert 2 <= partial.stats.solved < 18 and len(store) == partial.stats.solved
    frame = partial.points_frame()
    assert "cancelled" in set(frame["status"]) and frame["latency_cycles"].isna().any()
    with concurrent.futures.ThreadPoolExecutor(2) as executor:
        resumed = run_sweep(spec, executor, store)
    assert resumed.complete and resumed.stats.store_hits == partial.stats.solved
    assert resumed.stats.solved == 18 - partial.stats.solved


# ------------------------------------------------------------------ processes, a dead worker
_KILL_MARKER = ""


def _kill_matmul(hw, layer, objective, options, cancel):
    """A mapper that kills its own worker process (SIGKILL) on `matmul` of a 4-core point:
    the first time only if the marker file is named, else every time; otherwise ws."""
    once = _KILL_MARKER.endswith("once")
    if layer.name == "matmul" and hw.cores == 4 and not (once and os.path.exists(_KILL_MARKER)):
        Path(_KILL_MARKER).touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return MAPPERS["ws"](hw, layer, objective, options, cancel)


def _register_killer(marker: str) -> None:
    """Pool initializer: make `killer` known in the worker, as in the parent."""
    global _KILL_MARKER
    _KILL_MARKER = marker
    MAPPERS["killer"] = _kill_matmul


@pytest.mark.parametrize("once", [pytest.param(True, marks=pytest.mark.slow), False])
def test_a_killed_worker_is_replaced_its_problem_retried_once_and_nothing_else_lost(
    tiny_hardware: Hardware, threads, store: ResultStore, tmp_path: Path, monkeypatch, once
) -> None:
    marker = str(tmp_path / ("killed_once" if once else "killed_always"))
    # The parent knows the mapper too (the spec checks it; the resumed run solves in threads).
    monkeypatch.setitem(MAPPERS, "killer", _kill_matmul)
    monkeypatch.setattr(sys.modules[__name__], "_KILL_MARKER", marker)
    spec = spec_for(tiny_hardware, axes=(AXES[0],), mapper="killer")  # 3 points, 9 problems
    with workers.process_pool(2, initializer=_register_killer, initargs=(marker,)) as pool:
        result = run_sweep(spec, pool, store)
    assert os.path.exists(marker)
    layers = result.layers_frame()
    killed = (layers["cores"] == 4) & (layers["layer"] == "matmul")
    reference = run_sweep(spec_for(tiny_hardware, axes=(AXES[0],)), threads, ResultStore(MEMORY))
    columns = [c for c in COMPARED if c not in ("status", "gb_kib")]
    if once:  # the retry in a fresh pool succeeds: the sweep is complete
        assert result.complete and len(store) == 9
        pd.testing.assert_frame_equal(
            result.points_frame()[columns], reference.points_frame()[columns]
        )
        return
    assert set(layers.loc[killed, "status"]) == {"failed"}
    assert layers.loc[killed, "reason"].str.contains("died twice").all()
    assert set(layers.loc[~killed, "status"]) == {"evaluated"}
    assert set(result.points_frame()["status"]) == {"failed", "evaluated"}
    assert len(store) == result.stats.solved == 8  # a failure is never stored: a rerun retries


def test_default_process_pool_matches_threads(tiny_hardware: Hardware, threads) -> None:
    spec = spec_for(tiny_hardware, axes=(AXES[0],))
    in_processes = run_sweep(spec, store=ResultStore(MEMORY), jobs=2)
    in_threads = run_sweep(spec, threads, ResultStore(MEMORY))
    pd.testing.assert_frame_equal(in_processes.points_frame(), in_threads.points_frame())


@pytest.mark.slow
def test_dask_local_cluster_writes_the_same_csv_as_the_process_pool(
    tiny_hardware: Hardware, tmp_path: Path
) -> None:
    distributed = pytest.importorskip("distributed")
    spec = spec_for(tiny_hardware)
    # The engine enumerates this small layer completely, within any preset's time limit, so
    # its answer does not depend on machine load (balanced leaves the widest margin).
    mip_spec = SweepSpec(tiny_hardware, (AXES[0],), Network("one", (NETWORK.layers[0],)), "edp",
                         "mip", SolveOptions(preset="balanced"))  # fmt: skip
    with workers.process_pool(2) as pool:
        pool_frames = [run_sweep(s, pool, ResultStore(MEMORY)) for s in (spec, mip_spec)]
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        executor = client.get_executor()
        dask_frames = [run_sweep(s, executor, ResultStore(MEMORY)) for s in (spec, mip_spec)]
    for pool, dask in zip(pool_frames, dask_frames, strict=True):
        pool.points_frame().to_csv(tmp_path / "pool.csv", index=False)
        dask.points_frame().to_csv(tmp_path / "dask.csv", index=False)
        assert (tmp_path / "pool.csv").read_text() == (tmp_path / "dask.csv").read_text()
        compared = [c for c in pool.layers_frame().columns if c not in ("solve_time_s",)]
        pd.testing.assert_frame_equal(pool.layers_frame()[compared], dask.layers_frame()[compared])
    assert set(pool_frames[1].layers_frame()["status"]) == {"optimal"}


# ------------------------------------------------------------------ the command line
def test_cli_sweep_writes_points_and_layers_and_resumes_from_the_store(
    sample_hardware_dir: Path, repo_root: Path, tmp_path: Path, capsys
) -> None:
    argv = ["sweep", "--hardware", str(sample_hardware_dir / "tiny.yaml"),
            "--axis", "cores=1,2", "--axis", "ping_pong=off,on",
            "--workload", str(repo_root / "sample_configs" / "workloads" / "tiny_layers.yaml"),
            "--mapper", "ws", "--jobs", "1", "--store", str(tmp_path / "store.sqlite3"),
            "--csv", str(tmp_path / "points.csv"),
            "--layers-csv", str(tmp_path / "layers.csv")]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "4/4" not in captured.out and "20/20 layers" in captured.err
    assert "0 from the store, 20 solved" in captured.out
    points = pd.read_csv(tmp_path / "points.csv")
    assert list(points.columns) == ["point", "cores", "ping_pong", *POINT_COLUMNS]
    assert len(points) == 4 and points["pareto"].dtype == bool and points["pareto"].any()
    assert points["edp_pj_cycles"].tolist() == pytest.approx(
        (points["latency_cycles"] * points["energy_pj"]).tolist()
    )
    layers = pd.read_csv(tmp_path / "layers.csv")
    assert len(layers) == 4 * 5 and {"point", "cores", "ping_pong", "layer", "source"} <= set(
        layers.columns
    )
    assert main([*argv, "--pareto", "edp,area"]) == 0
    assert "20 from the store, 0 solved" in capsys.readouterr().out
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "points.csv").drop(columns="pareto"), points.drop(columns="pareto")
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--axis", "cores=0,2"], "miredo: error: axis cores: core count must be a positive"),
        (["--axis", "cores=1", "--samples", "5"], "samples must be between 1 and the 1 grid"),
        (["--axis", "wheels=4"], "unknown axis 'wheels'"),
        (["--axis", "cores=2", "--pareto", "speed"], "Pareto columns are"),
    ],
)
def test_cli_sweep_errors_are_one_line_each(
    sample_hardware_dir: Path, tmp_path: Path, capsys, extra: list[str], message: str
) -> None:
    tiny = str(sample_hardware_dir / "tiny.yaml")
    store = str(tmp_path / "s.sqlite3")
    argv = ["sweep", "--hardware", tiny, "--workload", "resnet18", "--mapper", "ws",
            "--store", store, *extra]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cli_sweep_refuses_a_store_of_another_schema(
    sample_hardware_dir: Path, tmp_path: Path, capsys
) -> None:
    path = tmp_path / "old.sqlite3"
    ResultStore(path).close()
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA user_version = 99")
    argv = ["sweep", "--hardware", str(sample_hardware_dir / "tiny.yaml"), "--workload",
            "resnet18", "--mapper", "ws", "--axis", "cores=2", "--store", str(path)]  # fmt: skip
    assert main(argv) == 2
    assert "schema version 99" in capsys.readouterr().err
