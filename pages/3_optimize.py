"""Optimize: map every layer of the workload on the current hardware and inspect the result."""

from __future__ import annotations

import streamlit as st

from ui import cached, charts, frames, state, widgets

state.init()
st.title("Optimize")
st.caption(
    "Map every layer with the chosen mapper and objective. Results are cached by hardware, "
    "workload, objective, mapper and preset: going back to an earlier design is instant, and "
    "a layer solved before, in any session, comes from the result store."
)
settings = widgets.run_settings("opt_")
state.default("opt_simulate", True)
simulate = st.checkbox("Check every mapping with the event simulator", key="opt_simulate")
if st.button("Optimize", key="run_optimize", type="primary"):
    state.remember(state.OPTIMIZE_ACTIVE, True)
try:
    request = state.run_request(settings, simulate)
except ValueError as error:  # ConfigError included: the YAML or an axis value is invalid
    st.error(f"The hardware is not valid; fix it on the Hardware page.\n\n{error}")
    st.stop()
st.caption(f"Workload: **{request.workload.label}**; hardware: {state.recall(state.BASE_LABEL)}")

runs = [(request, "mapping"), (state.baseline_request(request), "weight-stationary baseline")]
jobs = cached.run_jobs(runs, start=bool(state.recall(state.OPTIMIZE_ACTIVE)))
if jobs is None:
    st.info("Press **Optimize** to map the workload with these settings.")
    st.stop()
state.track_jobs("optimize", jobs)
if not all(job.done() for job in jobs):
    widgets.progress_panel(jobs, "cancel_optimize", lambda: state.stop(state.OPTIMIZE_ACTIVE))
    st.stop()
outcomes = widgets.show_outcomes(jobs)
result, baseline = outcomes[0], outcomes[-1]
if result is None:
    st.stop()
state.remember(state.LAST_RUN, {"request": request, "result": result, "baseline": baseline})
if jobs[0].cancel_requested():
    st.warning("Cancelled: layers not solved yet are marked 'cancelled'. Press Optimize to rerun.")

widgets.result_metrics(result)
frame = result.to_frame()
table = frames.optimize_table(result, baseline, request.objective)
widgets.results_table(table)
st.download_button(
    "Download per-layer CSV", data=frame.to_csv(index=False), file_name="layers.csv",
    mime="text/csv", key="download_layers_csv", on_click="ignore",
)  # fmt: skip

st.plotly_chart(charts.latency_breakdown(frame), key="chart_latency")
st.plotly_chart(charts.energy_breakdown(frames.energy_frame(result)), key="chart_energy")

names = [layer_result.layer.name for layer_result in result.layer_results]
state.default("opt_layer", names[0])
if st.session_state["opt_layer"] not in names:
    st.session_state["opt_layer"] = names[0]
name = st.selectbox("Layer to inspect", names, key="opt_layer")
chosen = result.layer_results[names.index(name)]
left, right = st.columns(2)
if chosen.mapping is None:
    left.warning(f"{name} is infeasible: {chosen.reason}")
else:
    left.plotly_chart(charts.loop_nest(chosen.mapping, f"Loop nest of {name}"), key="chart_nest")
    left.caption(
        "Double-buffered: " + (", ".join(frames.double_buffered_labels(chosen.mapping)) or "none")
    )
right.plotly_chart(
    charts.energy_breakdown(frames.energy_frame(result, name), f"Energy of {name}"),
    key="chart_layer_energy",
)
if simulate:
    st.plotly_chart(charts.predicted_vs_simulated(frame), key="chart_fidelity")
