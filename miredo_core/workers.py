"""Worker process pools: the one place in the library that starts processes.

Every pool is a `spawn`-context pool. Forking is not an option: HiGHS (python-mip's default
solver) deadlocks in a child forked from a process that has already run a solve, and a solver
that crashes (a segfault, `std::bad_alloc`) in a separate process ends that process only, never
its caller. Spawned workers import the library afresh, so they pay a start-up of about a second.

Workers never outlive their parent. Each worker, in its initializer,

* asks Linux to SIGKILL it when the parent thread that spawned it ends (`prctl` with
  `PR_SET_PDEATHSIG`), when the pool is made and used from the parent's main thread (the signal
  follows the spawning *thread*, so a pool made in a short-lived thread relies on the next
  point only);
* starts a watchdog thread that exits the process once its parent pid changes (the parent died
  and the worker was re-parented), polled every `PARENT_POLL_S` seconds;
* ignores SIGINT: Ctrl-C goes to the whole process group, and the parent decides what to keep.

`WorkerPool` also knows, when a worker dies (`BrokenProcessPool` on every unfinished task),
which tasks were running on the dead worker (`suspects`), and replaces its broken pool by a
fresh one (`renew`), so that a caller can retry those tasks once and keep everything else.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import ctypes.util
import itertools
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

logger = logging.getLogger(__name__)

SPAWN = multiprocessing.get_context("spawn")
#: How often a worker's watchdog checks that its parent is alive, in seconds.
PARENT_POLL_S = 1.0
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

# Set in each worker process by `_start_worker`.
_stop_event: Any = None
_started_queue: Any = None


def worker_cancel() -> Any:
    """In a worker of a `WorkerPool`: the pool's stop event (an object with `is_set()`), set by
    the parent to interrupt the running solves; None in any other process."""
    return _stop_event


def _die_with_parent(parent_pid: int, spawned_from_main_thread: bool) -> None:
    if spawned_from_main_thread and sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the request above took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _start_worker(
    parent_pid: int,
    spawned_from_main_thread: bool,
    stop_event: Any,
    started_queue: Any,
    initializer: Callable[..., None] | None,
    initargs: tuple,
) -> None:
    """Initializer of every worker (module level so that spawn can import it)."""
    global _stop_event, _started_queue
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent_pid, spawned_from_main_thread)
    _stop_event, _started_queue = stop_event, started_queue
    if initializer is not None:
        initializer(*initargs)


def _tracked_call(task_id: int, function: Callable, args: tuple, kwargs: dict) -> Any:
    """Tell the parent which worker runs which task, then run it."""
    _started_queue.put((task_id, os.getpid()))
    return function(*args, **kwargs)


class WorkerPool(concurrent.futures.Executor):
    """A spawn-context process pool of `jobs` workers that die with their parent (see the
    module docstring), with a stop event shared with its workers and a way to replace a pool
    that a dead worker broke.

    Submit from the thread that made (or last renewed) the pool: processes start on submit,
    and the parent-death signal follows the thread that started them.
    """

    def __init__(
        self,
        jobs: int | None = None,
        *,
        initializer: Callable[..., None] | None = None,
        initargs: tuple = (),
    ) -> None:
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self._initializer, self._initargs = initializer, initargs
        self.stop_event = SPAWN.Event()
        self._ids = itertools.count()
        self._task_of: dict[Future, int] = {}
        self._worker_of: dict[int, int] = {}
        # The pool's processes by pid, kept here because a breaking pool forgets its own.
        self._known: dict[int, multiprocessing.process.BaseProcess] = {}
        self._pool = self._new_pool()

    def _new_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        self._started = SPAWN.SimpleQueue()
        main = threading.current_thread() is threading.main_thread()
        return concurrent.futures.ProcessPoolExecutor(
            max_workers=self.jobs,
            mp_context=SPAWN,
            initializer=_start_worker,
            initargs=(os.getpid(), main, self.stop_event, self._started, self._initializer,
                      self._initargs),
        )  # fmt: skip

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        task_id = next(self._ids)
        future = self._pool.submit(_tracked_call, task_id, fn, args, kwargs)
        self._task_of[future] = task_id
        self._known.update(self._processes())  # a submit starts any worker the pool still lacks
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    def _processes(self) -> dict[int, multiprocessing.process.BaseProcess]:
        # ProcessPoolExecutor keeps no public list of its processes; this dict (pid -> process)
        # is the one its manager thread joins.
        return dict(getattr(self._pool, "_processes", None) or {})

    def kill(self) -> None:
        """Stop now: drop queued tasks and kill every worker (their tasks are lost)."""
        self.stop_event.set()
        processes = self._processes()
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes.values():
            if process.is_alive():
                process.kill()
        for process in processes.values():
            process.join(timeout=5)

    def suspects(self, futures: list[Future]) -> list[Future]:
        """Of `futures` failed by a dead worker, the ones that were running on a worker that
        died on its own (not killed by the pool as it broke); all that had started if no
        worker can be singled out."""
        while not self._started.empty():
            task_id, pid = self._started.get()
            self._worker_of[task_id] = pid
        started = [f for f in futures if self._task_of.get(f) in self._worker_of]
        # A broken pool terminates (SIGTERM) its remaining workers; the dead one ended otherwise.
        # The process objects come from `_known`: by now the pool may have dropped them.
        self._known.update(self._processes())
        dead = {pid for pid, process in self._known.items()
                if process.exitcode not in (None, 0, -signal.SIGTERM)}  # fmt: skip
        culprits = [f for f in started if self._worker_of[self._task_of[f]] in dead]
        return culprits or started

    def renew(self) -> None:
        """Replace a broken pool by a fresh one with the same workers and initializer."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._task_of.clear()
        self._worker_of.clear()
        self._known.clear()
        self._pool = self._new_pool()


def spawn_manager() -> Any:
    """A started `multiprocessing.Manager` (spawn context), for proxies shared with workers."""
    return SPAWN.Manager()


def process_pool(
    jobs: int | None = None,
    *,
    initializer: Callable[..., None] | None = None,
    initargs: tuple = (),
) -> WorkerPool:
    """A `WorkerPool` of `jobs` workers (default: the CPU count); use it as a context manager.
    `initializer(*initargs)` runs in each worker after the library's own set-up."""
    return WorkerPool(jobs, initializer=initializer, initargs=initargs)


#: After a cancel, how long running tasks get to return their best-so-far answer before the
#: pool that runs them is killed, in seconds.
STOP_GRACE_S = 5.0
_WAIT_S = 0.25


def run_tasks(
    function: Callable,
    tasks: dict[Any, tuple],
    executor: concurrent.futures.Executor,
    *,
    on_result: Callable[[Any, Any], None],
    on_failure: Callable[[Any, str], None],
    cancel: Any = None,
    owned: bool = False,
) -> None:
    """Run `function(*args)` for every `tasks` item on `executor`, reporting each outcome as
    it arrives: `on_result(key, value)`, or `on_failure(key, reason)` when the task raised or
    its worker died twice. Keys reported neither way were cancelled.

    A worker that dies breaks its whole pool: with a `WorkerPool` the pool is renewed, the
    tasks that were running on the dead worker are charged one attempt and every unfinished
    task is submitted again; a task charged twice fails. Another executor cannot be renewed,
    so its unfinished tasks fail. `cancel.is_set()` is polled: once set, queued tasks are
    dropped, running ones get STOP_GRACE_S to return (a `WorkerPool`'s workers see the
    stop event), then an `owned` pool is killed. On any exception (KeyboardInterrupt) an
    owned pool is killed before it propagates.
    """
    pool = executor if isinstance(executor, WorkerPool) else None
    if pool is not None:
        pool.stop_event.clear()
    attempts = dict.fromkeys(tasks, 0)
    pending = dict(tasks)
    try:
        while pending:
            futures = {executor.submit(function, *args): key for key, args in pending.items()}
            broken = _collect(futures, on_result, on_failure, cancel, pool, owned)
            pending = {}
            if not broken or (cancel is not None and cancel.is_set()):
                return
            # A pool whose workers die before any task starts (at start-up) singles out no
            # task: every broken task is then charged, so that retries stay bounded.
            charged = (pool.suspects(broken) if pool is not None else []) or broken
            for future in broken:
                key = futures[future]
                attempts[key] += future in charged
                if pool is None or attempts[key] > 1:
                    on_failure(key, "its worker process died" + (" twice" if pool else ""))
                else:
                    pending[key] = tasks[key]
            if pending:
                logger.warning("a worker process died; retrying %d task(s) in a new pool",
                               len(pending))  # fmt: skip
                pool.renew()
    except BaseException:
        if owned and pool is not None:
            pool.kill()
        raise


def _collect(futures, on_result, on_failure, cancel, pool, owned) -> list[Future]:
    """Wait for `futures`, reporting results and task errors; the futures failed by a broken
    pool are returned instead."""
    waiting, broken = set(futures), []
    deadline = None
    while waiting:
        if deadline is None and cancel is not None and cancel.is_set():
            for future in waiting:
                future.cancel()
            if pool is not None:
                pool.stop_event.set()
            deadline = time.monotonic() + STOP_GRACE_S
        if deadline is not None and time.monotonic() > deadline:
            if owned and pool is not None:
                pool.kill()
            return []
        done, waiting = concurrent.futures.wait(
            waiting, timeout=_WAIT_S, return_when=concurrent.futures.FIRST_COMPLETED
        )
        for future in done:
            if future.cancelled():
                continue
            error = future.exception()
            if isinstance(error, concurrent.futures.process.BrokenProcessPool):
                broken.append(future)
            elif error is not None:
                logger.debug("task failed", exc_info=error)
                on_failure(futures[future], f"{type(error).__name__}: {error}")
            else:
                on_result(futures[future], future.result())
    return broken
