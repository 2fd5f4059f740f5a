"""Hardware: edit the accelerator with sliders or YAML, both kept in sync."""

from __future__ import annotations

import streamlit as st

from miredo_core import ConfigError
from ui import state, url, views, widgets
from ui.text import escape_markdown

views.page(
    "Hardware",
    "Start from a sample or an uploaded YAML, then move the inputs or edit the YAML: each "
    "follows the other, and every problem is shown next to the place it concerns.",
    notice=st.warning,
)
widgets.hardware_source()

design, config_error = None, None
try:
    design = state.current_design()
except ConfigError as error:
    config_error = error
except ValueError:
    pass  # an axis value the library rejects: shown next to that input below
url.follow()

form, editor = st.columns([3, 2], gap="large")
with form:
    if design is not None:
        views.hardware_figures(design.hardware, design.label)
    widgets.hardware_form(config_error, state.variant_problems())
with editor:
    widgets.yaml_editor()
    if config_error is not None:
        st.error(
            "The hardware YAML has problems:\n\n"
            + "\n".join(
                f"- {escape_markdown(item.path)}: {escape_markdown(item.message)}"
                for item in config_error.items
            )
        )
    st.download_button(
        "Download YAML",
        data=state.download_yaml(design) if design else "",
        file_name=f"{design.hardware.name if design else 'hardware'}.yaml",
        mime="application/yaml",
        key="download_yaml",
        disabled=design is None,
        on_click="ignore",
    )
