"""Work that runs in the dashboard's worker processes, and the plain requests that describe it.

Everything that crosses the process boundary is plain data: a request holds YAML text, names
and numbers; a worker parses them itself and returns a picklable `NetworkResult` or DataFrame.
A shared status mapping (a `multiprocessing.Manager` dict proxy) carries progress out of the
worker and a cancel request into it. Cancelling is cooperative: `map_network` polls the flag
between layers (the layer being solved finishes first) and reports the rest as "cancelled".

This module never imports streamlit, so a worker starts without it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from miredo_core.config import parse_hardware, parse_workload
from miredo_core.network import map_network
from miredo_core.results import NetworkResult
from miredo_core.search.engine import SolveOptions
from miredo_core.workload import Network
from miredo_core.zoo import get_network
from ui.sweeps import sweep_points, sweep_rows

#: Workload kinds: a built-in network by name, or a workload YAML document (sample files,
#: uploads, custom layers and imported ONNX models are all kept as workload YAML text).
BUILTIN = "builtin"
YAML = "yaml"


@dataclass(frozen=True)
class WorkloadSpec:
    """Which workload to map, as plain text (so it can key a cache and cross processes)."""

    kind: str
    value: str
    label: str = ""

    def load(self) -> Network:
        if self.kind == BUILTIN:
            return get_network(self.value)
        return parse_workload(self.value, source=self.label or "workload")


@dataclass(frozen=True)
class RunRequest:
    """One network mapping: everything that determines its result, as plain values.

    `options` holds `SolveOptions` fields (quality preset, solver) as sorted (name, value)
    pairs, empty for mappers that take none, so an option a mapper ignores never splits the
    cache.
    """

    hardware_text: str
    workload: WorkloadSpec
    mapper: str
    objective: str
    simulate: bool = True
    options: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True)
class SweepRequest:
    """A hardware sweep: every combination of `axes` values applied to one hardware."""

    hardware_text: str
    workload: WorkloadSpec
    mapper: str
    objective: str
    axes: tuple[tuple[str, tuple[Any, ...]], ...]
    options: tuple[tuple[str, str], ...] = field(default=())


def warm_up() -> bool:
    """A no-op task that makes a fresh worker import the library before the first real job."""
    return True


#: Distinct layer shapes solved in parallel by one MIP run (baselines are fast enough alone).
MIP_PARALLEL_LAYERS = max(1, min(2, os.cpu_count() or 1))


def _progress(status: Any):
    def report(done: int, total: int, name: str) -> None:
        status.update(done=done, total=total, layer=name)

    return report


def _cancel(status: Any):
    return lambda: bool(status.get("cancel"))


def run_network(request: RunRequest, status: Any) -> NetworkResult:
    """Map the request's network; library errors propagate to the caller unchanged."""
    hardware = parse_hardware(request.hardware_text, source="hardware")
    network = request.workload.load()
    status.update(done=0, total=len(network.layers), layer="")
    return map_network(
        hardware,
        network,
        mapper=request.mapper,
        objective=request.objective,
        simulate=request.simulate,
        progress=_progress(status),
        options=SolveOptions(**dict(request.options)) if request.options else None,
        jobs=MIP_PARALLEL_LAYERS if request.mapper == "mip" else 1,
        cancel=_cancel(status),
    )


def run_sweep(request: SweepRequest, status: Any) -> pd.DataFrame:
    """Map the network on every sweep point; one row per point (see `sweeps.sweep_rows`)."""
    hardware = parse_hardware(request.hardware_text, source="hardware")
    network = request.workload.load()
    points = sweep_points(request.axes)
    status.update(done=0, total=len(points), layer="")
    return sweep_rows(
        hardware,
        network,
        points,
        request.mapper,
        request.objective,
        options=SolveOptions(**dict(request.options)) if request.options else None,
        progress=_progress(status),
        cancel=_cancel(status),
    )
