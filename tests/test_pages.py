"""AppTest smoke tests of every dashboard page: widgets by key, a solve on the tiny hardware
and workload, charts present, library errors shown as messages, never as exceptions.

Every test has a result store of its own (`$MIREDO_STORE`, set by the autouse fixture
`result_store_path` of conftest.py): dashboard requests carry the store path resolved when they
are built, so the shared solver workers follow it and nothing is written to the user's cache.
"""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

import pytest
from onnx import TensorProto, helper
from streamlit.testing.v1 import AppTest

from miredo_core.config import dump_hardware, load_hardware, parse_hardware
from miredo_core.network import map_network
from miredo_core.pareto import pareto_mask
from miredo_core.store import ResultStore
from miredo_core.variants import apply_variant
from miredo_core.zoo import load_workload
from ui import frames, jobs, report, state, widgets
from ui.axes import read_axes
from ui.jobs import YAML, RunRequest, SweepRequest, WorkloadSpec

REPO_ROOT = Path(__file__).resolve().parent.parent
HARDWARE_DIR = REPO_ROOT / "sample_configs" / "hardware"
TINY_HARDWARE = HARDWARE_DIR / "tiny.yaml"
TINY_WORKLOAD = REPO_ROOT / "sample_configs" / "workloads" / "tiny_layers.yaml"
TIMEOUT = 60


def page(name: str) -> AppTest:
    return AppTest.from_file(str(REPO_ROOT / "pages" / name), default_timeout=TIMEOUT)


def seed_tiny(at: AppTest) -> AppTest:
    """The tiny accelerator and the tiny layers, as the Hardware and Workload pages leave them."""
    text = TINY_HARDWARE.read_text(encoding="utf-8")
    at.session_state["hardware_base_text"] = text
    at.session_state["hardware_base_label"] = "sample tiny.yaml"
    at.session_state["hardware_axes"] = read_axes(load_hardware(TINY_HARDWARE))
    workload = TINY_WORKLOAD.read_text(encoding="utf-8")
    at.session_state["workload"] = WorkloadSpec(YAML, workload, "tiny_layers.yaml")
    return at


def run_until_charts(at: AppTest, count: int, timeout: float = TIMEOUT) -> AppTest:
    """Rerun while the page polls its jobs (AppTest does not run timed fragment reruns)."""
    deadline = time.monotonic() + timeout
    while len(at.get("plotly_chart")) < count and not at.error and time.monotonic() < deadline:
        time.sleep(0.2)
        at.run()
    return at


def plain(markdown: str) -> str:
    """Markdown source as the reader sees it: user text is backslash-escaped on the page."""
    return re.sub(r"\\(.)", r"\1", markdown)


def error_text(at: AppTest) -> str:
    return "\n".join(plain(element.value) for element in at.error)


def test_landing_page_navigates_without_exception() -> None:
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.title[0].value == "MIREDO Studio"
    at.switch_page("pages/1_hardware.py").run()
    assert not at.exception
    assert at.title[0].value == "Hardware"


def test_hardware_slider_updates_yaml_metrics_and_goes_back_exactly() -> None:
    at = page("1_hardware.py").run()
    assert not at.exception
    original = at.text_area(key="hw_yaml").value
    peak = at.metric[0].value
    at.slider(key="hw_cores").set_value(16).run()
    assert "cores: 16" in at.text_area(key="hw_yaml").value
    assert at.metric[0].value != peak
    at.slider(key="hw_cores").set_value(8).run()
    assert at.text_area(key="hw_yaml").value == original
    assert at.metric[0].value == peak
    at.toggle(key="hw_ping_pong").set_value(True).run()
    assert "ping_pong: true" in at.text_area(key="hw_yaml").value
    assert not at.exception


def test_hardware_invalid_values_show_config_error_messages() -> None:
    at = page("1_hardware.py").run()
    at.number_input(key="hw_gb_kib").set_value(0).run()
    assert "gb_kib" in error_text(at)
    at.number_input(key="hw_gb_kib").set_value(256).run()
    broken = "hardware:\n  name: broken\n  cores: 0\n  levelz: {}\n"
    at.text_area(key="hw_yaml").set_value(broken).run()
    text = error_text(at)
    assert "hardware.cores" in text and "must be > 0" in text
    assert "unknown key 'levelz'" in text and "hardware.macro" in text
    assert not at.exception
    # The message is also placed next to the input that edits that place.
    assert any(plain(e.value).startswith("hardware.cores:") for e in at.error)


def test_hardware_sample_switch_and_yaml_edit() -> None:
    at = page("1_hardware.py").run()
    at.selectbox(key="hw_sample").set_value("tiny.yaml").run()
    assert at.slider(key="hw_cores").value == 2
    edited = TINY_HARDWARE.read_text(encoding="utf-8").replace("cores: 2", "cores: 4")
    at.text_area(key="hw_yaml").set_value(edited).run()
    assert at.slider(key="hw_cores").value == 4
    assert not at.error and not at.exception


def test_hardware_upload_replaces_the_design_and_bad_uploads_are_messages() -> None:
    at = page("1_hardware.py").run()
    text = TINY_HARDWARE.read_text(encoding="utf-8").replace("cores: 2", "cores: 3")
    at.file_uploader(key="upload_hardware").set_value(("mine.yaml", text.encode(), "text/yaml"))
    at.run()
    assert not at.exception and not at.error, error_text(at)
    assert at.slider(key="hw_cores").value == 3
    assert any("from upload mine.yaml" in plain(c.value) for c in at.caption)
    assert at.text_area(key="hw_yaml").value == text  # the editor shows the file as uploaded
    at.file_uploader(key="upload_hardware").set_value(("![x](y).yaml", b"\xff\xfe", "text/yaml"))
    at.run()
    assert not at.exception
    assert any("![x](y).yaml is not UTF-8 text" in plain(w.value) for w in at.warning)
    assert not any("![" in w.value for w in at.warning)  # the name is shown as text
    assert at.slider(key="hw_cores").value == 3  # the design before it is kept


def _onnx_model() -> bytes:
    """Conv -> Relu -> Gemm, built in code: two layers to map and one skipped operator."""
    conv_weight = helper.make_tensor("w", TensorProto.FLOAT, [8, 3, 3, 3], [0.0] * 216)
    fc_weight = helper.make_tensor("fw", TensorProto.FLOAT, [10, 8 * 6 * 6], [0.0] * 2880)
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [1, 8 * 6 * 6])
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("Reshape", ["r", "shape"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fw"], ["y"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "small",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [conv_weight, fc_weight, shape],
    )
    return helper.make_model(graph).SerializeToString()


def test_workload_sources() -> None:
    at = page("2_workload.py").run()
    assert not at.exception
    assert at.dataframe[0].value["Layer"].iloc[0] == "Conv_0"  # resnet18 by default
    assert at.metric[1].value == "1.81 GMAC"  # ResNet-18's 1,814,073,344 MACs, with a prefix
    at.radio(key="wl_source").set_value("Sample workload file").run()
    assert list(at.dataframe[0].value["Layer"])[:2] == ["conv3x3", "conv1x1"]
    at.radio(key="wl_source").set_value("Upload ONNX / YAML").run()
    at.file_uploader(key="upload_workload").set_value(
        ("small.onnx", _onnx_model(), "application/octet-stream")
    )
    at.run()
    assert not at.exception and not at.error
    assert list(at.dataframe[0].value["Layer"]) == ["conv", "fc"]
    skipped = at.dataframe[1].value
    assert set(skipped["Operator"]) == {"Relu", "Reshape"}
    at.file_uploader(key="upload_workload").set_value(("bad.onnx", b"not onnx", "x/y"))
    at.run()
    assert "bad.onnx" in error_text(at)
    assert not at.exception


def test_workload_custom_layer() -> None:
    at = page("2_workload.py").run()
    at.radio(key="wl_source").set_value("Custom layer").run()
    at.text_input(key="wl_layer_name").set_value("mine")
    for name, value in {"P": 8, "Q": 8, "C": 16, "K": 32, "padding": 1}.items():
        at.number_input(key=f"wl_layer_{name}").set_value(value)
    at.button(key="add_layer").click().run()
    assert not at.exception and not at.error
    assert list(at.dataframe[0].value["Layer"]) == ["mine"]
    at.number_input(key="wl_layer_P").set_value(0)
    at.button(key="add_layer").click().run()
    assert "P must be a positive integer" in error_text(at)


def test_optimize_solves_tiny_and_draws_charts() -> None:
    at = seed_tiny(page("3_optimize.py")).run()
    assert not at.exception
    at.selectbox(key="opt_mapper").set_value("ws").run()
    assert at.selectbox(key="opt_preset").disabled
    assert "available with the MIP mapper" in [c.value for c in at.caption]
    at.button(key="run_optimize").click().run()
    run_until_charts(at, 8)
    assert not at.exception, at.exception
    assert not at.error, error_text(at)
    # latency, energy, roofline, loop nest, spatial unrolling, layer ceilings and energy, fidelity
    assert len(at.get("plotly_chart")) == 8
    table = at.dataframe[0].value
    assert list(table["Layer"]) == [
        "conv3x3",
        "conv1x1",
        "depthwise3x3",
        "matmul",
        "conv3x3_stride2",
    ]
    assert (table["Status"] == "evaluated").all()
    assert (table["× WS"] == 1.0).all()
    assert any(header.startswith("Energy (") and header.endswith("J)") for header in table)
    metrics = {metric.label: metric.value for metric in at.metric}
    assert re.fullmatch(r"\d+(\.\d+)? kcycles", metrics["Network latency"])
    assert re.fullmatch(r"\d+(\.\d+)? nJ", metrics["Network energy"])
    assert float(metrics["TOPS/W"]) > 0 and "Inferences/s" in metrics
    # A baseline's bound card says it proves nothing and measures against the candidate floor.
    assert any("baseline and proves no bound" in m.value for m in at.markdown)
    at.number_input(key="opt_clock_mhz").set_value(1000.0).run()
    faster = {metric.label: metric.value for metric in at.metric}
    rate = float(metrics["Inferences/s"].replace(",", ""))
    assert float(faster["Inferences/s"].replace(",", "")) == pytest.approx(2 * rate, rel=1e-3)
    assert faster["TOPS/W"] == metrics["TOPS/W"]  # energy per op does not depend on the clock
    at.selectbox(key="opt_layer").set_value("matmul").run()
    assert not at.exception
    levels = next(frame.value for frame in at.dataframe if "Operand" in frame.value)
    assert list(levels.columns[:4]) == ["Level", "Operand", "Tile (elements)", "Tile (bytes)"]
    assert set(levels["Level"]) <= {"GB", "IBUF", "OBUF", "IReg", "OReg", "Macro"}
    assert all(value.endswith(" %") for value in levels["Capacity used"])
    # Without the simulator check, the run is a new one and has no fidelity figure.
    at.checkbox(key="opt_simulate").uncheck().run()
    at.button(key="run_optimize").click().run()
    run_until_charts(at, 7)
    assert not at.exception and not at.error, error_text(at)
    charts_shown = at.get("plotly_chart")
    assert len(charts_shown) == 7
    assert not any("Predicted vs simulated" in chart.proto.spec for chart in charts_shown)


def test_optimize_mip_with_interactive_preset() -> None:
    at = seed_tiny(page("3_optimize.py"))
    at.session_state["workload"] = WorkloadSpec(
        YAML, "workload:\n  name: one\n  layers:\n    - {name: mm, P: 8, C: 8, K: 8}\n", "one"
    )
    at.run()
    at.selectbox(key="opt_mapper").set_value("mip").run()
    assert not at.selectbox(key="opt_preset").disabled
    at.selectbox(key="opt_preset").set_value("interactive")
    at.button(key="run_optimize").click().run()
    run_until_charts(at, 8)
    assert not at.exception and not at.error, error_text(at)
    table = at.dataframe[0].value
    assert table["Status"].iloc[0] in ("optimal", "best_found")
    assert table["× WS"].iloc[0] <= 1.0 + 1e-9
    assert "Proven bound (cycles)" in table and table["Proven bound (cycles)"].notna().all()


def test_optimize_invalid_hardware_is_a_message() -> None:
    at = seed_tiny(page("3_optimize.py"))
    at.session_state["hardware_base_text"] = "hardware: {name: x, cores: -1}\n"
    at.run()
    assert not at.exception
    assert "hardware.cores" in error_text(at)


def test_compare_hardware_a_vs_b() -> None:
    at = seed_tiny(page("4_compare.py"))
    at.session_state["cmp_b_hardware"] = "tiny.yaml"
    at.session_state["cmp_b_objective"] = "energy"
    at.run()
    assert not at.exception
    at.button(key="run_compare").click().run()
    run_until_charts(at, 3)
    assert not at.exception and not at.error, error_text(at)
    assert len(at.get("plotly_chart")) == 3  # normalized bars, loop nests A and B
    totals, diff = at.dataframe[0].value, at.dataframe[1].value
    assert not diff["differs"].any()  # same hardware, same WS rule: identical loop nests
    assert set(totals["figure"]) == {"latency", "energy", "edp", "area", "pJ/MAC", "TOPS/W",
                                     "ops/cycle/mm²"}  # fmt: skip
    assert (totals["B / A"] == "1×").all()
    assert at.get("plotly_chart")[0].proto.spec  # the ratio chart, on a log axis:
    assert '"type":"log"' in at.get("plotly_chart")[0].proto.spec.replace(" ", "")


def test_design_space_sweep_draws_pareto_scatter_and_opens_a_point() -> None:
    at = seed_tiny(AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=TIMEOUT))
    at.session_state["sweep_axes"] = ["cores", "ping_pong"]
    at.session_state["sweep_values_cores"] = "1, 2"
    at.session_state["sweep_values_ping_pong"] = "off, on"
    at.session_state["sweep_mapper"] = "ws"
    at.switch_page("pages/5_design_space.py").run()
    assert not at.exception
    at.button(key="run_sweep").click().run()
    run_until_charts(at, 1)
    assert not at.exception and not at.error, error_text(at)
    points = at.dataframe[0].value
    assert len(points) == 4 and points["Pareto"].any()
    assert "Latency (kcycles)" in points and "Area (mm²)" in points
    assert list(points["cores"]) == [1, 1, 2, 2]
    at.selectbox(key="sweep_point").set_value(1)  # cores=1, ping_pong=on
    at.button(key="open_point").click().run()
    assert not at.exception
    assert at.title[0].value == "Optimize"
    assert at.session_state["hardware_axes"]["cores"] == 1
    assert at.session_state["hardware_axes"]["ping_pong"] is True
    # One design everywhere: the point's hash on the Optimize caption and the served result's
    # figures, and the Hardware page's inputs and YAML.
    digest = points["Hardware hash"].iloc[1]
    caption = next(plain(c.value) for c in at.caption if c.value.startswith("Hardware: "))
    assert caption.endswith(f"#{digest}") and "tiny[cores=1,ping_pong=on]" in caption
    at.switch_page("pages/3_optimize.py")  # AppTest reruns the page it was last sent to
    at.selectbox(key="opt_mapper").set_value("ws").run()
    run_until_charts(at, 8)
    assert not at.exception and not at.error, error_text(at)
    assert len(at.get("plotly_chart")) == 8, [c.proto.id for c in at.get("plotly_chart")]
    assert all(f"#{digest}" in chart.proto.spec for chart in at.get("plotly_chart"))
    at.switch_page("pages/1_hardware.py").run()
    assert at.slider(key="hw_cores").value == 1 and at.toggle(key="hw_ping_pong").value is True
    edited = parse_hardware(at.text_area(key="hw_yaml").value)
    assert edited.cores == 1 and edited.macro.ping_pong


def _sweep_around_a_moved_design() -> AppTest:
    """Axes picked out of alphabetical order, around the tiny design with its cores moved."""
    at = seed_tiny(AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=TIMEOUT))
    at.session_state["hardware_axes"] = {**at.session_state["hardware_axes"], "cores": 3}
    at.session_state["sweep_axes"] = ["ping_pong", "cores"]
    at.session_state["sweep_values_ping_pong"] = "off, on"
    at.session_state["sweep_values_cores"] = "1, 2"
    at.session_state["sweep_mapper"] = "ws"
    at.switch_page("pages/5_design_space.py").run()
    at.button(key="run_sweep").click().run()
    run_until_charts(at, 1)
    assert not at.exception and not at.error, error_text(at)
    return at


@pytest.mark.parametrize("index", [0, 3])
def test_sweep_points_are_named_as_optimize_names_them(index: int) -> None:
    """Each point's name and hash are those of the design it opens; the point back at the
    sample's values is the sample itself."""
    at = _sweep_around_a_moved_design()
    points = at.dataframe[0].value
    assert list(points["Hardware"]) == [
        "tiny[cores=1]", "tiny", "tiny[cores=1,ping_pong=on]", "tiny[ping_pong=on]"
    ]  # fmt: skip
    at.selectbox(key="sweep_point").set_value(index)
    at.button(key="open_point").click().run()
    caption = next(plain(c.value) for c in at.caption if c.value.startswith("Hardware: "))
    assert caption.endswith(f"#{points['Hardware hash'].iloc[index]}"), caption


def test_design_space_bad_values_are_messages() -> None:
    at = seed_tiny(page("5_design_space.py"))
    at.session_state["sweep_axes"] = ["cores"]
    at.session_state["sweep_values_cores"] = "1, x"
    at.run()
    assert not at.exception
    assert "not an integer" in error_text(at)
    at.text_input(key="sweep_values_cores").set_value("0, 2").run()  # parses, cannot apply
    assert not at.exception
    assert "This sweep cannot run" in error_text(at) and "axis cores" in error_text(at)


def test_design_space_value_error_shows_typed_markdown_as_text() -> None:
    at = seed_tiny(page("5_design_space.py"))
    at.session_state["sweep_axes"] = ["cores"]
    at.session_state["sweep_values_cores"] = "1, ![i](http"  # the message repeats the item
    at.run()
    assert not at.exception
    assert "'![i](http' is not an integer" in error_text(at)
    assert not any("![" in element.value for element in at.error)  # escaped, never Markdown


def sweep_page(values: str) -> AppTest:
    """The Design space page on the tiny hardware, sweeping the core count over `values`."""
    at = seed_tiny(page("5_design_space.py"))
    at.session_state["sweep_axes"] = ["cores"]
    at.session_state["sweep_values_cores"] = values
    at.session_state["sweep_mapper"] = "ws"
    return at.run()


def test_design_space_repeated_sweep_is_served_from_the_store(result_store_path: Path) -> None:
    at = sweep_page("1, 2")
    at.button(key="run_sweep").click().run()
    run_until_charts(at, 1)
    assert not at.exception and not at.error, error_text(at)
    captions = " ".join(caption.value for caption in at.caption)
    assert "10 distinct" in captions and "0 served from the result store, 10 solved" in captions
    scatter = at.get("plotly_chart")[0].proto.spec
    assert "around tiny (as loaded from sample tiny.yaml) #" in scatter  # names its base design
    assert list(at.dataframe[0].value["Hardware"]) == ["tiny[cores=1]", "tiny"]  # 2 is the base
    with ResultStore(result_store_path) as store:
        assert len(store) == 10  # 2 points x 5 distinct layer shapes
    # Another request (the points in another order) with the same problems: a new job, which
    # finds every answer in the store.
    at.text_input(key="sweep_values_cores").set_value("2, 1").run()
    run_until_charts(at, 1)
    assert not at.exception and not at.error, error_text(at)
    assert list(at.dataframe[0].value["cores"]) == [2, 1]
    captions = " ".join(caption.value for caption in at.caption)
    assert "10 served from the result store, 0 solved" in captions


def test_design_space_pareto_front_follows_the_chosen_figures() -> None:
    at = sweep_page("1, 2, 4")
    at.button(key="run_sweep").click().run()
    run_until_charts(at, 1)
    at.multiselect(key="sweep_pareto").set_value(["area"]).run()
    assert not at.exception and not at.error, error_text(at)
    points = at.session_state["last_sweep"]["points"]
    assert list(at.dataframe[0].value["Pareto"]) == list(pareto_mask(points, ["area"]))
    assert list(points.loc[points["pareto"], "cores"]) == [1]  # the smallest chip
    at.multiselect(key="sweep_pareto").set_value([]).run()
    assert not at.exception and at.warning
    assert not at.dataframe[0].value["Pareto"].any()


def test_unusable_result_store_is_a_message(tmp_path: Path, monkeypatch) -> None:
    broken = tmp_path / "broken.sqlite3"
    broken.write_text("not a database", encoding="utf-8")
    monkeypatch.setenv("MIREDO_STORE", str(broken))
    at = sweep_page("1")
    at.button(key="run_sweep").click().run()
    deadline = time.monotonic() + TIMEOUT
    while not at.error and time.monotonic() < deadline:
        time.sleep(0.2)
        at.run()
    assert not at.exception
    assert "is not a usable result store" in error_text(at)


def test_workers_read_and_write_the_store(result_store_path: Path) -> None:
    """The worker functions, called in this process: a repeated run and sweep solve nothing."""
    hardware = TINY_HARDWARE.read_text(encoding="utf-8")
    workload = WorkloadSpec(YAML, TINY_WORKLOAD.read_text(encoding="utf-8"), "tiny")
    request = RunRequest(hardware, workload, "ws", "latency", simulate=True)
    assert request.store_path == str(result_store_path)
    first = jobs.run_network(request, {})
    again = jobs.run_network(request, {})
    columns = ["layer", "status", "latency_cycles", "energy_pj", "sim_latency_cycles"]
    assert again.to_frame()[columns].equals(first.to_frame()[columns])
    assert again.solve_time_s == 0.0  # every layer came from the store
    assert all(r.sim_latency_cycles is not None for r in again.layer_results)
    sweep = SweepRequest(hardware, workload, "ws", "latency", (("cores", (1, 2)),))
    outcome = jobs.run_sweep(sweep, {})
    assert outcome.stats.store_hits == 5 and outcome.stats.solved == 5  # cores=2 is tiny.yaml
    assert jobs.run_sweep(sweep, {}).stats.solved == 0
    with ResultStore(result_store_path) as store:
        assert len(store) == 10


def test_reports_offer_downloads_and_an_offline_html_report() -> None:
    hardware = load_hardware(TINY_HARDWARE)
    result = map_network(hardware, load_workload(TINY_WORKLOAD), mapper="ws", simulate=True)
    request = RunRequest(TINY_HARDWARE.read_text(), WorkloadSpec(YAML, "", "tiny"), "ws", "latency")
    workload = WorkloadSpec(YAML, TINY_WORKLOAD.read_text(encoding="utf-8"), "tiny")
    sweep = SweepRequest(request.hardware_text, workload, "ws", "latency", (("cores", (1, 2)),))
    points = frames.mark_pareto(jobs.run_sweep(sweep, {}).points, ["latency", "energy"])
    at = page("6_reports.py")
    at.session_state["last_run"] = {"request": request, "result": result, "baseline": result}
    text = dump_hardware(hardware)
    design = state.Design(text, hardware, "sample tiny.yaml", ())
    at.session_state["last_sweep"] = {"points": points, "axes": ["cores"], "front": ["latency"],
                                      "design": design, "request": sweep}  # fmt: skip
    at.run()
    assert not at.exception
    assert any(design.hash in plain(caption.value) for caption in at.caption)
    identity = state.sweep_identity_columns(design, sweep)
    assert identity["base_hardware_hash"] == design.hash and identity["workload"] == "tiny"
    assert identity["mapper"] == "ws" and identity["objective"] == "latency"
    # Each point's hash is the one Optimize shows once the point is opened (cores=2: tiny.yaml).
    by_cores = dict(zip(points["cores"], points["hardware_hash"], strict=True))
    assert by_cores[2] == design.hash and by_cores[1] != design.hash
    keys = {button.key for button in at.get("download_button")}
    assert {"download_report_layers", "download_summary", "download_json", "download_html",
            "download_sweep"} <= keys  # fmt: skip
    sweep_html = report.html_report("s", report.sweep_sections(points, ["cores"], ["latency"]))
    assert "Pareto front (latency)" in sweep_html
    html = report.html_report("t", report.run_sections(result, result, "latency"))
    assert html.count('class="plotly-graph-div"') >= 3
    assert "<script src=" not in html  # plotly.js is inlined, so the file works offline


@pytest.mark.parametrize("name", ["6_reports.py"])
def test_empty_reports_page_explains_itself(name: str) -> None:
    at = page(name).run()
    assert not at.exception and at.info


# ---------------------------------------------------------------- user text, identity, URL
IMAGE_LINK = "![pixel](http://127.0.0.1:9/pixel.png)"


def _markdown_sources(at: AppTest) -> list[str]:
    """The Markdown source of every element that renders Markdown."""
    kinds = ("markdown", "caption", "error", "warning", "info", "subheader", "title")
    return [element.value for kind in kinds for element in getattr(at, kind)]


def test_markdown_in_a_description_is_shown_as_text() -> None:
    text = (
        TINY_HARDWARE.read_text(encoding="utf-8")
        .replace("description: 2 cores", f"description: '{IMAGE_LINK} **bold** 2 cores")
        .replace("exhaustive-search tests", "exhaustive-search tests'")
    )
    at = page("1_hardware.py")
    at.session_state["hardware_base_text"] = text
    at.session_state["hardware_base_label"] = "upload evil.yaml"
    at.run()
    assert not at.exception and not at.error, error_text(at)
    assert any(IMAGE_LINK in plain(element.value) for element in at.caption)  # as its characters
    assert not any("![" in source for source in _markdown_sources(at))  # never as Markdown


def test_markdown_in_names_and_yaml_keys_is_escaped() -> None:
    name = "[click](http://127.0.0.1:9/x) ![i](http://127.0.0.1:9/i.png)"
    workload = (
        f"workload:\n  name: '{name}'\n  layers:\n    - {{name: '{name}', P: 4, C: 4, K: 4}}\n"
    )
    at = page("2_workload.py")
    at.session_state["workload"] = WorkloadSpec(YAML, workload, "evil.yaml")
    at.session_state["wl_source"] = "Upload ONNX / YAML"  # nothing uploaded: keeps the workload
    at.run()
    assert not at.exception
    assert name in plain(at.subheader[0].value)
    assert not any("![" in source or "](" in source for source in _markdown_sources(at))
    broken = "hardware:\n  name: x\n  '![k](http://127.0.0.1:9/k.png)': 1\n"
    at = page("1_hardware.py").run()
    at.text_area(key="hw_yaml").set_value(broken).run()
    assert not at.exception
    assert "![k](http://127.0.0.1:9/k.png)" in error_text(at)
    assert not any("![" in source for source in _markdown_sources(at))


def test_optimize_caption_names_the_moved_axis_and_csv_names_the_variant() -> None:
    at = seed_tiny(AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=TIMEOUT))
    at.switch_page("pages/1_hardware.py").run()
    at.slider(key="hw_cores").set_value(3).run()
    assert any("cores 2 → 3" in plain(element.value) for element in at.caption)
    at.switch_page("pages/3_optimize.py").run()
    at.selectbox(key="opt_mapper").set_value("ws").run()
    at.button(key="run_optimize").click().run()
    run_until_charts(at, 8)
    assert not at.exception and not at.error, error_text(at)
    hardware = next(plain(c.value) for c in at.caption if c.value.startswith("Hardware: "))
    assert "tiny[cores=3]" in hardware and "cores 2 → 3" in hardware and "#" in hardware
    digest = hardware.rsplit("#", 1)[1].split()[0].rstrip(",.")
    for chart in at.get("plotly_chart"):  # every figure names the design it shows
        assert f"tiny[cores=3] #{digest}" in chart.proto.spec, chart.proto.id
    csv = next(b for b in at.get("download_button") if b.key == "download_layers_csv")
    assert csv.proto.label == "Download per-layer CSV"
    # Back to the sample's value: the caption says so, with the sample's own hash.
    at.switch_page("pages/1_hardware.py").run()
    at.slider(key="hw_cores").set_value(2).run()
    assert any("as loaded from sample tiny.yaml" in plain(c.value) for c in at.caption)


def test_settings_come_back_from_the_url() -> None:
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update(
        {"objective": "edp", "mapper": "ws", "sample": "tiny.yaml", "cores": "3",
         "workload": "file:tiny_layers.yaml", "simulate": "off", "clock_mhz": "500"}
    )  # fmt: skip
    at.run()
    assert not at.exception
    assert at.session_state["opt_objective"] == "edp"
    assert at.session_state["opt_mapper"] == "ws"
    assert at.session_state["hardware_axes"]["cores"] == 3
    assert at.session_state["workload"].label == "tiny_layers.yaml"
    assert "tiny[cores=3]" in " ".join(plain(c.value) for c in at.sidebar.caption)
    at.switch_page("pages/3_optimize.py").run()
    assert at.selectbox(key="opt_objective").value == "edp"
    at.selectbox(key="opt_objective").set_value("energy").run()
    assert at.query_params["objective"] == ["energy"] or at.query_params["objective"] == "energy"
    assert at.query_params["cores"] in ("3", ["3"])
    assert at.checkbox(key="opt_simulate").value is False
    assert at.number_input(key="opt_clock_mhz").value == 500.0
    at.number_input(key="opt_clock_mhz").set_value(750.0).run()
    assert at.query_params["clock_mhz"] in ("750", ["750"])
    assert at.query_params["simulate"] in ("off", ["off"])


def test_sidebar_says_when_the_design_cannot_be_carried_by_the_link() -> None:
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("pages/1_hardware.py").run()
    sidebar = lambda: " ".join(plain(c.value) for c in at.sidebar.caption)  # noqa: E731
    assert "not in the page's link" not in sidebar()  # a sample: the URL names it
    edited = at.text_area(key="hw_yaml").value.replace("cores: 8", "cores: 6")
    at.text_area(key="hw_yaml").set_value(edited).run()
    assert not at.exception
    assert "not in the page's link" in sidebar()
    assert "sample" not in at.query_params


def test_a_sweep_comes_back_from_the_url() -> None:
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update({"sample": "tiny.yaml", "sweep": "ping_pong:off, on;cores:1:2:1"})
    at.run()
    assert not at.exception
    at.switch_page("pages/5_design_space.py").run()
    assert at.multiselect(key="sweep_axes").value == ["ping_pong", "cores"]
    assert at.text_input(key="sweep_values_cores").value == "1:2:1"
    assert "4 design points." in [c.value for c in at.caption]
    at.text_input(key="sweep_values_cores").set_value("1, 2, 4").run()
    assert at.query_params["sweep"] in ("ping_pong:off, on;cores:1, 2, 4",
                                        ["ping_pong:off, on;cores:1, 2, 4"])  # fmt: skip
    bad = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=TIMEOUT)
    bad.query_params.update({"sweep": "warp:1;cores:2"})
    bad.run()
    bad.switch_page("pages/1_hardware.py").run()
    assert "sweep were not understood" in " ".join(plain(w.value) for w in bad.warning)


def test_bad_url_settings_are_skipped_with_a_notice() -> None:
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update({"objective": "speed", "sample": "tiny.yaml", "cores": "many",
                            "simulate": "maybe", "clock_mhz": "-5"})  # fmt: skip
    at.run()
    assert not at.exception
    at.switch_page("pages/1_hardware.py").run()
    assert "objective, simulate, clock_mhz, cores" in " ".join(plain(w.value) for w in at.warning)
    assert at.slider(key="hw_cores").value == 2


def test_reset_to_sample_discards_moves() -> None:
    at = page("1_hardware.py").run()
    original = at.text_area(key="hw_yaml").value
    at.slider(key="hw_cores").set_value(16).run()
    assert at.text_area(key="hw_yaml").value != original
    at.button(key="reset_sample").click().run()
    assert at.text_area(key="hw_yaml").value == original
    assert at.slider(key="hw_cores").value == 8


def test_downloaded_variant_yaml_keeps_comments_and_names_the_change() -> None:
    base = TINY_HARDWARE.read_text(encoding="utf-8")
    hardware = load_hardware(TINY_HARDWARE)
    same = state.Design(base, hardware, "sample tiny.yaml", ())
    assert state.variant_yaml(base, same) == base  # unchanged: the file itself, comments and all
    variant = apply_variant(hardware, "cores", 4)
    design = state.Design(dump_hardware(variant), variant, "sample tiny.yaml", (("cores", 2, 4),))
    text = state.variant_yaml(base, design)
    assert text.startswith("# A deliberately small accelerator")
    assert f"# variant of sample tiny.yaml: cores 2 → 4 (hash {design.hash})" in text
    reloaded = parse_hardware(text, source="download")
    assert reloaded.cores == 4 and "cores 2 → 4" in reloaded.description


def test_workload_upload_is_kept_when_leaving_its_source() -> None:
    at = page("2_workload.py").run()
    at.radio(key="wl_source").set_value("Upload ONNX / YAML").run()
    at.file_uploader(key="upload_workload").set_value(
        ("small.onnx", _onnx_model(), "application/octet-stream")
    )
    at.run()
    assert list(at.dataframe[0].value["Layer"]) == ["conv", "fc"]
    at.radio(key="wl_source").set_value("Built-in network").run()
    assert at.dataframe[0].value["Layer"].iloc[0] == "Conv_0"
    at.radio(key="wl_source").set_value("Upload ONNX / YAML").run()
    assert not at.exception
    assert list(at.dataframe[0].value["Layer"]) == ["conv", "fc"]
    assert any("earlier upload small.onnx" in t.value for t in at.text)


def test_custom_layer_error_is_next_to_the_form_and_dims_are_explained() -> None:
    at = page("2_workload.py").run()
    at.radio(key="wl_source").set_value("Custom layer").run()
    assert at.number_input(key="wl_layer_C").help == "input channels (per group)"
    at.number_input(key="wl_layer_K").set_value(0)
    at.button(key="add_layer").click().run()
    assert "This layer cannot be added" in error_text(at)
    assert "K must be a positive integer" in error_text(at)
    assert any("R filter height" in plain(c.value) for c in at.caption)


def test_grouped_convolutions_label_channels_per_group() -> None:
    at = page("2_workload.py").run()
    at.selectbox(key="wl_builtin").set_value("mobilenet_v2").run()
    assert not at.exception
    assert {"C per group", "K per group"} <= set(at.dataframe[0].value.columns)


def test_compare_three_runs() -> None:
    at = seed_tiny(page("4_compare.py"))
    at.session_state["cmp_three"] = True
    at.session_state["cmp_b_hardware"] = "tiny.yaml"
    at.session_state["cmp_b_objective"] = "energy"
    at.session_state["cmp_c_objective"] = "edp"
    at.run()
    at.button(key="run_compare").click().run()
    run_until_charts(at, 4)
    assert not at.exception and not at.error, error_text(at)
    totals = at.dataframe[0].value
    assert {"B / A", "C / A"} <= set(totals.columns)
    diff = at.dataframe[1].value
    assert {"A", "B", "C", "level", "dim"} <= set(diff.columns)
    at.radio(key="cmp_metric").set_value("edp").run()
    assert not at.exception
    assert '"text":"EDP normalized to A (' in at.get("plotly_chart")[0].proto.spec
    at.selectbox(key="cmp_layer").set_value("matmul").run()
    assert not at.exception
    nests = [c.proto.spec for c in at.get("plotly_chart") if "chart_nest_" in c.proto.id]
    assert len(nests) == 3 and all(": matmul" in spec for spec in nests)


def test_design_space_defaults_to_mip_and_asks_only_for_the_button() -> None:
    at = seed_tiny(page("5_design_space.py")).run()
    assert not at.exception
    assert at.selectbox(key="sweep_mapper").value == "mip"
    assert [i.value for i in at.info] == [
        "Press **Run sweep** to map the workload on every design point."
    ]


def _panel_script() -> None:
    """A progress panel over a job that never ends on its own (stands in for a long solve)."""
    import streamlit as st

    from ui import widgets

    class SlowJob:
        label = "mapping"

        def __init__(self) -> None:
            self.flags = st.session_state.setdefault("job_flags", {"cancel": False})

        def done(self) -> bool:
            return False

        def progress(self) -> tuple[int, int, str]:
            return 1, 4, "conv1"

        def cancel(self) -> None:
            self.flags["cancel"] = True

        def cancel_requested(self) -> bool:
            return self.flags["cancel"]

        def estimate(self, done: int, total: int) -> tuple[float, float | None]:
            return 12.0, 30.0

    def stopped() -> None:
        st.session_state["stopped"] = True

    widgets.progress_panel([SlowJob()], "cancel_job", stopped, points=8)


def test_cancel_answers_at_once_with_cancelling() -> None:
    at = AppTest.from_function(_panel_script, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert plain(at.get("progress")[0].proto.text) == (
        "mapping: 1/4 layers (≈ 2 of 8 points), 12 s elapsed, about 30 s left (last: conv1)"
    )
    assert not at.info
    at.button(key="cancel_job").click().run()
    assert [plain(i.value) for i in at.info] == [widgets.CANCELLING]
    assert at.session_state["stopped"] and at.session_state["job_flags"]["cancel"]
    at.run()  # still running: the panel keeps saying so, and offers no second Cancel
    assert [plain(i.value) for i in at.info] == [widgets.CANCELLING]
    assert not [b for b in at.button if b.key == "cancel_job"]


def test_optimize_shows_the_change_from_the_previous_design() -> None:
    at = seed_tiny(page("3_optimize.py")).run()
    at.selectbox(key="opt_mapper").set_value("ws").run()
    at.button(key="run_optimize").click().run()
    run_until_charts(at, 8)
    assert all(metric.delta in (None, "") for metric in at.metric)  # nothing to compare with
    axes = dict(at.session_state["hardware_axes"])
    axes["cores"] = 1  # as a sweep point or a slider would set it
    at.session_state["hardware_axes"] = axes
    at.run()
    run_until_charts(at, 8)
    assert not at.exception and not at.error, error_text(at)
    deltas = {metric.label: metric.delta for metric in at.metric}
    assert deltas["Network latency"].startswith("+")  # one core instead of two: slower
    assert "%" in deltas["Area"] and deltas["Area"].startswith("-")
    notes = [plain(c.value) for c in at.caption]
    assert any(
        n.startswith("Changes are against the previous design: tiny (as loaded") for n in notes
    )
    assert any(n.startswith("Hardware: tiny[cores=1] (cores 2 → 1") for n in notes)


def _live_script() -> None:
    """The Optimize page's live panel over a mapper job that does not end on its own."""
    from pathlib import Path

    import streamlit as st

    from miredo_core import ResultStore
    from miredo_core.config import parse_hardware
    from ui import live, state
    from ui.jobs import YAML, RunRequest, WorkloadSpec

    root = Path(state.REPO_ROOT)
    text = (root / "sample_configs" / "hardware" / "tiny.yaml").read_text(encoding="utf-8")
    workload = (root / "sample_configs/workloads/tiny_layers.yaml").read_text(encoding="utf-8")
    options = (("preset", "interactive"), ("solver", "highs"))
    request = RunRequest(text, WorkloadSpec(YAML, workload, "tiny"), "mip", "latency",
                         options=options)  # fmt: skip
    design = state.Design(text, parse_hardware(text), "sample tiny.yaml", ())

    class SlowJob:
        label = "mapping"

        def __init__(self) -> None:
            self.flags = st.session_state.setdefault("job_flags", {"cancel": False})

        def done(self) -> bool:
            return False

        def progress(self) -> tuple[int, int, str]:
            with ResultStore(request.store_path) as store:  # one answer per layer solved
                return len(store), 5, "conv3x3 solved"

        def cancel(self) -> None:
            self.flags["cancel"] = True

        def cancel_requested(self) -> bool:
            return self.flags["cancel"]

        def estimate(self, done: int, total: int) -> tuple[float, float | None]:
            return 12.0, 30.0

    state.init()
    live.live_panel([SlowJob()], design, request, lambda: None)


def test_live_panel_shows_a_complete_provisional_answer_then_refines_it(
    result_store_path: Path,
) -> None:
    at = AppTest.from_function(_live_script, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert plain(at.info[0].value).startswith("Provisional answer: 0 of 5 layers final")
    assert len(at.get("plotly_chart")) == 1 and len(at.metric) == 7
    table = at.dataframe[0].value
    assert list(table["Answer"]) == ["provisional: weight-stationary (this design)"] * 5
    assert "mapping: 0/5 layers" in plain(at.get("progress")[0].proto.text)

    # The worker stores each answer as it is solved; the next poll shows it as final.
    hardware, network = load_hardware(TINY_HARDWARE), load_workload(TINY_WORKLOAD)
    first = type(network)(network.name, network.layers[:1])
    options = jobs.solve_options((("preset", "interactive"), ("solver", "highs")))
    with ResultStore(result_store_path) as store:
        map_network(hardware, first, "latency", "mip", options, store=store)
    at.run()
    assert not at.exception, at.exception
    assert plain(at.info[0].value).startswith("Provisional answer: 1 of 5 layers final")
    assert list(at.dataframe[0].value["Answer"])[0] == "final"

    at.button(key="cancel_optimize").click().run()
    assert widgets.CANCELLING in [plain(i.value) for i in at.info]
    assert at.session_state["job_flags"]["cancel"]
    assert len(at.get("plotly_chart")) == 1  # the answer stays on the page while cancelling


def test_progress_text_gives_points_elapsed_and_time_left() -> None:
    from concurrent.futures import Future

    from ui import cached

    status = {"done": 0, "total": 40, "layer": "", "cancel": False}
    job = cached.Job("key", "sweep", Future(), status, started_s=time.monotonic() - 12)
    fraction, text = widgets.progress_text(job, points=4)
    assert fraction == 0 and text.startswith("sweep: 0/40 layers (≈ 0 of 4 points), 12 s")
    assert text.endswith("estimating the time left")
    status.update(done=10, layer="Conv_1 solved")  # a lump of answers from the store
    assert "estimating the time left" in widgets.progress_text(job, points=4)[1]
    # From the first progress on: 10 more layers in 5 s, so 20 left take about 10 s.
    job.first_progress = (time.monotonic() - 5, 10)
    status.update(done=20)
    fraction, text = widgets.progress_text(job, points=4)
    assert fraction == 0.5 and "(≈ 2 of 4 points)" in text
    assert "about 10 s left (last: Conv_1 solved)" in text


def test_a_cancelled_run_keeps_its_layers_and_fills_the_rest_provisionally() -> None:
    """The Optimize page over a run cancelled after three of its five layers."""
    from concurrent.futures import Future

    from ui import cached

    text = TINY_HARDWARE.read_text(encoding="utf-8")
    workload = WorkloadSpec(YAML, TINY_WORKLOAD.read_text(encoding="utf-8"), "tiny_layers.yaml")
    hardware, network = load_hardware(TINY_HARDWARE), load_workload(TINY_WORKLOAD)
    options = (("preset", "interactive"), ("solver", "highs"))
    request = RunRequest(cached.canonical_hardware_text(text), workload, "mip", "latency",
                         True, options)  # fmt: skip
    solved = map_network(hardware, network, "latency", "mip", jobs.solve_options(options))
    cancelled = [
        dataclasses.replace(r, status="cancelled", mapping=None, cost=None)
        for r in solved.layer_results[3:]
    ]
    partial = dataclasses.replace(solved, layer_results=(*solved.layer_results[:3], *cancelled))
    baseline = map_network(hardware, network, "latency", "ws")
    store = cached.job_store()
    for run, result, cancel in ((request, partial, True),
                                (state.baseline_request(request), baseline, False)):  # fmt: skip
        future: Future = Future()
        future.set_result(result)
        status = {"done": 5, "total": 5, "layer": "", "cancel": cancel}
        store._jobs[cached.run_key(run)] = cached.Job(
            cached.run_key(run), "mapping", future, status
        )
    at = seed_tiny(page("3_optimize.py")).run()
    assert not at.exception, at.exception
    assert [plain(w.value) for w in at.warning][0].startswith(
        "Cancelled: 3 layers keep their answer (solved, or stopped with the best mapping so "
        "far); 2 not reached show their provisional mapping"
    )
    metrics = {metric.label: metric.value for metric in at.metric}
    assert re.fullmatch(r"\d+(\.\d+)? kcycles", metrics["Network latency"])  # complete totals
    statuses = list(at.dataframe[0].value["Status"])
    assert statuses[3:] == ["cancelled", "cancelled"] and "cancelled" not in statuses[:3]
