"""Reports: CSV and JSON downloads and a self-contained HTML report of the last results."""

from __future__ import annotations

import streamlit as st

from ui import frames, report, state, views
from ui.text import escape_markdown

views.page(
    "Reports",
    "Downloads of this session's last Optimize run and last sweep. The HTML report is one "
    "offline file with interactive figures, the hardware YAML, the loop nests and the bound "
    "cards; every CSV row names its hardware variant (with a short hash) and workload.",
)
run = state.recall(state.LAST_RUN)
sweep = state.recall(state.LAST_SWEEP)
if run is None and sweep is None:
    st.info("Nothing to report yet: run **Optimize** or a **Design space** sweep first.")
    st.stop()

sections = []
if run is not None:
    result, request, design = run["result"], run["request"], run.get("design")
    st.subheader(escape_markdown(f"Optimize: {result.network_name} on {result.hardware_name}"))
    if design is not None:
        views.identity("Hardware", design.label)
    views.identity("Workload", request.workload.label)
    st.caption(escape_markdown(f"mapper {request.mapper}, objective {request.objective}"))
    identity = state.identity_columns(design, request) if design is not None else {}
    tag = f"_{design.hash}" if design is not None else ""
    columns = st.columns(3)
    columns[0].download_button(
        "Per-layer table (CSV)", data=frames.export_frame(result, identity).to_csv(index=False),
        file_name=f"layers{tag}.csv", mime="text/csv", key="download_report_layers",
        on_click="ignore",
    )  # fmt: skip
    summary = result.summary_frame().assign(**identity)
    columns[1].download_button(
        "Network summary (CSV)", data=summary.to_csv(index=False),
        file_name=f"summary{tag}.csv", mime="text/csv", key="download_summary", on_click="ignore",
    )  # fmt: skip
    columns[2].download_button(
        "Mappings (JSON)", data=result.to_json(identity=identity), file_name=f"mappings{tag}.json",
        mime="application/json", key="download_json", on_click="ignore",
    )  # fmt: skip
    context = None
    if design is not None:
        context = report.RunContext(
            design.label, design.hardware, state.download_yaml(design), request.workload.label
        )
    sections += report.run_sections(result, run["baseline"], request.objective, context)
if sweep is not None:
    points = sweep["points"]
    st.subheader(f"Sweep: {len(points)} design points")
    sweep_design, sweep_request = sweep.get("design"), sweep.get("request")
    identity, tag, subtitle = {}, "", ""
    if sweep_design is not None and sweep_request is not None:
        views.identity("Sweeping around", sweep_design.label)
        identity = state.sweep_identity_columns(sweep_design, sweep_request)
        tag = f"_{sweep_design.hash}"
        subtitle = state.sweep_subtitle(sweep_design, sweep_request)
    st.download_button(
        "Sweep points (CSV)", data=points.assign(**identity).to_csv(index=False),
        file_name=f"sweep{tag}.csv", mime="text/csv", key="download_sweep", on_click="ignore",
    )  # fmt: skip
    sections += report.sweep_sections(points, sweep["axes"], sweep["front"], subtitle)

st.subheader("HTML report")
st.download_button(
    "Report with figures (HTML, offline)",
    data=lambda: report.html_report("MIREDO Studio report", sections),
    file_name="miredo_report.html", mime="text/html", key="download_html", on_click="ignore",
)  # fmt: skip
