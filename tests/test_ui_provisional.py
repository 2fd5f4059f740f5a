"""ui.provisional: a complete answer from stored neighbours (or WS) at once, refined later."""

from __future__ import annotations

from pathlib import Path

import pytest

from miredo_core import ResultStore, SolveOptions, evaluate, map_network, objective_value
from miredo_core.config import load_hardware
from miredo_core.variants import apply_variant
from miredo_core.zoo import load_workload
from ui import provisional

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "sample_configs" / "hardware" / "tiny.yaml"
LAYERS = ROOT / "sample_configs" / "workloads" / "tiny_layers.yaml"
OPTIONS = SolveOptions(preset="interactive")


@pytest.fixture
def store(tmp_path: Path):
    with ResultStore(tmp_path / "results.sqlite3") as opened:
        yield opened


def test_neighbours_are_one_step_away_nearest_first_and_name_their_axes() -> None:
    hardware = load_hardware(TINY)
    points = provisional.neighbours(hardware)
    distances = [point.distance for point in points]
    assert distances == sorted(distances) and distances[0] > 0
    labels = {point.label for point in points}
    assert "cores 1" in labels and "cores 4" in labels and "gb_kib 4" in labels
    assert "ping_pong on" in labels
    one_core = next(point for point in points if point.label == "cores 1")
    assert one_core.distance == pytest.approx(1.0)  # log2(2 / 1)
    assert one_core.hardware.cores == 1


def test_a_known_design_that_differs_elsewhere_is_far() -> None:
    hardware = load_hardware(TINY)
    other = load_hardware(ROOT / "sample_configs" / "hardware" / "default_8core.yaml")
    known = provisional.neighbour(hardware, other)
    assert known.distance > provisional.OTHER_DISTANCE
    assert known.label.startswith(other.name)
    same_elsewhere = provisional.neighbour(hardware, apply_variant(hardware, "gb_kib", 4))
    assert same_elsewhere.distance == pytest.approx(1.0)
    assert same_elsewhere.label == "gb_kib 4"


def test_without_stored_answers_every_layer_is_this_designs_ws(store: ResultStore) -> None:
    hardware, network = load_hardware(TINY), load_workload(LAYERS)
    answer = provisional.provisional_network(
        hardware, network, "latency", store, provisional.neighbours(hardware)
    )
    ws = map_network(hardware, network, "latency", "ws")
    assert answer.sources == (provisional.WS_SOURCE,) * len(network.layers)
    assert answer.result.latency_cycles == ws.latency_cycles
    assert answer.final_layers == 0


def test_stored_neighbour_mappings_are_re_evaluated_on_the_new_design(store: ResultStore) -> None:
    hardware, network = load_hardware(TINY), load_workload(LAYERS)
    moved = apply_variant(hardware, "gb_kib", 4)  # the slider move
    map_network(hardware, network, "latency", "mip", OPTIONS, store=store)
    answer = provisional.provisional_network(
        moved, network, "latency", store, provisional.neighbours(moved)
    )
    ws = map_network(moved, network, "latency", "ws")
    assert any(source.startswith("neighbour gb_kib 2 (mip)") for source in answer.sources)
    for result, baseline in zip(answer.result.layer_results, ws.layer_results, strict=True):
        assert result.cost == evaluate(moved, result.layer, result.mapping)
        assert result.status == "evaluated"
        assert objective_value(result.cost, "latency") <= objective_value(baseline.cost, "latency")


def test_mappings_illegal_on_the_new_design_are_skipped(store: ResultStore) -> None:
    hardware, network = load_hardware(TINY), load_workload(LAYERS)
    bigger = apply_variant(hardware, "cores", 4)
    map_network(bigger, network, "latency", "mip", OPTIONS, store=store)
    smaller = apply_variant(hardware, "cores", 1)
    answer = provisional.provisional_network(
        smaller, network, "latency", store, provisional.neighbours(smaller, [bigger])
    )
    for result in answer.result.layer_results:  # any mapping shown is legal on one core
        assert result.cost == evaluate(smaller, result.layer, result.mapping)
        assert all(axis != "cores" or factor == 1 for axis, _, factor in result.mapping.spatial)


def test_refine_replaces_layers_with_their_final_answers(store: ResultStore) -> None:
    hardware, network = load_hardware(TINY), load_workload(LAYERS)
    start = provisional.provisional_network(hardware, network, "latency", store, [])
    run = ("latency", "mip", OPTIONS)
    assert provisional.final_answers(store, hardware, network, run) == {}
    first = network.layers[0]
    map_network(hardware, type(network)(network.name, (first,)), "latency", "mip", OPTIONS,
                store=store)  # fmt: skip
    finals = provisional.final_answers(store, hardware, network, run)
    assert list(finals) == [first.shape_key()]
    refined = provisional.refine(start, finals)
    assert refined.sources[0] == provisional.FINAL_SOURCE and refined.final_layers == 1
    assert refined.result.layer_results[0].mapping == finals[first.shape_key()].mapping
    assert refined.result.layer_results[1:] == start.result.layer_results[1:]


def test_the_live_figure_is_built_once_per_live_answer(store: ResultStore, monkeypatch) -> None:
    """The live panel polls every second; its figure is rebuilt only when the answer changed."""
    from types import SimpleNamespace

    from ui import charts, live

    monkeypatch.setattr(live.st, "session_state", {})
    built = []
    monkeypatch.setattr(charts, "latency_breakdown",
                        lambda *args: built.append(args) or object())  # fmt: skip
    hardware, network = load_hardware(TINY), load_workload(LAYERS)
    design = SimpleNamespace(hardware=hardware, hash="abc123")
    request = SimpleNamespace(workload=SimpleNamespace(label="tiny layers"))

    def answer():
        return provisional.provisional_network(hardware, network, "latency", store, ())

    first = answer()
    assert live._figure(first, design, request) is live._figure(first, design, request)
    assert len(built) == 1
    assert "tiny #abc123" in built[0][1]
    second = answer()
    assert live._figure(second, design, request) is not live._figure(first, design, request)
    assert len(built) == 3
