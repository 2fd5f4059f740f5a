"""Presets (budgets of work) and the options of one solve (`engine.solve_layer`).

A preset fixes how much work a solve does (order evaluations, candidates, branch-and-bound
nodes), never for how long, so the same inputs give the same answer on any machine and under
any load; each preset extends a cheaper one (`Preset.base`), which is what keeps the presets
monotone (see `engine`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace

from miredo_core.search.mip import SOLVERS


@dataclass(frozen=True)
class Preset:
    """A budget of work (module docstring): nothing in it is a duration of the search."""

    evaluations: int
    """Loop orders the order search scores, shared by the searched candidates."""
    candidates: int
    """Most spatial candidates searched (best bound first; the WS candidate besides)."""
    exhaustive_orders: int
    """A candidate with at most this many tilings x orders is enumerated completely (which
    certifies it) instead of searched."""
    enumeration_evaluations: int = 0
    """Orders for enumerating small candidates beyond `candidates` completely (best bound first,
    each only if it fits in what is left), so that small layers end certified."""
    dive_candidates: int = 0
    """Spatial candidates (best bound first, those the order search left open) searched by the
    certifier's branch and bound for a better mapping after the order search."""
    dive_nodes: int = 0
    """Branch-and-bound nodes of each such dive."""
    probe_gaps: tuple[float, ...] = ()
    """Gaps g, loosest first, at which the open candidates whose bounds are below (1 - g) x the
    incumbent are probed by the certifier's branch and bound at tolerance g (`engine`)."""
    probe_nodes: int = 0
    """Branch-and-bound nodes of all probes together (0: no probes)."""
    certify_nodes: int = 0
    """Certifier nodes over all spatial candidates (0: no certification)."""
    mip_cap_s: float = 60.0
    """Wall-clock cap of the MIP re-solve of the winning order, which takes well under a second;
    a solve stopped by the cap is not used, so the cap cannot change the answer."""
    base: Preset | None = None
    """The cheaper preset run first; its answer seeds this one."""


_INTERACTIVE = Preset(evaluations=80, candidates=3, exhaustive_orders=60,
                      enumeration_evaluations=300, dive_candidates=4,
                      dive_nodes=300_000)  # fmt: skip
_BALANCED = Preset(evaluations=160, candidates=8, exhaustive_orders=400,
                   enumeration_evaluations=3000, dive_candidates=8, dive_nodes=1_000_000,
                   probe_gaps=(0.2, 0.1), probe_nodes=10_000_000,
                   base=_INTERACTIVE)  # fmt: skip
PRESETS: dict[str, Preset] = {
    "interactive": _INTERACTIVE,
    "balanced": _BALANCED,
    # The certifier searches every candidate exactly, from the answer of balanced's order search
    # and dives: balanced's probes only raise bounds, which the certificate replaces.
    "thorough": Preset(
        evaluations=0, candidates=0, exhaustive_orders=0, certify_nodes=30_000_000,
        base=replace(_BALANCED, probe_gaps=(), probe_nodes=0),
    ),  # fmt: skip
}

#: Budget fields added after answers were first stored, with the value that turns each off:
#: a budget's store key leaves them out while they are off (`budget_key`), so the answers
#: stored for budgets that do not use them keep their keys.
LATER_FIELDS: dict[str, object] = {"probe_gaps": (), "probe_nodes": 0}


def budget_key(preset: Preset | None) -> dict | None:
    """A budget as plain data for the result store's key (`problem_keys`): every field, the
    cheaper preset's budget nested, the `LATER_FIELDS` that are off left out."""
    if preset is None:
        return None
    data: dict = {}
    for f in fields(preset):
        value = getattr(preset, f.name)
        if f.name == "base":
            value = budget_key(value)
        elif f.name in LATER_FIELDS and value == LATER_FIELDS[f.name]:
            continue
        data[f.name] = value
    return data


def _all_cpus() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class SolveOptions:
    preset: str = "balanced"
    time_limit_s: float | None = None
    """Optional wall-clock cap: it can only stop the preset's work early (status `stopped`)."""
    solver: str = "highs"
    threads: int = 1
    workers: int = field(default_factory=_all_cpus)
    """Processes the certifier may use for one layer (all CPUs by default); the answer does not
    depend on it, only the speed."""
    gap_tolerance: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        if self.time_limit_s is not None and self.time_limit_s <= 0:
            raise ValueError("time limit must be positive")
        if not 0 <= self.gap_tolerance < 1:
            raise ValueError(f"gap tolerance must be in [0, 1), got {self.gap_tolerance}")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.solver not in SOLVERS:
            raise ValueError(f"unknown solver {self.solver!r}; choose one of {', '.join(SOLVERS)}")

    @property
    def budget(self) -> Preset:
        """The preset's work budget (with the cheaper presets it extends)."""
        return PRESETS[self.preset]
