"""ui.jobs: the dashboard worker keeps its solver processes from one run to the next."""

from __future__ import annotations

import multiprocessing
import os

from miredo_core import process_pool
from ui import jobs


def _two_runs() -> tuple[bool, bool, bool]:
    """In a dashboard-like worker process: open the solver executor twice, as two runs do."""
    with jobs.solver_executor("mip") as first:
        first.submit(os.getpid).result(timeout=120)
        children = {p.pid for p in multiprocessing.active_children()}
    with jobs.solver_executor("mip") as second:
        pid = second.submit(os.getpid).result(timeout=120)
    again = {p.pid for p in multiprocessing.active_children()}
    return first is second, pid in children, children == again


def test_a_worker_reuses_its_solver_processes_across_runs() -> None:
    with process_pool(1) as pool:
        same_pool, same_process, same_children = pool.submit(_two_runs).result(timeout=300)
    assert same_pool and same_process and same_children


def test_outside_a_worker_a_run_gets_a_pool_of_its_own() -> None:
    with jobs.solver_executor("mip") as first:
        pass
    with jobs.solver_executor("mip") as second:
        pass
    assert first is not second
