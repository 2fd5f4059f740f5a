"""MIREDO Studio: the Streamlit entry point. Only places things; all work lives in miredo_core."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from miredo_core.zoo import NETWORK_NAMES

SAMPLE_HARDWARE_DIR = Path(__file__).resolve().parent / "sample_configs" / "hardware"

st.set_page_config(page_title="MIREDO Studio", layout="wide")
st.title("MIREDO Studio")
st.write(
    "MIREDO Studio finds, for every layer of a DNN, the dataflow that runs it fastest (or with "
    "the least energy or energy-delay product) on a multi-core SRAM computing-in-memory "
    "accelerator: how the layer is spread over cores and macro rows and columns, how it is tiled "
    "at every memory level, in which loop order, and which buffers hold which operand. It "
    "solves a mixed-integer program over that mapping space, reports latency, energy and area "
    "from one analytical cost model, and checks the model against an iteration-level simulator."
)

st.subheader("Sample hardware configurations")
hardware_files = sorted(SAMPLE_HARDWARE_DIR.glob("*.yaml"))
if hardware_files:
    st.markdown("\n".join(f"- `sample_configs/hardware/{path.name}`" for path in hardware_files))
else:
    st.info("No sample hardware configurations found under sample_configs/hardware.")

st.subheader("Built-in networks")
st.markdown("\n".join(f"- `{name}`" for name in NETWORK_NAMES))
