"""Hardware: edit the accelerator with sliders or YAML, both kept in sync."""

from __future__ import annotations

import streamlit as st

from miredo_core import ConfigError
from ui import cached, state, widgets

state.init()
st.title("Hardware")
st.caption(
    "Start from a sample or an uploaded YAML, then move the inputs or edit the YAML: each "
    "follows the other, and every problem is shown next to the place it concerns."
)
if message := state.notice():
    st.warning(message)
widgets.hardware_source()

text, hardware, config_error = None, None, None
try:
    text = state.current_hardware_text()
    hardware = cached.hardware_from_text(text)
except ConfigError as error:
    config_error = error
except ValueError:
    pass  # an axis value the library rejects: shown next to that input below

form, editor = st.columns([3, 2], gap="large")
with form:
    if hardware is not None:
        widgets.hardware_figures(hardware)
    widgets.hardware_form(config_error, state.variant_problems())
with editor:
    widgets.yaml_editor()
    if config_error is not None:
        st.error(
            "The hardware YAML has problems:\n\n"
            + "\n".join(f"- `{item.path}`: {item.message}" for item in config_error.items)
        )
    st.download_button(
        "Download YAML",
        data=text or "",
        file_name=f"{hardware.name if hardware else 'hardware'}.yaml",
        mime="application/yaml",
        key="download_yaml",
        disabled=text is None,
        on_click="ignore",
    )
