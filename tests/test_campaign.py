"""Campaign tables read back from a result store filled by a quick run on the tiny hardware."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import math
from pathlib import Path

import pandas as pd
import pytest

from miredo_core import campaign, cli
from miredo_core.config import dump_workload, load_hardware
from miredo_core.network import Run, map_network
from miredo_core.search.engine import SolveOptions
from miredo_core.store import ResultStore
from miredo_core.workload import Network
from miredo_core.zoo import NETWORK_NAMES, load_workload

ROOT = Path(__file__).resolve().parent.parent
TINY = load_hardware(ROOT / "sample_configs" / "hardware" / "tiny.yaml")
TINY_LAYERS = load_workload(ROOT / "sample_configs" / "workloads" / "tiny_layers.yaml")
OPTIONS = SolveOptions(preset="interactive")


def _network() -> Network:
    """Two shapes that certify quickly, a copy of one of them, and a depthwise layer whose
    interactive solve ends with a gap."""
    conv1x1, matmul = TINY_LAYERS.layer("conv1x1"), TINY_LAYERS.layer("matmul")
    copy = dataclasses.replace(conv1x1, name="conv1x1_again")
    depthwise = TINY_LAYERS.layer("depthwise3x3")
    return Network("campaign_tiny", (conv1x1, matmul, copy, depthwise))


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory):
    """(store path, network, the result the run returned) after one interactive latency run."""
    path = tmp_path_factory.mktemp("campaign") / "store.sqlite3"
    network = _network()
    with ResultStore(path) as store, concurrent.futures.ThreadPoolExecutor(1) as executor:
        result = map_network(TINY, network, "latency", "mip", OPTIONS, store=store,
                             executor=executor)  # fmt: skip
    return path, network, result


def test_stored_result_is_the_run_result_re_evaluated(filled) -> None:
    path, network, run = filled
    with ResultStore(path) as store:
        stored = campaign.stored_network_result(
            store, TINY, network, Run("latency", "mip", OPTIONS)
        )
    assert [r.layer.name for r in stored.layer_results] == [layer.name for layer in network.layers]
    for got, expected in zip(stored.layer_results, run.layer_results, strict=True):
        assert (got.status, got.cost, got.search.gap) == (
            expected.status, expected.cost, expected.search.gap,
        )  # fmt: skip
    assert stored.layer_results[2].reused_from == "conv1x1"
    assert stored.layer_results[2].solve_time_s == 0.0
    assert stored.latency_cycles == run.latency_cycles


def test_summary_counts_follow_the_layer_results(filled) -> None:
    path, network, run = filled
    with ResultStore(path) as store:
        summary, _ = campaign.network_summary(store, TINY, network, Run("latency", "mip", OPTIONS))
    statuses = [r.status for r in run.layer_results]
    gaps = [r.search.gap for r in run.layer_results]
    assert (summary.layers, summary.distinct_shapes, summary.stored_layers) == (4, 3, 4)
    assert summary.certified_layers == statuses.count("optimal")
    assert summary.exact_layers == sum(gap <= 1e-9 for gap in gaps)
    assert summary.certified_shapes == summary.certified_layers - (statuses[0] == "optimal")
    assert summary.worst_gap == max(gaps)
    certified_times = [r.solve_time_s for r in run.layer_results
                       if r.status == "optimal" and not r.reused_from]  # fmt: skip
    assert summary.certificate_time_total_s == pytest.approx(sum(certified_times))
    ws = map_network(TINY, network, mapper="ws", objective="latency")
    assert summary.ws_latency_cycles == ws.latency_cycles
    assert summary.gain_over_ws == pytest.approx(ws.latency_cycles / run.latency_cycles)
    assert summary.gain_over_ws >= 1.0  # the search starts from WS's mapping, never loses to it


def test_a_layer_missing_from_the_store_is_counted_and_leaves_totals_undefined(filled) -> None:
    path, network, _ = filled
    extra = TINY_LAYERS.layer("conv3x3")
    bigger = Network("campaign_tiny_plus", (*network.layers, extra))
    with ResultStore(path) as store:
        summary, result = campaign.network_summary(
            store, TINY, bigger, Run("latency", "mip", OPTIONS)
        )
        # Nothing was solved by reading: the store still has no answer for the extra layer.
        again = campaign.stored_network_result(store, TINY, bigger, Run("latency", "mip", OPTIONS))
    assert (summary.layers, summary.stored_layers) == (5, 4)
    assert result.layer_results[-1].reason == campaign.NOT_STORED
    assert again.layer_results[-1].status == "cancelled"
    assert math.isnan(summary.latency_cycles) and math.isnan(summary.gain_over_ws)


def test_another_objective_or_preset_finds_nothing(filled) -> None:
    path, network, _ = filled
    with ResultStore(path) as store:
        edp, _ = campaign.network_summary(store, TINY, network, Run("edp", "mip", OPTIONS))
        thorough = SolveOptions(preset="thorough")
        other, _ = campaign.network_summary(store, TINY, network, Run("latency", "mip", thorough))
    assert edp.stored_layers == other.stored_layers == 0


def test_paper_comparison_keeps_the_papers_figures_apart() -> None:
    rows = [
        campaign.NetworkSummary("vgg19_bn", "hw", objective, "mip", 19, 12, 19, 18, 10, 11, 6,
                                0.02, 10.0, 1.0, 20.0, 1.0, 2.0, 2.0, 3.0, 4.0, 12.0, gain)
        for objective, gain in (("edp", 6.0), ("latency", 3.0))
    ]  # fmt: skip
    frame = campaign.paper_comparison_frame(rows)
    assert list(frame.columns) == list(campaign.PAPER_COLUMNS)
    row = frame.iloc[0]
    assert (row.paper_conv_layers, row.paper_edp_gain_vs_zigzag, row.paper_edp_gain_vs_ws) == (
        16, 1.12, 27.67,
    )  # fmt: skip
    assert (row.our_edp_gain_vs_ws, row.our_latency_gain_vs_ws, row.our_layers) == (6.0, 3.0, 19)
    assert sum(f.conv_layers or 0 for f in campaign.PAPER_FIGURES.values()) == 174


@pytest.mark.parametrize("name", NETWORK_NAMES)
def test_every_built_in_network_has_a_template(name: str) -> None:
    assert campaign.template_path(name).is_file()


def test_template_of_a_file_workload_is_refused() -> None:
    with pytest.raises(ValueError, match="give the hardware file"):
        campaign.template_path("my_model")


def test_report_command_writes_csv_and_html(filled, tmp_path: Path, capsys) -> None:
    path, network, run = filled
    workload = tmp_path / "campaign_tiny.yaml"
    workload.write_text(dump_workload(network))
    csv, page = tmp_path / "campaign.csv", tmp_path / "campaign.html"
    code = cli.main(["report", "--store", str(path), "--network", str(workload), "--hardware",
                     str(ROOT / "sample_configs" / "hardware" / "tiny.yaml"), "--objective",
                     "latency", "--preset", "interactive", "--csv", str(csv), "--html",
                     str(page)])  # fmt: skip
    assert code == 0
    frame = pd.read_csv(csv)
    assert list(frame.columns) == list(campaign.SUMMARY_COLUMNS)
    assert frame.loc[0, "stored_layers"] == 4
    assert frame.loc[0, "latency_cycles"] == pytest.approx(run.latency_cycles)
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and "conv1x1_again" in text
    assert "paper_edp_gain_vs_zigzag" in text and "orientation" in text
    assert "certified_layers" in capsys.readouterr().out


def test_report_command_without_a_store_says_so(tmp_path: Path, capsys) -> None:
    code = cli.main(["report", "--store", str(tmp_path / "none.sqlite3"), "--network", "resnet18"])
    assert code == cli.EXIT_USAGE
    assert "result store" in capsys.readouterr().err
    assert not (tmp_path / "none.sqlite3").exists()


@pytest.mark.parametrize(
    ("name", "layers"),
    [("resnet18", 20), ("vgg19_bn", 16), ("alexnet", 5), ("mobilenet_v2", 52),
     ("efficientnet_b0", 81), ("bert_base", 8), ("tinyllama_block", 9)],
)  # fmt: skip
def test_campaign_network_maps_the_papers_conv_layers(name: str, layers: int) -> None:
    network = campaign.campaign_network(name)
    assert len(network.layers) == layers and network.name == name
    assert all(layer.kind != "fc" for layer in network.layers)
    assert len(campaign.campaign_network(name, all_layers=True).layers) >= layers
