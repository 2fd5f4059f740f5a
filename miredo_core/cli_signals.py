"""Signals for the command line: the first SIGINT or SIGTERM stops a run gracefully.

A stopped run keeps (prints and writes) every layer it finished; a running layer returns its best
mapping so far as `stopped`; a second signal aborts at once.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

logger = logging.getLogger(__name__)


class SignalStop(threading.Event):
    """Set by a signal; `signum` says which."""

    signum: int = 0


@contextlib.contextmanager
def stop_on_signals() -> Iterator[SignalStop]:
    """An event set by the first SIGINT or SIGTERM, so that a run stops and keeps (prints and
    writes) every layer it has finished; a second signal interrupts at once. The previous
    handlers come back afterwards."""
    stop = SignalStop()

    def handle(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        logger.warning("%s: stopping; finished layers are kept (again to abort)",
                       signal.Signals(signum).name)  # fmt: skip
        stop.signum = signum
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        yield stop  # signal handlers can only be installed from the main thread
        return
    previous = {signum: signal.signal(signum, handle) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def interrupted_exit(stop: SignalStop) -> int:
    """128 + the signal that stopped the run (130 for Ctrl-C, 143 for SIGTERM), else 0."""
    return 128 + stop.signum if stop.is_set() else 0
