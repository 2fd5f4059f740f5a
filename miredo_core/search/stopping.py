"""When a solve must stop early: a cancel request or an optional wall-clock cap.

The work a solve does is fixed by its preset (evaluations, candidates, certifier nodes), so the
same inputs give the same answer on any machine. A `StopSignal` is the only way time or the
caller can cut that work short; every part of the engine consults the same signal and the
result then says it was stopped (`Status.STOPPED`) and why.
"""

from __future__ import annotations

import math
import time


class StopSignal:
    """Callable: True once `cancel.is_set()` or `time.monotonic()` passes `deadline`.

    `cancel` is any object with `is_set() -> bool` (threading.Event, multiprocessing.Event) or
    None. The first cause seen is kept in `reason` ("cancelled" or "time limit"); once stopped
    it stays stopped."""

    def __init__(self, cancel=None, deadline: float = math.inf):
        self.cancel = cancel
        self.deadline = deadline
        self.reason = ""

    @classmethod
    def after(cls, seconds: float | None, cancel=None) -> StopSignal:
        """A signal with a cap of `seconds` from now (None: no cap)."""
        deadline = math.inf if seconds is None else time.monotonic() + seconds
        return cls(cancel, deadline)

    @property
    def can_stop(self) -> bool:
        """Whether anything can ever stop the work (a cancel object or a finite cap)."""
        return self.cancel is not None or math.isfinite(self.deadline)

    @property
    def stopped(self) -> bool:
        return bool(self.reason)

    def __call__(self) -> bool:
        if self.reason:
            return True
        if self.cancel is not None and self.cancel.is_set():
            self.reason = "cancelled"
        elif time.monotonic() > self.deadline:
            self.reason = "time limit"
        return bool(self.reason)


#: A signal that never fires.
NEVER = StopSignal()
