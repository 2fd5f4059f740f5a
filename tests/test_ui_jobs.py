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


def _priority_after_lowering() -> tuple[int, bool, str | None, int]:
    """In a worker process: lower the priority twice (as warm-up and a run do), and report
    niceness, whether the worker leads its own session, its scheduling group, and the niceness
    of a solver process it starts."""
    jobs.lower_priority()
    jobs.lower_priority()
    group = None
    if os.path.exists(jobs.AUTOGROUP):
        with open(jobs.AUTOGROUP, encoding="ascii") as handle:
            group = handle.read()
    with process_pool(1) as pool:
        child_nice = pool.submit(os.nice, 0).result(timeout=120)
    return os.nice(0), os.getsid(0) == os.getpid(), group, child_nice


def test_a_worker_runs_below_the_server_in_a_session_of_its_own() -> None:
    """Niceness only ranks processes inside one scheduling group: a worker that stayed in the
    server's session would share the CPU evenly with the browser's session."""
    with process_pool(1) as pool:
        nice, leads_session, group, child_nice = pool.submit(_priority_after_lowering).result(
            timeout=300
        )
    assert nice >= jobs.WORKER_NICENESS and child_nice >= jobs.WORKER_NICENESS
    if group is not None:
        assert leads_session
        assert group.split()[-1] == str(jobs.SESSION_NICENESS), group
