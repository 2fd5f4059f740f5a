"""Design space: sweep 1-3 hardware axes and look at the latency / energy Pareto front."""

from __future__ import annotations

import streamlit as st

from ui import cached, charts, frames, state, url, views, widgets
from ui.jobs import SweepRequest

views.page(
    "Design space",
    "Every combination of the axis values is applied to the current hardware and the workload "
    "is mapped on it. Answers are kept in the result store: a repeated or overlapping sweep "
    "solves only what is new. Hover a point for its configuration; select one to open it in "
    "Optimize.",
)
axes = widgets.sweep_axes_input()
settings = widgets.run_settings("sweep_", mapper="mip")
if st.button("Run sweep", key="run_sweep", type="primary", disabled=not axes):
    state.remember("sweep_active", True)
try:
    design = state.current_design()
except ValueError as error:  # ConfigError included
    widgets.error_message("The current hardware is not valid; fix it on the Hardware page.", error)
    st.stop()
hardware_text = design.text
url.follow()
views.identity("Sweeping around", design.label)
views.identity("Workload", state.workload().label)
request = SweepRequest(
    hardware_text=hardware_text, workload=state.workload(), mapper=settings["mapper"],
    objective=settings["objective"], axes=tuple(axes), options=settings["options"],
)  # fmt: skip
try:
    size = cached.sweep_size(request) if axes else 0
except ValueError as error:  # an axis value the hardware cannot take, or a bad workload
    widgets.error_message("This sweep cannot run:", error)
    st.stop()
st.caption(f"{size} design points.")

starting = bool(state.recall("sweep_active")) and bool(axes)
job = cached.start_sweep(request) if starting else cached.find_sweep(request)
if job is None:
    if axes:
        st.info("Press **Run sweep** to map the workload on every design point.")
    else:
        st.info("Choose 1-3 axes and their values, then press **Run sweep**.")
    st.stop()
state.track_jobs("sweep", [job])
if not job.done():
    widgets.progress_panel([job], "cancel_sweep", lambda: state.stop("sweep_active"), size)
    st.stop()
(outcome,) = widgets.show_outcomes([job])
if outcome is None or outcome.points.empty:
    st.stop()
widgets.sweep_stats(outcome.stats, outcome.store_path)
names = [name for name, _ in axes]

left, right = st.columns(2)
with left:
    front = widgets.pareto_columns_input()
state.default("sweep_color", "area_mm2")
color = right.selectbox("Colour by", ["area_mm2", *names], key="sweep_color")
points = frames.mark_pareto(state.name_points(outcome.points, names), front)
state.remember(
    state.LAST_SWEEP,
    {"points": points, "axes": names, "front": front, "design": design, "request": request},
)
subtitle = state.sweep_subtitle(design, request)
figure = charts.sweep_scatter(points, color, names, front, subtitle)
event = st.plotly_chart(figure, key="chart_sweep", on_select="rerun", selection_mode="points")
selected = [p["customdata"] for p in event.selection.points if "customdata" in p]
if selected:
    state.open_design_point({name: points.at[int(selected[0]), name] for name in names})
    st.switch_page("pages/3_optimize.py")
if len(names) >= 2:
    st.plotly_chart(charts.parallel_axes(points, names, color, subtitle), key="chart_parallel")

views.human_dataframe(points, "table_sweep")
labels = [", ".join(f"{n}={row[n]}" for n in names) for _, row in points.iterrows()]
if st.session_state.get("sweep_point", 0) >= len(labels):
    st.session_state["sweep_point"] = 0
index = st.selectbox("Point", range(len(labels)), format_func=labels.__getitem__, key="sweep_point")
if st.button("Open in Optimize", key="open_point"):
    state.open_design_point({name: points.at[index, name] for name in names})
    st.switch_page("pages/3_optimize.py")
