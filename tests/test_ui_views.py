"""The dashboard's presentation helpers, without a page: number formatting, Markdown escaping,
loop-nest alignment, fidelity flags, bound cards, the CSV export and the HTML report."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import pytest

from miredo_core import SolveOptions, binding_floor, layer_floors, map_layer
from miredo_core.config import load_hardware
from miredo_core.mapping import Mapping
from miredo_core.network import map_network
from miredo_core.results import LATENCY_PARTS
from miredo_core.search.spatial import spatial_candidates
from miredo_core.workload import Dim
from miredo_core.zoo import load_workload
from ui import explain, frames, report
from ui.text import escape_markdown, format_cycles, format_edp, format_energy, format_si

REPO_ROOT = Path(__file__).resolve().parent.parent
TINY_HARDWARE = REPO_ROOT / "sample_configs" / "hardware" / "tiny.yaml"
TINY_WORKLOAD = REPO_ROOT / "sample_configs" / "workloads" / "tiny_layers.yaml"


@pytest.fixture(scope="module")
def tiny_run():
    hardware = load_hardware(TINY_HARDWARE)
    return hardware, map_network(hardware, load_workload(TINY_WORKLOAD), mapper="ws", simulate=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (format_energy(1.6e6), "1.60 µJ"),
        (format_cycles(6.44e6), "6.44 Mcycles"),
        (format_cycles(512), "512 cycles"),
        (format_edp(1.41e16), "14.1 kJ·cycles"),
        (format_si(999.7, "s"), "1.00 ks"),
        (format_si(0.0, "J"), "0 J"),
        (format_si(math.nan, "J"), "—"),
        (format_si(-2.5e-3, "J"), "-2.50 mJ"),
    ],
)
def test_si_formatting(text: str, expected: str) -> None:
    assert text == expected


def test_escaped_markdown_keeps_every_character() -> None:
    hostile = "![i](http://x/i.png) [a](javascript:x) **b** <img src=x> :red[c] $x$ `d` # e"
    escaped = escape_markdown(hostile)
    assert re.sub(r"\\(.)", r"\1", escaped) == hostile
    # No special character is left unescaped.
    assert not re.search(r"(?<!\\)[\[\]()!*<>`$#:]", escaped)


def _mapping(loops: list[tuple[str, int]], levels: list[str]) -> Mapping:
    placement = {"I": levels, "W": levels, "O": levels}
    return Mapping.build({"cores": {"K": 2}}, loops, placement)


def test_loop_nest_diff_aligns_by_level_and_dim_not_by_row() -> None:
    a = _mapping([("K", 4), ("C", 8), ("P", 2)], ["dram", "global_buffer", "global_buffer"])
    # The same loops in another order and split: one K loop more at DRAM, P moved to DRAM.
    b = _mapping(
        [("P", 2), ("K", 2), ("K", 2), ("C", 8)], ["dram", "dram", "dram", "global_buffer"]
    )
    diff = frames.loop_nest_diff([("A", a), ("B", b)])
    assert set(diff.columns) == {"operand / axis", "level", "dim", "A", "B", "differs"}
    by_place = diff.set_index(["operand / axis", "level", "dim"])
    assert by_place.loc[("W", "DRAM", "K"), "A"] == 4 and by_place.loc[("W", "DRAM", "K"), "B"] == 4
    assert not by_place.loc[("W", "DRAM", "K"), "differs"]
    assert by_place.loc[("W", "GB", "P"), "differs"] and by_place.loc[("W", "DRAM", "P"), "differs"]
    assert not by_place.loc[("spatial", "cores", "K"), "differs"]
    # Per operand, P moved (2 places) and C stayed: 2 of 4 places differ for each operand.
    assert int(diff["differs"].sum()) == 3 * 2
    same = frames.loop_nest_diff([("A", a), ("B", a), ("C", None)])
    assert (same["C"] == "").all() and same["differs"].all()


def test_fidelity_flags_layers_beyond_two_percent(tiny_run) -> None:
    _, result = tiny_run
    assert explain.fidelity_flags(result).empty  # the simulator agrees on the tiny layers
    first = result.layer_results[0]
    off = dataclasses.replace(first, sim_latency_cycles=first.cost.latency_cycles * 1.074)
    changed = dataclasses.replace(result, layer_results=(off, *result.layer_results[1:]))
    flags = explain.fidelity_flags(changed)
    assert list(flags["layer"]) == [first.layer.name]
    assert flags["latency_difference"].iloc[0] == pytest.approx(0.074)


def test_bound_card_of_a_baseline_and_of_a_certified_layer(tiny_run) -> None:
    hardware, result = tiny_run
    card = explain.bound_card(hardware, result.layer_results[0])
    assert card.bound_kind == "none" and math.isnan(card.bound)
    assert card.candidate_floor <= card.value  # the floor is a proven bound of every mapping
    assert card.largest_latency_part in LATENCY_PARTS
    floor_bound = dataclasses.replace(
        result.layer_results[0],
        status="best_found",
        search={"lower_bound": card.candidate_floor, "gap": 0.3},
    )
    explained = explain.bound_card(hardware, floor_bound)
    assert explained.bound_kind == "candidate floor"
    assert "measured against the candidate floor" in explained.explanation
    binding, _ = binding_floor(hardware, floor_bound.layer, floor_bound.objective)
    assert explained.floor_binding == binding and binding in explained.explanation
    energy = explain.bound_card(hardware, dataclasses.replace(floor_bound, objective="energy"))
    assert energy.floor_binding == ""  # an energy floor is a sum of energies, no latency floor


def test_efficiency_figures(tiny_run) -> None:
    hardware, result = tiny_run
    figures = explain.efficiency(result, hardware.area_mm2, clock_mhz=1000.0)
    assert figures.pj_per_mac == pytest.approx(result.energy_pj / result.macs)
    assert figures.tops_per_w == pytest.approx(2 / figures.pj_per_mac)  # 2 ops / pJ = 2 TOPS/W
    assert figures.inferences_per_s == pytest.approx(1e9 / result.latency_cycles)
    roofline = explain.roofline_frame(hardware, result)
    assert (roofline["achieved_macs_per_cycle"] <= roofline["peak_macs_per_cycle"] + 1e-9).all()


def test_csv_export_has_units_dims_and_identity(tiny_run) -> None:
    _, result = tiny_run
    identity = {"hardware_variant": "tiny (as loaded)", "hardware_hash": "0123abcd",
                "workload": "tiny", "preset": "", "solver": ""}  # fmt: skip
    frame = frames.export_frame(result, identity)
    for column in ("R", "S", "P", "Q", "C", "K", "G", "N", "stride_h", "gap_fraction",
                   "utilization_fraction", "lower_bound_cycles", "latency_cycles", "energy_pj",
                   *identity):  # fmt: skip
        assert column in frame, column
    assert (frame["hardware_hash"] == "0123abcd").all()
    assert list(frame["C"]) == [r.layer.size(Dim.C) for r in result.layer_results]
    assert list(frame.columns).index("R") == list(frame.columns).index("macs") + 1


def _figures(html: str) -> list[dict]:
    """The figure JSON of every plotly div in an exported report."""
    found = []
    for match in re.finditer(r'Plotly\.newPlot\(\s*"[^"]+",\s*(\[.*?\]),\s*(\{.*?\}),\s*\{', html,
                             re.S):  # fmt: skip
        found.append({"data": json.loads(match.group(1)), "layout": json.loads(match.group(2))})
    return found


def test_report_figures_have_explicit_colours(tiny_run) -> None:
    import streamlit  # noqa: F401, PLC0415 (its import sets plotly's placeholder template)

    hardware, result = tiny_run
    context = report.RunContext("tiny (as loaded) #0123abcd", hardware, "hardware: {}", "tiny")
    html = report.html_report("t", report.run_sections(result, result, "latency", context))
    figures = _figures(html)
    assert len(figures) >= 4
    latency = next(f for f in figures if "Latency breakdown" in f["layout"]["title"]["text"])
    colours = [trace["marker"]["color"] for trace in latency["data"]]
    assert len(set(colours)) == len(colours) > 1  # one colour per part, not all one
    assert not any(re.fullmatch(r"#00000\d", c) for c in colours)  # no Streamlit placeholder
    colorway = latency["layout"]["template"]["layout"]["colorway"]
    assert not any(re.fullmatch(r"#00000\d", c) for c in colorway)
    assert "tiny (as loaded) #0123abcd" in latency["layout"]["title"]["text"]
    assert "<pre>hardware: {}</pre>" in html and "Loop nest of conv3x3" in html
    assert "Bound cards" in html and "class='scroll'" in html


@pytest.mark.parametrize("objective", ["latency", "energy", "edp"])
def test_candidate_floor_equals_the_minimum_over_every_candidate(objective: str) -> None:
    """The merged (cores, rows, columns) products give the same floors as enumerating every
    spatial candidate of `miredo_core.search.spatial`."""
    hardware = load_hardware(TINY_HARDWARE)
    for layer in load_workload(TINY_WORKLOAD).layers:
        compute, _, floor = layer_floors(hardware, layer, objective)
        candidates = spatial_candidates(hardware, layer)
        t_mac = hardware.macro.pass_cycles(layer.input_bits)
        assert floor == pytest.approx(min(c.bound(objective) for c in candidates), rel=1e-12)
        assert compute == min(t_mac * math.prod(s for _, s in c.temporal) for c in candidates)


def test_level_usage_reads_tiles_capacity_and_bandwidth_off_the_model(tiny_run) -> None:
    hardware, result = tiny_run
    mip = map_layer(hardware, result.layer_results[0].layer, mapper="mip",
                    options=SolveOptions(preset="interactive"))  # fmt: skip
    for layer_result in (*result.layer_results, mip):
        usage = explain.level_usage(hardware, layer_result)
        assert "DRAM" not in set(usage["level"])  # DRAM holds everything; not a tile
        cost = layer_result.cost
        for row in usage.itertuples():
            level = next(lv for lv, name in frames.LEVEL_LABELS.items() if name == row.level)
            memory = hardware.memory(level)
            halves = 2 if row.double_buffered else 1
            # A legal mapping fits: what one instance holds, both halves, is within its size.
            assert 0 < row.occupancy <= row.level_occupancy <= 1 + 1e-12
            assert row.occupancy == pytest.approx(row.tile_bytes * 8 * halves / memory.size_bits)
            reads = sum(bits for (lv, op, access), bits in cost.memory_bits.items()
                        if (lv, op.value, access) == (level, row.operand, "read"))  # fmt: skip
            if math.isfinite(memory.read_bw_bits_per_cycle):
                ceiling = memory.read_bw_bits_per_cycle * hardware.level_instances(level)
                assert row.read_bw_use == pytest.approx(reads / ceiling / cost.latency_cycles)
            else:
                assert math.isnan(row.read_bw_use)  # the macro's reads are its compute
        per_level = usage.groupby("level")["occupancy"].sum()
        for name, total in per_level.items():
            assert usage[usage["level"] == name]["level_occupancy"].iloc[0] == pytest.approx(total)
        assert set(usage["double_buffered"]) <= {True, False}
        assert usage["double_buffered"].sum() == sum(
            level is not frames.Level.DRAM for level, _ in layer_result.mapping.double_buffered
        )


def test_layer_names_in_charts_are_text_and_energy_axis_names_its_unit(tiny_run) -> None:
    from ui import charts

    _, result = tiny_run
    frame = result.to_frame()
    frame["layer"] = [f"<a href='http://127.0.0.1:9/{i}'>L{i}</a>" for i in range(len(frame))]
    runs = frames.compare_frame([("A", result), ("B", result)])
    runs["layer"] = runs["layer"].map(lambda name: f"<b>{name}</b>")
    flags = [True] + [False] * (len(frame) - 1)
    figures = [
        charts.latency_breakdown(frame, provisional=flags),
        charts.predicted_vs_simulated(frame),
        charts.compare_bars(runs, "latency"),
    ]
    for figure in figures:
        categories = [str(x) for trace in figure.data for x in trace.x]
        assert categories and not any("<a" in x or "<b>" in x for x in categories), categories
        assert any("&lt;" in x for x in categories)  # drawn as its characters
    energy = charts.energy_breakdown(frames.energy_frame(result))
    assert energy.layout.yaxis.title.text == "energy (J)"  # the bars are in joules


def test_compare_totals_carry_clock_free_efficiencies(tiny_run) -> None:
    _, result = tiny_run
    totals = frames.compare_frame([("A", result), ("B", result)])
    totals = totals[totals["layer"] == "network total"].set_index(["metric", "run"])["value"]
    summary = result.summary()
    assert totals[("TOPS/W", "A")] == pytest.approx(2 * result.macs / summary["energy_pj"])
    assert totals[("ops/cycle/mm²", "B")] == pytest.approx(
        2 * result.macs / summary["latency_cycles"] / summary["area_mm2"]
    )


def test_spatial_unrolling_figure_fills_each_axis_with_its_factors(tiny_run) -> None:
    from ui import charts

    hardware, result = tiny_run
    axes = {"cores": ("cores", hardware.cores), "rows": ("macro rows", hardware.macro.rows),
            "columns": ("macro columns", hardware.macro.columns)}  # fmt: skip
    for layer_result in result.layer_results:
        figure = charts.spatial_unrolling(layer_result.mapping, hardware)
        for axis, (name, size) in axes.items():
            bars = [bar for bar in figure.data if bar.y[0] == f"{name} ({size})"]
            position = 1
            for bar in bars:  # segments follow one another, each a factor of the axis
                assert bar.base[0] == position and bar.x[0] > 0
                position = bar.base[0] + bar.x[0]
            assert position == size  # the last segment (unused, if any) ends at the axis size
            used = math.prod(f for a, _, f in layer_result.mapping.spatial if a.value == axis)
            assert (used < size) == any(bar.name == "unused" for bar in bars)
