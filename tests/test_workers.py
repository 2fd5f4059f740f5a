"""Worker processes: a killed worker costs at most its own layer, and no worker outlives its
parent (`miredo map` stopped by SIGTERM or killed by SIGKILL). The CLI runs as a subprocess with
a timeout; nothing here asserts how long anything takes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from miredo_core import workers
from miredo_core.config import dump_workload
from miredo_core.network import map_network
from miredo_core.workload import Network
from miredo_core.zoo import get_network

REPO_ROOT = Path(__file__).resolve().parent.parent
HARDWARE = REPO_ROOT / "sample_configs" / "hardware" / "default_8core.yaml"
#: Three distinct ResNet-18 shapes: each takes the interactive preset a few seconds.
LAYERS = ("Conv_1", "Conv_5", "Conv_9")
TIMEOUT_S = 300


def _workload(tmp_path: Path) -> Path:
    resnet = get_network("resnet18")
    path = tmp_path / "three.yaml"
    path.write_text(dump_workload(Network("three", tuple(resnet.layer(n) for n in LAYERS))))
    return path


def _start_map(tmp_path: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "miredo_core.cli", "map", "--hardware", str(HARDWARE),
               "--workload", str(_workload(tmp_path)), "--mapper", "mip", "--preset",
               "interactive", "--jobs", "2", "--csv", str(tmp_path / "out.csv")]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def _spawn_workers(parent: psutil.Process) -> list[psutil.Process]:
    """The pool workers among the parent's children (not the resource tracker)."""
    found = []
    for child in parent.children(recursive=True):
        try:
            command = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "multiprocessing.spawn" in command or "spawn_main" in command:
            found.append(child)
    return found


def _wait_for_workers(process: subprocess.Popen, count: int) -> list[psutil.Process]:
    parent = psutil.Process(process.pid)
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        found = _spawn_workers(parent)
        if len(found) >= count:
            return found
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"{count} workers never appeared: {process.communicate()}")


def _survivors(processes: list[psutil.Process], wait_s: float = 10.0) -> list[psutil.Process]:
    time.sleep(wait_s)
    return [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.slow
def test_a_killed_worker_costs_at_most_its_own_layer(tmp_path: Path) -> None:
    process = _start_map(tmp_path)
    victim = _wait_for_workers(process, 2)[0]
    time.sleep(1.0)  # let both workers start on a layer
    victim.kill()
    out, err = process.communicate(timeout=TIMEOUT_S)
    assert process.returncode == 0, err
    assert "Traceback" not in err and "internal error" not in err
    frame = pd.read_csv(tmp_path / "out.csv")
    assert frame["layer"].tolist() == list(LAYERS)
    # The killed layer was retried once in a fresh pool; every layer has its mapping.
    assert set(frame["status"]) <= {"optimal", "best_found"}
    assert frame["latency_cycles"].notna().all()


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_no_worker_outlives_a_stopped_or_killed_parent(tmp_path: Path, how: int) -> None:
    process = _start_map(tmp_path)
    _wait_for_workers(process, 2)
    descendants = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(how)
    out, err = process.communicate(timeout=TIMEOUT_S)
    assert _survivors(descendants) == []
    if how == signal.SIGTERM:  # stopped: what was finished is printed, the rest cancelled
        assert process.returncode == 128 + signal.SIGTERM, err
        assert "Traceback" not in err
        assert "total three" in out


def _sleep_in_worker(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def test_worker_pool_runs_tasks_and_kill_ends_its_processes() -> None:
    with workers.process_pool(2) as pool:
        pids = {pool.submit(_sleep_in_worker, 0.0).result(timeout=TIMEOUT_S) for _ in range(4)}
        assert pids and os.getpid() not in pids
        running = pool.submit(_sleep_in_worker, 60.0)
        alive = [psutil.Process(pid) for pid in pids]
        pool.kill()
        assert running.done()
    assert _survivors(alive, wait_s=1.0) == []


def test_cancel_before_start_reports_every_layer_cancelled(tiny_hardware) -> None:
    network = get_network("resnet18")
    stop = workers.SPAWN.Event()
    stop.set()
    result = map_network(tiny_hardware, network, "latency", "ws", cancel=stop)
    assert {r.status for r in result.layer_results} == {"cancelled"}
    assert len(result.layer_results) == len(network.layers)
