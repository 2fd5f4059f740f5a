"""LayerResult / NetworkResult: frame columns, network totals, CSV and JSON exports."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from miredo_core.hardware import Hardware
from miredo_core.mapping import Mapping
from miredo_core.network import map_network
from miredo_core.results import FRAME_COLUMNS, LayerResult, NetworkResult
from miredo_core.workload import Layer, Network

REQUIRED_COLUMNS = [
    "layer",
    "mapper",
    "objective",
    "status",
    "macs",
    "latency_cycles",
    "energy_pj",
    "edp_pj_cycles",
    "compute_cycles",
    "weight_load_stall_cycles",
    "input_stall_cycles",
    "output_stall_cycles",
    "startup_cycles",
    "writeback_cycles",
    "utilization",
    "spatial_utilization",
    "sim_latency_cycles",
    "sim_energy_pj",
    "solve_time_s",
    "reason",
]


def small_network() -> Network:
    return Network(
        name="small",
        layers=(
            Layer("pointwise", P=4, Q=4, C=8, K=4),
            Layer("matmul", P=8, C=8, K=8, kind="matmul"),
        ),
    )


@pytest.fixture(scope="module")
def result(tiny_hardware: Hardware) -> NetworkResult:
    return map_network(tiny_hardware, small_network(), mapper="ws")


def test_frame_has_required_columns_in_order(result: NetworkResult) -> None:
    frame = result.to_frame()
    assert list(frame.columns[: len(REQUIRED_COLUMNS)]) == REQUIRED_COLUMNS
    assert list(frame.columns) == list(FRAME_COLUMNS)
    assert list(frame["layer"]) == ["pointwise", "matmul"]
    assert (frame["status"] == "evaluated").all()
    assert list(frame["macs"]) == [layer.macs for layer in small_network().layers]


def test_frame_figures_are_the_cost_model_figures(result: NetworkResult) -> None:
    frame = result.to_frame()
    for row, layer_result in zip(frame.itertuples(), result.layer_results, strict=True):
        cost = layer_result.cost
        assert cost is not None
        assert row.latency_cycles == cost.latency_cycles
        assert row.energy_pj == cost.energy_pj
        assert row.edp_pj_cycles == pytest.approx(cost.latency_cycles * cost.energy_pj)
        parts = (
            row.compute_cycles
            + row.weight_load_stall_cycles
            + row.input_stall_cycles
            + row.output_stall_cycles
            + row.startup_cycles
            + row.writeback_cycles
        )
        assert parts == pytest.approx(row.latency_cycles)
    # Not simulated: absent figures are NaN, not 0.
    assert frame["sim_latency_cycles"].isna().all()
    assert frame["sim_energy_pj"].isna().all()


def test_totals_sum_latency_and_energy_and_multiply_for_edp(result: NetworkResult) -> None:
    frame = result.to_frame()
    assert result.latency_cycles == pytest.approx(frame["latency_cycles"].sum())
    assert result.energy_pj == pytest.approx(frame["energy_pj"].sum())
    assert result.edp_pj_cycles == pytest.approx(result.latency_cycles * result.energy_pj)
    # The network EDP is not the sum of per-layer EDPs (that would understate it).
    assert result.edp_pj_cycles > frame["edp_pj_cycles"].sum()
    summary = result.summary_frame()
    assert len(summary) == 1
    assert summary.loc[0, "latency_cycles"] == pytest.approx(result.latency_cycles)
    assert summary.loc[0, "layers"] == 2
    assert summary.loc[0, "infeasible_layers"] == 0
    assert math.isnan(summary.loc[0, "sim_latency_cycles"])


def test_csv_round_trip(result: NetworkResult, tmp_path: Path) -> None:
    path = tmp_path / "layers.csv"
    result.to_csv(path)
    back = pd.read_csv(path)
    assert list(back.columns) == list(FRAME_COLUMNS)
    expected = result.to_frame()
    for column in ("latency_cycles", "energy_pj", "edp_pj_cycles", "utilization"):
        assert back[column].tolist() == pytest.approx(expected[column].tolist())
    assert back["layer"].tolist() == expected["layer"].tolist()


def test_json_contains_mappings_that_round_trip(result: NetworkResult) -> None:
    data = json.loads(result.to_json())
    assert data["network"] == "small"
    assert data["hardware"] == "tiny"
    assert data["totals"]["latency_cycles"] == pytest.approx(result.latency_cycles)
    for entry, layer_result in zip(data["layers"], result.layer_results, strict=True):
        assert entry["layer"]["name"] == layer_result.layer.name
        assert entry["mapping"] == layer_result.mapping.to_dict()
        assert Mapping.from_dict(entry["mapping"]) == layer_result.mapping
        assert entry["sim_latency_cycles"] is None
        energies = sum(item["energy_pj"] for item in entry["memory_energy_pj_by_access"])
        assert energies == pytest.approx(entry["memory_energy_pj"])


def test_infeasible_layer_makes_totals_undefined(result: NetworkResult) -> None:
    feasible = result.layer_results[0]
    infeasible = LayerResult(
        layer=Layer("impossible", P=2, C=2, K=2),
        mapper="ws",
        objective="latency",
        status="infeasible",
        mapping=None,
        cost=None,
        reason="capacity exceeded at macro",
    )
    network = NetworkResult("tiny", "mixed", (feasible, infeasible))
    assert network.infeasible_layers == ("impossible",)
    assert math.isnan(network.latency_cycles)
    assert math.isnan(network.edp_pj_cycles)
    row = network.to_frame().iloc[1]
    assert math.isnan(row["latency_cycles"])
    assert row["reason"] == "capacity exceeded at macro"
    data = json.loads(network.to_json())  # strict JSON: NaN became null
    assert data["totals"]["latency_cycles"] is None
    assert data["layers"][1]["mapping"] is None
    named = json.loads(network.to_json(identity={"hardware_hash": "0123abcd"}))
    assert named["hardware_hash"] == "0123abcd" and named["layers"] == data["layers"]


def test_status_and_cost_must_agree(result: NetworkResult) -> None:
    feasible = result.layer_results[0]
    with pytest.raises(ValueError, match="status"):
        dataclasses.replace(feasible, status="done")
    with pytest.raises(ValueError, match="infeasible"):
        dataclasses.replace(feasible, status="infeasible")
