"""map_network: deduplication, progress, infeasible layers, simulation, cancel, a failing
mapper, the mapper registry, SearchStats and the hardware key."""

from __future__ import annotations

import dataclasses
import math
import threading

import pytest

from miredo_core import (
    MAPPERS,
    SEARCH_COLUMNS,
    Hardware,
    Layer,
    Network,
    SearchStats,
    canonical_hardware,
    cost_model,
    dump_hardware,
    hardware_key,
    map_layer,
    map_network,
    register_mapper,
)
from miredo_core.variants import with_core_count


def repeated_network() -> Network:
    """Two layers with the same shape under different names, and one different layer."""
    return Network(
        name="repeated",
        layers=(
            Layer("block1", P=4, Q=4, C=8, K=4),
            Layer("matmul", P=8, C=8, K=8, kind="matmul"),
            Layer("block2", P=4, Q=4, C=8, K=4),
        ),
    )


def test_identical_layers_are_solved_once_and_reused(tiny_hardware: Hardware) -> None:
    calls: list[str] = []
    original = MAPPERS["ws"]

    def counting_mapper(hw, layer, objective, options, cancel):
        calls.append(layer.name)
        return original(hw, layer, objective, options, cancel)

    register_mapper("counting", counting_mapper)
    try:
        result = map_network(tiny_hardware, repeated_network(), mapper="counting")
    finally:
        del MAPPERS["counting"]
    assert calls == ["block1", "matmul"]
    first, _, copy = result.layer_results
    assert copy.layer.name == "block2"
    assert copy.reused_from == "block1"
    assert copy.solve_time_s == 0.0
    assert copy.mapping == first.mapping
    assert copy.cost.latency_cycles == first.cost.latency_cycles


def test_progress_is_reported_for_every_layer(tiny_hardware: Hardware) -> None:
    seen: list[tuple[int, int, str]] = []
    map_network(
        tiny_hardware,
        repeated_network(),
        progress=lambda done, total, name: seen.append((done, total, name)),
    )
    # Layers are counted, copies included: block2 is done when block1 is.
    assert seen == [(2, 3, "block1 solved, reused by 1 more"), (3, 3, "matmul solved")]


def test_reported_cost_is_the_cost_model_evaluation(tiny_hardware: Hardware) -> None:
    layer = Layer("pointwise", P=4, Q=4, C=8, K=4)
    result = map_layer(tiny_hardware, layer)
    assert result.status == "evaluated"
    assert result.cost == cost_model.evaluate(tiny_hardware, layer, result.mapping)
    assert result.solve_time_s >= 0.0


def test_simulation_figures_are_recorded_only_when_asked(tiny_hardware: Hardware) -> None:
    layer = Layer("pointwise", P=4, Q=4, C=8, K=4)
    plain = map_layer(tiny_hardware, layer)
    assert plain.sim_latency_cycles is None and plain.sim_energy_pj is None
    simulated = map_layer(tiny_hardware, layer, simulate=True)
    assert simulated.sim_latency_cycles > 0
    assert simulated.sim_energy_pj > 0


def test_solving_tasks_simulate_and_store_hits_are_simulated_here(
    tiny_hardware: Hardware, tmp_path, monkeypatch
) -> None:
    """Each solving task simulates its own answer (on the executor, beside the other solves);
    answers read from the store are simulated by the caller; both give the same figures."""
    from concurrent.futures import ThreadPoolExecutor

    from miredo_core import ResultStore, simulator

    calls: list[str] = []
    original = simulator.simulate

    def counting(hw, layer, mapping):
        calls.append(threading.current_thread().name.split("_")[0])
        return original(hw, layer, mapping)

    monkeypatch.setattr(simulator, "simulate", counting)
    path = tmp_path / "store.sqlite3"
    with ResultStore(path) as store, ThreadPoolExecutor(1, thread_name_prefix="task") as pool:
        solved = map_network(tiny_hardware, repeated_network(), mapper="mip", simulate=True,
                             store=store, executor=pool)  # fmt: skip
    assert calls == ["task", "task"]  # two distinct problems, each simulated by its task
    calls.clear()
    with ResultStore(path) as store:
        served = map_network(tiny_hardware, repeated_network(), mapper="mip", simulate=True,
                             store=store)  # fmt: skip
    assert calls == ["MainThread", "MainThread"]
    for a, b in zip(solved.layer_results, served.layer_results, strict=True):
        assert a.sim_latency_cycles == b.sim_latency_cycles > 0
        assert a.sim_energy_pj == b.sim_energy_pj > 0


def test_a_simulation_the_task_could_not_finish_is_rerun_and_reported(
    tiny_hardware: Hardware, tmp_path, monkeypatch
) -> None:
    """A simulator error in a solving task keeps the solve (stored), and the caller's own
    simulation reports the layer: infeasible when the simulator rejects the mapping."""
    from miredo_core import ResultStore, simulator
    from miredo_core.mapping import InfeasibleMappingError

    def rejecting(hw, layer, mapping):
        raise InfeasibleMappingError(f"{layer.name}: rejected")

    monkeypatch.setattr(simulator, "simulate", rejecting)
    path = tmp_path / "store.sqlite3"
    with ResultStore(path) as store:
        result = map_network(tiny_hardware, repeated_network(), mapper="mip", simulate=True,
                             store=store)  # fmt: skip
        assert len(store) == 2  # both solves kept
    assert [r.status for r in result.layer_results] == ["infeasible"] * 3
    assert result.layer_results[1].reason == "matmul: rejected"


def test_infeasible_layer_is_reported_not_raised(tiny_hardware: Hardware) -> None:
    # 16-bit weights do not fit the tiny macro's 8-bit cells: no mapping can run this layer.
    wide = Layer("wide_weights", P=4, C=4, K=4, weight_bits=16)
    network = Network("mixed", (Layer("ok", P=4, C=4, K=4), wide))
    result = map_network(tiny_hardware, network)
    ok, bad = result.layer_results
    assert ok.status == "evaluated"
    assert bad.status == "infeasible"
    assert bad.mapping is None and bad.cost is None
    assert bad.reason
    assert result.infeasible_layers == ("wide_weights",)


@pytest.mark.parametrize(("mapper", "objective"), [("nope", "latency"), ("ws", "area")])
def test_unknown_mapper_or_objective_is_a_value_error(
    tiny_hardware: Hardware, mapper: str, objective: str
) -> None:
    with pytest.raises(ValueError, match="unknown"):
        map_network(tiny_hardware, repeated_network(), mapper=mapper, objective=objective)


def test_cancel_keeps_finished_layers_and_cancels_the_rest(tiny_hardware: Hardware) -> None:
    stop = threading.Event()
    result = map_network(
        tiny_hardware, repeated_network(), "latency", "ws",
        progress=lambda done, total, text: stop.set(), cancel=stop,
    )  # fmt: skip
    statuses = [r.status for r in result.layer_results]
    assert statuses == ["evaluated", "cancelled", "evaluated"]  # block2 reuses block1
    assert result.layer_results[1].reason == "cancelled before it was solved"


def _raising(hw, layer, objective, options, cancel):
    if layer.kind == "matmul":
        raise RuntimeError("solver crashed")
    return MAPPERS["ws"](hw, layer, objective, options, cancel)


def test_a_mapper_that_raises_fails_its_layer_only(tiny_hardware: Hardware, monkeypatch) -> None:
    monkeypatch.setitem(MAPPERS, "raising", _raising)
    result = map_network(tiny_hardware, repeated_network(), "latency", "raising")
    statuses = [r.status for r in result.layer_results]
    assert statuses == ["evaluated", "failed", "evaluated"]
    assert result.layer_results[1].reason == "RuntimeError: solver crashed"
    assert result.to_frame()["status"].tolist() == statuses


def test_the_registry_says_which_mappers_take_options_and_are_expensive() -> None:
    assert MAPPERS["mip"].takes_options and MAPPERS["mip"].expensive
    assert not MAPPERS["ws"].takes_options and not MAPPERS["ws"].expensive
    assert all(name == mapper.name for name, mapper in MAPPERS.items())


def test_search_stats_are_the_search_columns() -> None:
    assert tuple(f.name for f in dataclasses.fields(SearchStats)) == SEARCH_COLUMNS
    stats = SearchStats.from_mapping({"gap": 0.5, "lower_bound": 3})
    assert stats.items() == (("lower_bound", 3.0), ("gap", 0.5))
    assert math.isnan(stats.predicted_energy_pj)
    with pytest.raises(TypeError):
        SearchStats.from_mapping({"speed": 1})


def test_hardware_key_is_canonical(tiny_hardware: Hardware) -> None:
    text = dump_hardware(tiny_hardware)
    respelled = "# a comment\n" + text.replace("cores: 2", "cores:    2  # two of them")
    assert respelled != text
    hardware, canonical = canonical_hardware(respelled)
    assert canonical == text and hardware == tiny_hardware
    assert hardware_key(canonical) == hardware_key(tiny_hardware)
    assert len(hardware_key(tiny_hardware)) == 16
    assert hardware_key(with_core_count(tiny_hardware, 4)) != hardware_key(tiny_hardware)
