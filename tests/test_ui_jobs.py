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


def _refusing_open(refusals: int, error: type[OSError], calls: list):
    """`open` that refuses the first `refusals` writes with `error` (a write to
    /proc/self/autogroup is refused with EAGAIN when another one came within 100 ms)."""
    real = open

    def fake(path, mode="r", *args, **kwargs):
        if "w" in mode:
            calls.append(path)
            if len(calls) <= refusals:
                raise error("refused")
        return real(path, mode, *args, **kwargs)

    return fake


def test_the_session_niceness_is_written_again_after_the_kernel_rate_limit(
    tmp_path, monkeypatch
) -> None:
    group = tmp_path / "autogroup"
    group.write_text("/autogroup-7 nice 0\n", encoding="ascii")
    calls: list = []
    monkeypatch.setattr(jobs, "AUTOGROUP", str(group))
    monkeypatch.setattr(jobs, "AUTOGROUP_RETRY_S", 0.0)
    monkeypatch.setattr(jobs, "open", _refusing_open(2, BlockingIOError, calls), raising=False)
    assert jobs.set_session_niceness()
    assert len(calls) == 3
    assert group.read_text(encoding="ascii").split()[-1] == str(jobs.SESSION_NICENESS)


def test_a_session_already_that_nice_is_left_alone_and_a_refusal_is_not_retried(
    tmp_path, monkeypatch
) -> None:
    group = tmp_path / "autogroup"
    monkeypatch.setattr(jobs, "AUTOGROUP", str(group))
    monkeypatch.setattr(jobs, "AUTOGROUP_RETRY_S", 0.0)
    calls: list = []
    monkeypatch.setattr(jobs, "open", _refusing_open(99, PermissionError, calls), raising=False)
    group.write_text(f"/autogroup-7 nice {jobs.SESSION_NICENESS + 1}\n", encoding="ascii")
    assert jobs.set_session_niceness() and calls == []
    group.write_text("/autogroup-7 nice 0\n", encoding="ascii")
    assert not jobs.set_session_niceness()
    assert len(calls) == 1  # a permission refusal is final: no retry
    assert group.read_text(encoding="ascii") == "/autogroup-7 nice 0\n"
