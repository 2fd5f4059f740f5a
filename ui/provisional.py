"""A complete network answer at once after a hardware change, refined layer by layer.

*Provisional*: for each layer, the best of (a) the mappings the result store holds for the same
layer shape and objective on the hardware points nearest to the new design, each re-evaluated
on the new design by `cost_model.evaluate` (a mapping that is not legal there is skipped), and
(b) the weight-stationary mapping of the new design, which is also the fallback. Every layer
says where its mapping came from; nothing here claims optimality (status `evaluated`).

Nearest: the candidate points are the designs one axis step away from the new one (each
`miredo_core.AXES` axis moved up or down), the designs the session ran before and the base
design it started from; their distance is the sum over the axes that differ of |log2(ratio)|
(1 for a switch), plus OTHER_DISTANCE when they differ in anything else.

*Refined*: as the mapper's answers arrive in the result store (the worker writes each one as
it is solved), `refine` replaces each provisional layer by its final answer.

This module never imports streamlit.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from miredo_core import (
    AXES,
    Hardware,
    LayerResult,
    Network,
    NetworkResult,
    ResultStore,
    SolveOptions,
    apply_variant,
    evaluate,
    map_layer,
    objective_value,
    read_axes,
)

#: Distance added for a design that differs in more than the variant axes.
OTHER_DISTANCE = 8.0
#: How many of the nearest points holding answers for a layer are tried.
NEAREST_POINTS = 3
#: The source of a layer that runs the new design's weight-stationary mapping.
WS_SOURCE = "weight-stationary (this design)"
FINAL_SOURCE = "final"


@dataclass(frozen=True)
class Neighbour:
    hardware: Hardware
    distance: float
    label: str
    """The axes where it differs, as "gb_kib 256, cores 4" (its values)."""


def _step_values(name: str, value: Any) -> list[Any]:
    axis = AXES[name]
    if axis.type is bool:
        return [not value]
    if axis.type is int:
        values = {value - 2, value - 1, value + 1, value + 2, value * 2, value // 2}
        return sorted(v for v in values if v >= axis.minimum and v != value)
    return [value * factor for factor in (0.25, 0.5, 2.0, 4.0)]


def _axis_distance(old: Any, new: Any) -> float:
    if old == new:
        return 0.0
    if isinstance(old, bool) or isinstance(new, bool) or old <= 0 or new <= 0:
        return 1.0
    return abs(math.log2(new / old))


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _unnamed(hardware: Hardware) -> Hardware:
    """The hardware without its labels: equal accelerators compare equal (and hash equal; a
    comparison of frozen objects, much cheaper than hashing their YAML)."""
    return dataclasses.replace(hardware, name="", description="")


def neighbour(hardware: Hardware, other: Hardware) -> Neighbour:
    """`other` as a neighbour of `hardware`: its distance and the axes where it differs."""
    mine, theirs = read_axes(hardware), read_axes(other)
    changed = [name for name in mine if mine[name] != theirs[name]]
    distance = sum(_axis_distance(mine[name], theirs[name]) for name in changed)
    moved = other
    try:
        for name in changed:
            moved = apply_variant(moved, name, mine[name])
        same_otherwise = _unnamed(moved) == _unnamed(hardware)
    except ValueError:
        same_otherwise = False
    label = ", ".join(f"{name} {_plain(theirs[name])}" for name in changed)
    if not same_otherwise:
        distance += OTHER_DISTANCE
        label = f"{other.name}" + (f" ({label})" if label else "")
    return Neighbour(other, distance, label or "the same design")


def neighbours(hardware: Hardware, known: Sequence[Hardware] = ()) -> list[Neighbour]:
    """The candidate points of `hardware`, nearest first: one axis step away, then `known`
    designs (session history, the base design); the design itself is left out."""
    points: list[Hardware] = []
    for name, value in read_axes(hardware).items():
        for step in _step_values(name, value):
            try:
                points.append(apply_variant(hardware, name, step))
            except ValueError:  # a value this hardware cannot take
                continue
    points += list(known)
    own = _unnamed(hardware)
    found: dict[Hardware, Neighbour] = {}
    for point in points:
        key = _unnamed(point)
        if key != own and key not in found:
            found[key] = neighbour(hardware, point)
    return sorted(found.values(), key=lambda item: (item.distance, item.label))


@dataclass(frozen=True)
class Provisional:
    """A network answer whose layers are provisional or final, with each one's source."""

    result: NetworkResult
    sources: tuple[str, ...]

    @property
    def final_layers(self) -> int:
        return sum(source == FINAL_SOURCE for source in self.sources)


def _best_stored(hardware, layer, objective, stored, points) -> tuple[LayerResult, str] | None:
    """The best legal re-evaluation of the stored mappings of the NEAREST_POINTS nearest points
    that hold any for this layer."""
    nearest = sorted({item.hardware_index for item in stored})[:NEAREST_POINTS]
    best = None
    for item in stored:
        if item.hardware_index not in nearest:
            continue
        try:
            mapping = item.mapping
            cost = evaluate(hardware, layer, mapping)
        except ValueError:  # InfeasibleMappingError: not legal on this design
            continue
        value = objective_value(cost, objective)
        if best is None or value < best[0]:
            source = f"neighbour {points[item.hardware_index].label} ({item.mapper})"
            result = LayerResult(layer, item.mapper, objective, "evaluated", mapping, cost)
            best = (value, result, source)
    return None if best is None else (best[1], best[2])


def provisional_network(
    hardware: Hardware,
    network: Network,
    objective: str,
    store: ResultStore | None,
    points: Sequence[Neighbour],
) -> Provisional:
    """Every layer of `network` on `hardware`: the better of the nearest stored neighbours'
    mappings re-evaluated here and this design's weight-stationary mapping (module docstring)."""
    distinct = network.distinct_layers()
    stored = (store.neighbour_mappings([p.hardware for p in points], distinct, objective)
              if store is not None and points else [[] for _ in distinct])  # fmt: skip
    chosen: dict[tuple, tuple[LayerResult, str]] = {}
    for layer, items in zip(distinct, stored, strict=True):
        # Provisional answers cost no solve: the time of this quick mapping is not shown.
        ws = dataclasses.replace(map_layer(hardware, layer, objective, "ws"), solve_time_s=0.0)
        best = _best_stored(hardware, layer, objective, items, points)
        if best is None or (ws.cost is not None and objective_value(ws.cost, objective)
                            <= objective_value(best[0].cost, objective)):  # fmt: skip
            best = (ws, WS_SOURCE)
        chosen[layer.shape_key()] = best
    layers, sources = [], []
    for layer in network.layers:
        result, source = chosen[layer.shape_key()]
        layers.append(dataclasses.replace(result, layer=layer))
        sources.append(source)
    return Provisional(NetworkResult(hardware.name, network.name, tuple(layers)), tuple(sources))


def final_answers(
    store: ResultStore, hardware: Hardware, network: Network, run: tuple[str, str, SolveOptions]
) -> dict[tuple, LayerResult]:
    """The answers the store holds for this run (objective, mapper, options), by layer shape."""
    objective, mapper, options = run
    found = {}
    for layer in network.distinct_layers():
        result = store.lookup(hardware, layer, objective, mapper, options)
        if result is not None:
            found[layer.shape_key()] = result
    return found


def refine(provisional: Provisional, finals: dict[tuple, LayerResult]) -> Provisional:
    """`provisional` with every layer that has a final answer replaced by it."""
    layers, sources = [], []
    for result, source in zip(provisional.result.layer_results, provisional.sources, strict=True):
        final = finals.get(result.layer.shape_key())
        if final is not None:
            result, source = dataclasses.replace(final, layer=result.layer), FINAL_SOURCE
        layers.append(result)
        sources.append(source)
    network = dataclasses.replace(provisional.result, layer_results=tuple(layers))
    return Provisional(network, tuple(sources))
