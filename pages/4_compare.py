"""Compare: two runs side by side (mapper, objective or hardware A vs B)."""

from __future__ import annotations

import streamlit as st

from ui import cached, charts, frames, state, widgets

state.init()
st.title("Compare")
st.caption(
    "Run the current workload twice (different mappers, objectives or hardware) and read B "
    "normalized to A per layer and for the whole network; below 1 means B is better."
)
left, right = st.columns(2, gap="large")
with left:
    side_a = widgets.compare_side("cmp_a_", "A", widgets.CURRENT_HARDWARE, "latency")
with right:
    side_b = widgets.compare_side("cmp_b_", "B", "transformer_16core.yaml", "latency")
if st.button("Compare", key="run_compare", type="primary"):
    state.remember("compare_active", True)
try:
    runs = [
        (state.run_request(side, False, side["hardware_text"]), side["label"])
        for side in (side_a, side_b)
    ]
except ValueError as error:  # ConfigError included: the current hardware is invalid
    st.error(f"The current hardware is not valid; fix it on the Hardware page.\n\n{error}")
    st.stop()

jobs = cached.run_jobs(runs, start=bool(state.recall("compare_active")))
if jobs is None:
    st.info("Press **Compare** to run both sides.")
    st.stop()
state.track_jobs("compare", jobs)
if not all(job.done() for job in jobs):
    widgets.progress_panel(jobs, "cancel_compare", lambda: state.stop("compare_active"))
    st.stop()
outcomes = widgets.show_outcomes(jobs)
result_a, result_b = outcomes[0], outcomes[-1]
if result_a is None or result_b is None:
    st.stop()
label_a, label_b = runs[0][1], runs[1][1]
state.remember(state.LAST_COMPARE, {"a": result_a, "b": result_b, "labels": (label_a, label_b)})

ratios = frames.compare_frame(result_a, result_b)
st.plotly_chart(charts.compare_bars(ratios, label_a, label_b), key="chart_compare")
totals = ratios[ratios["layer"] == "network total"].set_index("metric")["ratio_b_over_a"]
columns = st.columns(3)
for column, (metric, value) in zip(columns, totals.items(), strict=False):
    column.metric(f"Network {charts.METRIC_LABELS[metric]}, B / A", f"{value:.3f}")

names = [layer_result.layer.name for layer_result in result_a.layer_results]
state.default("cmp_layer", names[0])
if st.session_state["cmp_layer"] not in names:
    st.session_state["cmp_layer"] = names[0]
name = st.selectbox("Loop nests of layer", names, key="cmp_layer")
mapping_a = result_a.layer_results[names.index(name)].mapping
mapping_b = next((r.mapping for r in result_b.layer_results if r.layer.name == name), None)
diff = frames.loop_nest_diff(mapping_a, mapping_b)
st.caption(f"{int(diff['differs'].sum())} of {len(diff)} rows differ (spatial rows included).")
st.dataframe(diff, hide_index=True, width="stretch")
left, right = st.columns(2)
if mapping_a is not None:
    left.plotly_chart(charts.loop_nest(mapping_a, f"A: {name}"), key="chart_nest_a")
if mapping_b is not None:
    right.plotly_chart(charts.loop_nest(mapping_b, f"B: {name}"), key="chart_nest_b")
