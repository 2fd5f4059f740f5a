"""MIREDO Studio: the Streamlit entry point. Navigation and the landing page; no computation."""

from __future__ import annotations

import streamlit as st

from miredo_core import NETWORK_NAMES
from ui import cached, state, url
from ui.text import escape_markdown

PAGES_DIR = "pages"


def landing() -> None:
    st.title("MIREDO Studio")
    st.write(
        "MIREDO Studio finds, for every layer of a DNN, the dataflow that runs it fastest (or "
        "with the least energy or energy-delay product) on a multi-core SRAM "
        "computing-in-memory accelerator: how the layer is spread over cores and macro rows and "
        "columns, how it is tiled at every memory level, in which loop order, and which buffers "
        "hold which operand. Every latency, energy and area figure comes from one analytical "
        "cost model, checked against an iteration-level simulator."
    )
    st.markdown(
        "1. **Hardware**: pick a sample accelerator, move the sliders or edit its YAML.\n"
        "2. **Workload**: a built-in network, an ONNX / YAML upload or your own layers.\n"
        "3. **Optimize**: map every layer and read the latency, energy and loop-nest views.\n"
        "4. **Compare** two runs, explore the **Design space**, download **Reports**."
    )
    st.subheader("Sample hardware configurations")
    st.markdown("\n".join(f"- {escape_markdown(name)}" for name in state.sample_hardware()))
    st.subheader("Built-in networks")
    st.markdown("\n".join(f"- {escape_markdown(name)}" for name in NETWORK_NAMES))


st.set_page_config(page_title="MIREDO Studio", layout="wide")
state.init()
url.restore()
# Start the solver worker processes now, so the first Optimize does not wait for them.
cached.job_store()
cached.warm_up_server()
navigation = st.navigation(
    [
        st.Page(landing, title="Home", icon=":material/home:", default=True),
        st.Page(f"{PAGES_DIR}/1_hardware.py", title="Hardware", icon=":material/memory:"),
        st.Page(f"{PAGES_DIR}/2_workload.py", title="Workload", icon=":material/layers:"),
        st.Page(f"{PAGES_DIR}/3_optimize.py", title="Optimize", icon=":material/speed:"),
        st.Page(f"{PAGES_DIR}/4_compare.py", title="Compare", icon=":material/compare:"),
        st.Page(
            f"{PAGES_DIR}/5_design_space.py", title="Design space", icon=":material/scatter_plot:"
        ),
        st.Page(f"{PAGES_DIR}/6_reports.py", title="Reports", icon=":material/download:"),
    ]
)
# The design and workload are shown in a slot that a page fills again after changing them.
st.session_state[url.SIDEBAR_SLOT] = st.sidebar.empty()
url.follow()
navigation.run()
