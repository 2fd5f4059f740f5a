"""Optimize: map every layer of the workload on the current hardware and inspect the result."""

from __future__ import annotations

import streamlit as st

from ui import cached, charts, explain, frames, live, state, url, views, widgets
from ui.text import escape_markdown

views.page(
    "Optimize",
    "Map every layer with the chosen mapper and objective. Results are cached by hardware, "
    "workload, objective, mapper and preset: going back to an earlier design is instant, and "
    "a layer solved before, in any session, comes from the result store.",
)
settings = widgets.run_settings("opt_")
left, right = st.columns(2)
state.default("opt_simulate", True)
simulate = left.checkbox("Check every mapping with the event simulator", key="opt_simulate")
state.default("opt_clock_mhz", views.DEFAULT_CLOCK_MHZ)
clock_mhz = right.number_input(
    "Clock (MHz), for TOPS/mm² and inferences/s", min_value=1.0, step=50.0, key="opt_clock_mhz"
)
if st.button("Optimize", key="run_optimize", type="primary"):
    state.remember(state.OPTIMIZE_ACTIVE, True)
try:
    design = state.current_design()
    request = state.run_request(settings, simulate)
except ValueError as error:  # ConfigError included: the YAML or an axis value is invalid
    widgets.error_message("The hardware is not valid; fix it on the Hardware page.", error)
    st.stop()
url.follow()
views.identity("Hardware", design.label)
views.identity("Workload", request.workload.label)

runs = [(request, "mapping"), (state.baseline_request(request), "weight-stationary baseline")]
jobs = cached.run_jobs(runs, start=bool(state.recall(state.OPTIMIZE_ACTIVE)))
if jobs is None:
    st.info("Press **Optimize** to map the workload with these settings.")
    st.stop()
state.track_jobs("optimize", jobs)
if not all(job.done() for job in jobs):
    live.live_panel(jobs, design, request, lambda: state.stop(state.OPTIMIZE_ACTIVE))
    st.stop()
outcomes = widgets.show_outcomes(jobs)
result, baseline = outcomes[0], outcomes[-1]
if result is None:
    st.stop()
shown, flags = result, None
if jobs[0].cancel_requested():
    answer = live.with_provisional_gaps(result, request, state.known_designs(design))
    shown, flags = answer.result, [source != live.FINAL_SOURCE for source in answer.sources]
    st.warning(
        f"Cancelled: {len(flags) - sum(flags)} layers keep their answer (solved, or stopped "
        f"with the best mapping so far); {sum(flags)} not reached show their provisional "
        "mapping in the totals and the latency chart. Press Optimize to finish the run."
    )
previous = state.record_run(request, result, baseline, design)
if previous is not None:
    views.previous_note(previous["design"].label)
    old = (previous["result"], previous["design"].hardware.area_mm2)
    views.result_metrics(shown, design.hardware.area_mm2, old)
else:
    views.result_metrics(shown, design.hardware.area_mm2)
figures = explain.efficiency(result, design.hardware.area_mm2, clock_mhz)
views.efficiency_metrics(figures, clock_mhz)
views.fidelity_warning(result)
table = frames.optimize_table(result, baseline, request.objective)
views.human_dataframe(table, "table_layers", request.objective)
views.gap_note(table)
export = frames.export_frame(result, state.identity_columns(design, request))
st.download_button(
    "Download per-layer CSV", data=export.to_csv(index=False),
    file_name=f"layers_{design.hash}.csv", mime="text/csv", key="download_layers_csv",
    on_click="ignore",
)  # fmt: skip

frame = result.to_frame()
subtitle = f"{design.hardware.name} #{design.hash}, {request.workload.label}"
st.plotly_chart(charts.latency_breakdown(shown.to_frame(), subtitle, flags), key="chart_latency")
st.plotly_chart(
    charts.energy_breakdown(frames.energy_frame(result), subtitle=subtitle), key="chart_energy"
)
roofline = explain.roofline_frame(design.hardware, result)
st.plotly_chart(
    charts.roofline(roofline, design.hardware.dram.read_bw_bits_per_cycle, subtitle),
    key="chart_roofline",
)

names = [layer_result.layer.name for layer_result in result.layer_results]
state.default("opt_layer", names[0])
if st.session_state["opt_layer"] not in names:
    st.session_state["opt_layer"] = names[0]
name = st.selectbox("Layer to inspect", names, key="opt_layer")
views.layer_details(design.hardware, result, name, "chart_layer", subtitle)
if simulate:
    st.plotly_chart(charts.predicted_vs_simulated(frame, subtitle), key="chart_fidelity")
st.caption(escape_markdown(f"All figures: {design.label}, {request.workload.label}."))
