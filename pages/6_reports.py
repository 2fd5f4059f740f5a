"""Reports: CSV and JSON downloads and a self-contained HTML report of the last results."""

from __future__ import annotations

import streamlit as st

from ui import report, state

state.init()
st.title("Reports")
st.caption(
    "Downloads of this session's last Optimize run and last sweep. The HTML report is one "
    "offline file with interactive figures."
)
run = state.recall(state.LAST_RUN)
sweep = state.recall(state.LAST_SWEEP)
if run is None and sweep is None:
    st.info("Nothing to report yet: run **Optimize** or a **Design space** sweep first.")
    st.stop()

sections = []
if run is not None:
    result, request = run["result"], run["request"]
    st.subheader(f"Optimize: {result.network_name} on {result.hardware_name}")
    st.caption(f"mapper {request.mapper}, objective {request.objective}")
    columns = st.columns(3)
    columns[0].download_button(
        "Per-layer table (CSV)", data=result.to_frame().to_csv(index=False),
        file_name="layers.csv", mime="text/csv", key="download_report_layers", on_click="ignore",
    )  # fmt: skip
    columns[1].download_button(
        "Network summary (CSV)", data=result.summary_frame().to_csv(index=False),
        file_name="summary.csv", mime="text/csv", key="download_summary", on_click="ignore",
    )  # fmt: skip
    columns[2].download_button(
        "Mappings (JSON)", data=result.to_json(), file_name="mappings.json",
        mime="application/json", key="download_json", on_click="ignore",
    )  # fmt: skip
    sections += report.run_sections(result, run["baseline"], request.objective)
if sweep is not None:
    points = sweep["points"]
    st.subheader(f"Sweep: {len(points)} design points")
    st.download_button(
        "Sweep points (CSV)", data=points.to_csv(index=False), file_name="sweep.csv",
        mime="text/csv", key="download_sweep", on_click="ignore",
    )  # fmt: skip
    sections += report.sweep_sections(points, sweep["axes"], sweep["front"])

st.subheader("HTML report")
st.download_button(
    "Report with figures (HTML, offline)",
    data=lambda: report.html_report("MIREDO Studio report", sections),
    file_name="miredo_report.html", mime="text/html", key="download_html", on_click="ignore",
)  # fmt: skip
