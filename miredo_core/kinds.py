"""The vocabulary every part of the tool shares: objectives and result statuses, and the EDP.

Both are `StrEnum`s, so a member compares equal to its plain string (`Objective.EDP == "edp"`)
and prints as it; command-line choices, CSV columns and the result store keep the plain strings.
Parse user text with `Objective.parse` / `Status.parse`, which name the valid choices.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class _Vocabulary(StrEnum):
    """A StrEnum whose `parse` names the valid choices when the text is none of them."""

    @classmethod
    def parse(cls, text: str) -> Any:
        try:
            return cls(text)
        except ValueError:
            choices = ", ".join(member.value for member in cls)
            kind = cls.__name__.lower()
            raise ValueError(f"unknown {kind} {text!r}; choose one of {choices}") from None


class Objective(_Vocabulary):
    """What a mapper minimizes."""

    LATENCY = "latency"
    """Cycles of one layer (start-up, compute, stalls, write-back)."""
    ENERGY = "energy"
    """pJ of one layer (memory, MAC, leakage over the latency)."""
    EDP = "edp"
    """Energy times latency, pJ x cycles."""


#: The objectives as plain strings, in menu order.
OBJECTIVES: tuple[str, ...] = tuple(member.value for member in Objective)


class EnergyDelay:
    """Base of a result with `latency_cycles` and `energy_pj`: gives their product, the EDP."""

    @property
    def edp_pj_cycles(self) -> float:
        """Energy-delay product, pJ x cycles: energy_pj x latency_cycles."""
        return self.energy_pj * self.latency_cycles


def objective_value(cost, objective: str) -> float:
    """The scalar a mapper minimizes: latency (cycles), energy (pJ) or their product, of anything
    with latency_cycles / energy_pj / edp_pj_cycles (a CostBreakdown, a PlacementResult)."""
    objective = Objective.parse(objective)
    if objective is Objective.LATENCY:
        return cost.latency_cycles
    if objective is Objective.ENERGY:
        return cost.energy_pj
    return cost.edp_pj_cycles


class Status(_Vocabulary):
    """The outcome of mapping one layer."""

    EVALUATED = "evaluated"
    """A mapper produced a mapping with no optimality claim (the baselines)."""
    OPTIMAL = "optimal"
    """Certified: the gap to a proven lower bound is within the stated tolerance."""
    BEST_FOUND = "best_found"
    """The search spent its work budget: the best mapping found, with its proven gap."""
    STOPPED = "stopped"
    """Interrupted (cancel, signal or wall-clock cap) while solving: the best mapping and the
    proven bound so far."""
    INFEASIBLE = "infeasible"
    """No legal mapping exists; the result's reason says why."""
    CANCELLED = "cancelled"
    """Not solved: the run was stopped before this layer started."""
    FAILED = "failed"
    """The solve crashed (for instance its worker process died, also when retried)."""

    @property
    def has_mapping(self) -> bool:
        """Whether a result of this status carries a mapping and its cost."""
        return self not in (Status.INFEASIBLE, Status.CANCELLED, Status.FAILED)


#: The statuses as plain strings.
STATUSES: tuple[str, ...] = tuple(member.value for member in Status)
