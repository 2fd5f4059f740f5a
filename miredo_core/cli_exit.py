"""How the command line ends: its exit codes, and signals that stop a run gracefully.

The first SIGINT or SIGTERM stops a run: it keeps (prints and writes) every layer it finished; a
running layer returns its best mapping so far as `stopped`; a second signal aborts at once. The
exit code is then 128 + the signal (130 for Ctrl-C, 143 for SIGTERM).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_INTERNAL_ERROR = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3
EXIT_OUTPUT_FAILED = 4
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a process killed by it

EXIT_CODES_HELP = f"""exit codes:
  {EXIT_OK}    every layer mapped, every output written
  {EXIT_INTERNAL_ERROR}    internal error (a bug; -vv shows the traceback)
  {EXIT_USAGE}    bad input: arguments, configuration, workload, result store, output path
  {EXIT_INCOMPLETE}    incomplete: a layer infeasible, failed or not solved, or a model node
       with MAC work skipped (results are still printed and written)
  {EXIT_OUTPUT_FAILED}    an output file could not be written after the run (the others were)
  {EXIT_INTERRUPTED}  interrupted by Ctrl-C (SIGINT), 143 by SIGTERM: finished layers are still
       printed and written, a running layer keeps its best mapping so far (`stopped`)
  {EXIT_BROKEN_PIPE}  stdout closed early"""


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
