"""Workload: a built-in network, a sample file, an ONNX / YAML upload or custom layers."""

from __future__ import annotations

import streamlit as st

from miredo_core import ConfigError, WorkloadError
from ui import cached, frames, state, url, views, widgets
from ui.text import escape_markdown, format_si

views.page(
    "Workload",
    "Choose what to map. ONNX models are read for their shapes only (never executed); "
    "operators that are not Conv, Gemm or MatMul are listed as skipped.",
    notice=st.error,
)

choice = widgets.workload_picker(widgets.workload_source())
if choice is not None:
    state.set_workload(choice)
spec = state.workload()
url.follow()

try:
    network = cached.load_network(spec.kind, spec.value, spec.label)
except (ConfigError, WorkloadError) as error:
    widgets.error_message(f"{escape_markdown(spec.label)} cannot be loaded:", error)
    st.stop()

st.subheader(escape_markdown(f"{network.name} ({spec.label})"))
columns = st.columns(3)
columns[0].metric("Layers", len(network.layers))
columns[1].metric("MACs", format_si(network.macs, "MAC"), help=f"{network.macs:,} MACs")
columns[2].metric("Distinct layer shapes", len({layer.shape_key() for layer in network.layers}))
st.caption(
    "Each layer is a loop nest over " + "; ".join(f"{d} {t}" for d, t in widgets.DIM_HELP.items())
)
table = frames.layer_frame(network)
st.dataframe(table, hide_index=True, width="stretch", height=frames.table_height(len(table)))
if network.skipped:
    st.subheader(f"Skipped operators ({len(network.skipped)})")
    st.caption("Not mapped, each with its reason; every network total excludes them.")
    st.dataframe(frames.skipped_frame(network), hide_index=True, width="stretch")
