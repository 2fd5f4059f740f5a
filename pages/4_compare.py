"""Compare: two or three runs side by side (mapper, objective or hardware A vs B vs C)."""

from __future__ import annotations

import streamlit as st

from ui import cached, charts, frames, state, views, widgets

views.page(
    "Compare",
    "Run the current workload two or three times (different mappers, objectives or hardware) "
    "and read B and C against A per layer and for the whole network, on a log scale (below 1: "
    "better than A), with the absolute values beside the ratios.",
)
state.default("cmp_three", False)
three = st.toggle("Compare three runs (A, B, C)", key="cmp_three")
defaults = [("A", widgets.CURRENT_HARDWARE, "latency"), ("B", "transformer_16core.yaml", "latency")]
if three:
    defaults.append(("C", widgets.CURRENT_HARDWARE, "energy"))
columns = st.columns(len(defaults), gap="large")
sides = []
for column, (name, hardware, objective) in zip(columns, defaults, strict=True):
    with column:
        sides.append(widgets.compare_side(f"cmp_{name.lower()}_", name, hardware, objective))
if st.button("Compare", key="run_compare", type="primary"):
    state.remember("compare_active", True)
try:
    runs = [
        (state.run_request(side, False, side["hardware_text"]), side["label"]) for side in sides
    ]
except ValueError as error:  # ConfigError included: the current hardware is invalid
    widgets.error_message("The current hardware is not valid; fix it on the Hardware page.", error)
    st.stop()

jobs = cached.run_jobs(runs, start=bool(state.recall("compare_active")))
if jobs is None:
    st.info("Press **Compare** to run every side.")
    st.stop()
state.track_jobs("compare", jobs)
if not all(job.done() for job in jobs):
    widgets.progress_panel(jobs, "cancel_compare", lambda: state.stop("compare_active"))
    st.stop()
by_request = dict(zip(dict.fromkeys(request for request, _ in runs), jobs, strict=True))
outcomes = dict(zip(by_request, widgets.show_outcomes(list(by_request.values())), strict=True))
results = [(label, outcomes[request]) for request, label in runs]
if any(result is None for _, result in results):
    st.stop()
state.remember(state.LAST_COMPARE, {"runs": results})

comparison = frames.compare_frame(results)
views.compare_totals(comparison)
state.default("cmp_metric", "latency")
metric = st.radio(
    "Per-layer figure", list(frames.OBJECTIVE_COLUMNS), key="cmp_metric", horizontal=True
)
st.plotly_chart(charts.compare_bars(comparison, metric), key="chart_compare")

names = [layer_result.layer.name for layer_result in results[0][1].layer_results]
state.default("cmp_layer", names[0])
if st.session_state["cmp_layer"] not in names:
    st.session_state["cmp_layer"] = names[0]
name = st.selectbox("Loop nests of layer", names, key="cmp_layer")
mappings = [
    (
        label.split(" ", 1)[0],
        next((r.mapping for r in res.layer_results if r.layer.name == name), None),
    )
    for label, res in results
]
side_labels = dict(zip((tag for tag, _ in mappings), (label for label, _ in results), strict=True))
diff = frames.loop_nest_diff(mappings)
st.caption(
    f"{int(diff['differs'].sum())} of {len(diff)} places differ: loop factors aligned by "
    "operand, memory level and dim (spatial: by axis and dim); 1 = no loop there."
)
st.dataframe(diff, hide_index=True, width="stretch", height=frames.table_height(len(diff)))
nest_columns = st.columns(len(mappings))
for column, (label, mapping) in zip(nest_columns, mappings, strict=True):
    if mapping is not None:
        column.plotly_chart(
            charts.loop_nest(mapping, f"{label}: {name}", side_labels[label]),
            key=f"chart_nest_{label}",
        )
