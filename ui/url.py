"""Settings in the page's URL, so a browser reload (or a shared link) keeps them.

The query string holds the Optimize settings (objective, mapper, preset, solver, the simulator
check and the clock), the Design space's axes and values, the workload
(a built-in network or a sample workload file), the sample hardware and every axis moved away
from it, e.g. `?objective=edp&mapper=mip&sample=default_8core.yaml&cores=4&workload=builtin:
resnet18`. A new session reads it once (`restore`); every run writes the current values back
(`publish`). An upload or hand-edited YAML cannot be put into a URL: then the hardware is left
out, and a reload starts from the default sample.
"""

from __future__ import annotations

import math
from typing import Any

import streamlit as st

from miredo_core import MAPPERS, NETWORK_NAMES, OBJECTIVES, PRESETS, SOLVERS
from ui import state
from ui.axes import AXIS_SPECS, SLIDER, TOGGLE
from ui.jobs import BUILTIN, YAML, WorkloadSpec
from ui.text import escape_markdown

#: URL parameter -> (widget key, the values it may take).
SETTINGS = {
    "objective": ("opt_objective", tuple(OBJECTIVES)),
    "mapper": ("opt_mapper", tuple(MAPPERS)),
    "preset": ("opt_preset", tuple(PRESETS)),
    "solver": ("opt_solver", tuple(SOLVERS)),
}
#: URL parameter -> widget key of an on/off setting of the Optimize page.
TOGGLES = {"simulate": "opt_simulate"}
#: URL parameter -> (widget key, smallest value) of a number setting of the Optimize page.
NUMBERS = {"clock_mhz": ("opt_clock_mhz", 1.0)}
#: URL parameter of the Design space's axes and their value lists, as typed:
#: `sweep=cores:4, 8, 16;gb_kib:64:512:*2` (at most three axes).
SWEEP = "sweep"
SWEEP_AXES = "sweep_axes"
MAX_SWEEP_AXES = 3
RESTORED = "url_restored"
SAMPLE_PREFIX = "sample "
BUILTIN_PREFIX = "builtin:"
FILE_PREFIX = "file:"
#: The workload page's source names (ui.widgets.WORKLOAD_SOURCES[0] and [1]).
BUILTIN_SOURCE = "Built-in network"
FILE_SOURCE = "Sample workload file"


def _axis_value(axis: str, text: str) -> Any:
    """An axis value from its URL text; raises ValueError."""
    spec = AXIS_SPECS[axis]
    if spec.widget == TOGGLE:
        if text not in ("on", "off"):
            raise ValueError(f"{axis} must be on or off")
        return text == "on"
    number = float(text)
    if spec.widget == SLIDER or number.is_integer():
        if not number.is_integer():
            raise ValueError(f"{axis} must be a whole number")
        return int(number)
    return number


def _url_text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def restore() -> None:
    """Apply the URL's settings to a new session (once; later runs leave the session alone).
    A value the dashboard does not offer is skipped with a notice naming it."""
    session = st.session_state
    if session.get(RESTORED):
        return
    session[RESTORED] = True
    params = st.query_params
    skipped = []
    for name, (key, choices) in SETTINGS.items():
        if name in params:
            if params[name] in choices:
                session[key] = params[name]
            else:
                skipped.append(name)
    _restore_options(params, skipped)
    _restore_sweep(params.get(SWEEP), skipped)
    sample = params.get("sample")
    if sample in state.sample_hardware():
        session["hw_sample"] = sample
        path = state.sample_hardware()[sample]
        state.set_base_text(path.read_text(encoding="utf-8"), SAMPLE_PREFIX + sample)
        stored = state.axes()
        for axis in AXIS_SPECS:
            if axis in params:
                try:
                    stored[axis] = _axis_value(axis, params[axis])
                except ValueError:
                    skipped.append(axis)
        session[state.AXES] = stored
    elif sample is not None:
        skipped.append("sample")
    _restore_workload(params.get("workload"), skipped)
    if skipped:
        state.notice("The link's settings " + ", ".join(skipped) + " were not understood.")


def _restore_options(params, skipped: list[str]) -> None:
    """The on/off and number settings (TOGGLES, NUMBERS) the URL names, each checked."""
    session = st.session_state
    for name, key in TOGGLES.items():
        if name in params:
            if params[name] in ("on", "off"):
                session[key] = params[name] == "on"
            else:
                skipped.append(name)
    for name, (key, smallest) in NUMBERS.items():
        if name in params:
            try:
                number = float(params[name])
            except ValueError:
                number = math.nan
            if math.isfinite(number) and number >= smallest:
                session[key] = number
            else:
                skipped.append(name)


def sweep_values_key(axis: str) -> str:
    return f"sweep_values_{axis}"


def _restore_sweep(value: str | None, skipped: list[str]) -> None:
    """The Design space's axes and value texts (the page parses the values and shows any
    error next to its input); an unknown axis, a repeated one or more than three skip it all."""
    if value is None:
        return
    parts = [part.split(":", 1) for part in value.split(";") if part]
    names = [part[0].strip() for part in parts]
    if (
        not parts
        or any(len(part) != 2 for part in parts)
        or len(parts) > MAX_SWEEP_AXES
        or len(set(names)) != len(names)
        or any(name not in AXIS_SPECS for name in names)
    ):
        skipped.append(SWEEP)
        return
    session = st.session_state
    session[SWEEP_AXES] = names
    for name, (_, values) in zip(names, parts, strict=True):
        session[sweep_values_key(name)] = values.strip()


def _restore_workload(value: str | None, skipped: list[str]) -> None:
    if value is None:
        return
    session = st.session_state
    if value.startswith(BUILTIN_PREFIX):
        name = value.removeprefix(BUILTIN_PREFIX)
        if name in NETWORK_NAMES:
            session["wl_source"], session["wl_builtin"] = BUILTIN_SOURCE, name
            state.set_workload(WorkloadSpec(BUILTIN, name, name))
            return
    if value.startswith(FILE_PREFIX):
        name = value.removeprefix(FILE_PREFIX)
        if name in state.sample_workloads():
            session["wl_source"], session["wl_sample"] = FILE_SOURCE, name
            state.set_workload(state.sample_workload_spec(name))
            return
    skipped.append("workload")


def current_params() -> dict[str, str]:
    """What the URL should say about this session now."""
    session = st.session_state
    params = {name: session[key] for name, (key, _) in SETTINGS.items() if key in session}
    params.update({name: _url_text(bool(session[key])) for name, key in TOGGLES.items()
                   if key in session})  # fmt: skip
    # Numbers keep every digit the user typed (15 significant digits round-trip a float).
    params.update({name: f"{float(session[key]):.15g}" for name, (key, _) in NUMBERS.items()
                   if key in session})  # fmt: skip
    label = str(session.get(state.BASE_LABEL, ""))
    if label.startswith(SAMPLE_PREFIX):
        params["sample"] = label.removeprefix(SAMPLE_PREFIX)
        design = state.design_or_none()
        for axis, _, value in design.changes if design is not None else ():
            params[axis] = _url_text(value)
    if session.get(SWEEP_AXES):
        params[SWEEP] = ";".join(
            f"{axis}:{session.get(sweep_values_key(axis), '')}" for axis in session[SWEEP_AXES]
        )
    spec = state.workload()
    if spec.kind == BUILTIN:
        params["workload"] = BUILTIN_PREFIX + spec.value
    elif spec.kind == YAML and spec.label in state.sample_workloads():
        if state.sample_workload_spec(spec.label) == spec:
            params["workload"] = FILE_PREFIX + spec.label
    return {name: str(value) for name, value in params.items()}


def publish() -> None:
    """Write the session's settings into the URL. Written on every run: a page switch clears
    the browser's query string while the server still holds the old parameters, so comparing
    with them would leave the URL empty."""
    st.query_params.from_dict(current_params())


SIDEBAR_SLOT = "sidebar_slot"
#: Said under the design when it came from an upload or edited YAML, which no URL can carry.
NOT_IN_URL = (
    "This design's YAML is not in the page's link: a reload or a shared link starts from the "
    "default sample. Download the YAML on the Hardware page to keep it."
)


def follow() -> None:
    """Show the session's current design and workload in the sidebar slot that app.py made
    (none when a page runs on its own) and in the URL. A page calls it again after it changed
    either, so the sidebar never lags a run behind an upload or a slider move."""
    slot = st.session_state.get(SIDEBAR_SLOT)
    if slot is not None:
        design = state.design_or_none()
        with slot.container():
            hardware = design.label if design else "invalid (see the Hardware page)"
            st.caption("Hardware: " + escape_markdown(hardware))
            if not str(st.session_state.get(state.BASE_LABEL, SAMPLE_PREFIX)).startswith(
                SAMPLE_PREFIX
            ):
                st.caption(NOT_IN_URL)
            st.caption("Workload: " + escape_markdown(state.workload().label))
    publish()
