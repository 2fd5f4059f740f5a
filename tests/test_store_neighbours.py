"""ResultStore.neighbour_mappings: the stored mappings of layer shapes on other hardware points."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from miredo_core import StoredMapping
from miredo_core.hardware import Hardware
from miredo_core.network import map_layer
from miredo_core.search.engine import SolveOptions
from miredo_core.store import Answer, ResultStore, hardware_hash, problem_key
from miredo_core.variants import apply_variant
from miredo_core.workload import Layer

POINTWISE = Layer("pointwise", P=4, Q=4, C=8, K=4)
KERNEL = Layer("kernel", R=3, S=3, P=4, Q=4, C=4, K=4)
OPTIONS = SolveOptions(preset="interactive")


@pytest.fixture
def store(tmp_path: Path):
    with ResultStore(tmp_path / "results.sqlite3") as opened:
        yield opened


def put(store: ResultStore, hw: Hardware, layer: Layer, mapper: str, objective: str):
    options = OPTIONS if mapper == "mip" else SolveOptions()
    result = map_layer(hw, layer, objective, mapper, options=options)
    store.put(problem_key(hw, layer, objective, mapper, options), Answer.from_result(result))
    return result


def test_mappings_of_each_shape_come_back_by_hardware_position(
    store: ResultStore, tiny_hardware: Hardware
) -> None:
    other = apply_variant(tiny_hardware, "cores", 4)
    ws_tiny = put(store, tiny_hardware, POINTWISE, "ws", "latency")
    mip_other = put(store, other, POINTWISE, "mip", "latency")
    put(store, other, KERNEL, "ws", "latency")
    unrelated = apply_variant(tiny_hardware, "cores", 3)
    put(store, unrelated, POINTWISE, "ws", "latency")

    found = store.neighbour_mappings([other, tiny_hardware], [POINTWISE, KERNEL], "latency")

    assert [(m.hardware_index, m.mapper) for m in found[0]] == [(0, "mip"), (1, "ws")]
    assert found[0][0].mapping == mip_other.mapping
    assert found[0][1].mapping == ws_tiny.mapping
    assert found[0][0].status == mip_other.status
    assert [(m.hardware_index, m.mapper) for m in found[1]] == [(0, "ws")]
    assert all(isinstance(item, StoredMapping) for items in found for item in items)


def test_the_objective_filters_except_for_objective_blind_mappers(
    store: ResultStore, tiny_hardware: Hardware
) -> None:
    put(store, tiny_hardware, POINTWISE, "mip", "energy")
    put(store, tiny_hardware, POINTWISE, "ws", "energy")  # ws is stored under "-"
    [latency] = store.neighbour_mappings([tiny_hardware], [POINTWISE], "latency")
    [energy] = store.neighbour_mappings([tiny_hardware], [POINTWISE], "energy")
    assert [m.mapper for m in latency] == ["ws"]
    assert [m.mapper for m in energy] == ["mip", "ws"]


def test_names_do_not_matter_and_hashes_are_accepted(
    store: ResultStore, tiny_hardware: Hardware
) -> None:
    put(store, tiny_hardware, POINTWISE, "ws", "latency")
    renamed = dataclasses.replace(POINTWISE, name="another name")
    first, second = store.neighbour_mappings(
        [hardware_hash(tiny_hardware)], [POINTWISE, renamed], "latency"
    )
    assert first == second and len(first) == 1


def test_infeasible_answers_and_unknown_points_give_nothing(
    store: ResultStore, tiny_hardware: Hardware
) -> None:
    huge = Layer("huge", P=4, Q=4, C=4096, K=4096)
    key = problem_key(tiny_hardware, huge, "latency", "mip", OPTIONS)
    store.put(key, Answer("infeasible", None, reason="does not fit"))  # an answer, no mapping
    assert store.neighbour_mappings([tiny_hardware], [huge], "latency") == [[]]
    other = apply_variant(tiny_hardware, "cores", 4)
    assert store.neighbour_mappings([other], [huge, POINTWISE], "latency") == [[], []]
    assert store.neighbour_mappings([], [POINTWISE], "latency") == [[]]
    assert store.neighbour_mappings([tiny_hardware], [], "latency") == []
