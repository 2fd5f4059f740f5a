"""Session state of the dashboard: the hardware being edited, the workload, the last results.

The hardware is a *base* YAML text (a sample, an upload, or what was typed in the editor) plus
the values of the form's axes; the current hardware is the base with every axis that differs
from it applied through `miredo_core.variants`, so moving a slider back gives back exactly the
base text (and its cached results). Widget values are copied into plain keys, because
Streamlit drops the state of widgets that a run does not draw (another page's widgets).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from miredo_core import ConfigError, Hardware, apply_variant, dump_hardware, hardware_key
from ui import cached
from ui.axes import AXIS_SPECS, read_axes
from ui.jobs import BUILTIN, YAML, RunRequest, SweepRequest, WorkloadSpec

REPO_ROOT = Path(__file__).resolve().parent.parent
HARDWARE_DIR = REPO_ROOT / "sample_configs" / "hardware"
WORKLOAD_DIR = REPO_ROOT / "sample_configs" / "workloads"
DEFAULT_HARDWARE = "default_8core.yaml"
DEFAULT_WORKLOAD = WorkloadSpec(BUILTIN, "resnet18", "resnet18")

BASE_TEXT = "hardware_base_text"
BASE_LABEL = "hardware_base_label"
AXES = "hardware_axes"
YAML_EDITOR = "hw_yaml"
WORKLOAD = "workload"
CUSTOM_LAYERS = "custom_layers"
OPTIMIZE_ACTIVE = "optimize_active"
NOTICE = "notice"
LAST_RUN = "last_run"
PREVIOUS_RUN = "previous_run"
LAST_SWEEP = "last_sweep"
LAST_COMPARE = "last_compare"


def axis_key(axis: str) -> str:
    """The widget key of a hardware axis."""
    return f"hw_{axis}"


def sample_hardware() -> dict[str, Path]:
    return {path.name: path for path in sorted(HARDWARE_DIR.glob("*.yaml"))}


def sample_workloads() -> dict[str, Path]:
    return {path.name: path for path in sorted(WORKLOAD_DIR.glob("*.yaml"))}


#: Widget keys with these prefixes keep their values when the user visits another page
#: (trigger widgets - buttons, uploads, downloads, chart selections - never use them).
KEPT_PREFIXES = ("hw_", "wl_", "opt_", "cmp_", "sweep_")


def init() -> None:
    """Defaults for a new session and kept widget values (every page calls this first; it is
    idempotent)."""
    state = st.session_state
    for key in list(state.keys()):
        # Re-assigning detaches the value from its widget, so Streamlit does not drop it when
        # the widget's page is not drawn.
        if isinstance(key, str) and key.startswith(KEPT_PREFIXES):
            state[key] = state[key]
    if BASE_TEXT not in state:
        path = sample_hardware()[DEFAULT_HARDWARE]
        set_base_text(path.read_text(encoding="utf-8"), f"sample {path.name}")
    if AXES not in state:  # a base text set without its axes (a test, a restored session)
        try:
            state[AXES] = read_axes(cached.hardware_from_text(state[BASE_TEXT]))
        except ConfigError:
            path = sample_hardware()[DEFAULT_HARDWARE]
            state[AXES] = read_axes(cached.hardware_from_text(path.read_text(encoding="utf-8")))
    state.setdefault(WORKLOAD, DEFAULT_WORKLOAD)
    state.setdefault(CUSTOM_LAYERS, [])
    state.setdefault(OPTIMIZE_ACTIVE, False)


# ---------------------------------------------------------------- hardware
def set_base_text(text: str, label: str) -> None:
    """Start from new YAML text: the form's axes follow it when it parses."""
    state = st.session_state
    state[BASE_TEXT] = text
    state[BASE_LABEL] = label
    state[YAML_EDITOR] = text
    try:
        axes = read_axes(cached.hardware_from_text(text))
    except ConfigError:
        return  # the form keeps its values; the page lists the problems
    state[AXES] = axes
    for axis, value in axes.items():
        state[axis_key(axis)] = value


def default(key: str, value: Any) -> None:
    """A widget's first value (widgets never get value=, so state and widget cannot clash)."""
    st.session_state.setdefault(key, value)


def axes() -> dict[str, Any]:
    return dict(st.session_state.get(AXES, {}))


def seed_hardware_widgets() -> None:
    """Give the form's widgets the stored values before they are drawn. The stored axes are the
    one hardware state of the session (callbacks write the widgets' moves into it before the
    page runs), so the widgets are set from it, never the other way round: a sweep point, a
    restored URL or a sample switch cannot leave a widget showing another design."""
    state = st.session_state
    for axis, value in axes().items():
        state[axis_key(axis)] = value
    state[YAML_EDITOR] = current_text_or_base()


def on_axis_change(axis: str) -> None:
    """Widget callback: store the new value and show the new hardware in the YAML editor."""
    state = st.session_state
    stored = axes()
    stored[axis] = state[axis_key(axis)]
    state[AXES] = stored
    state[YAML_EDITOR] = current_text_or_base()


def on_yaml_edit() -> None:
    set_base_text(st.session_state[YAML_EDITOR], "edited YAML")


def current_hardware_text() -> str:
    """The current hardware YAML; raises ConfigError (base) or ValueError (an axis value)."""
    state = st.session_state
    return cached.hardware_variant_text(state[BASE_TEXT], tuple(sorted(axes().items())))


@dataclass(frozen=True)
class Design:
    """The hardware the session is working on, named so that every result can say which it is.

    `text` is the canonical YAML (the library's dump) that runs are keyed by; `changes` lists
    (axis, value in the base, value now) for every axis moved away from the base hardware (the
    sample, upload or edited YAML it started from, `source`)."""

    text: str
    hardware: Hardware
    source: str
    changes: tuple[tuple[str, Any, Any], ...]

    @property
    def hash(self) -> str:
        """The library's `hardware_key` of the canonical YAML: the key the dashboard's jobs use
        too, so a label, a CSV and a cached result of one design carry one hash."""
        return hardware_key(self.text)

    @property
    def changes_text(self) -> str:
        """ "cores 8 → 4, gb_kib 256 → 128", or "as loaded" when nothing moved."""
        if not self.changes:
            return "as loaded"
        return ", ".join(f"{axis} {_plain(old)} → {_plain(new)}" for axis, old, new in self.changes)

    @property
    def label(self) -> str:
        """Plain text (escape it before placing it in Markdown)."""
        return f"{self.hardware.name} ({self.changes_text} from {self.source}) #{self.hash}"


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def current_design() -> Design:
    """The session's hardware, from the base text and the stored axes (nothing else): raises
    ConfigError (the base YAML) or ValueError (an axis value the hardware cannot take)."""
    state = st.session_state
    base = cached.hardware_from_text(state[BASE_TEXT])
    before = read_axes(base)
    text = cached.canonical_hardware_text(current_hardware_text())
    changes = tuple(
        (axis, before[axis], value)
        for axis, value in sorted(axes().items())
        if axis in before and before[axis] != value
    )
    return Design(text, cached.hardware_from_text(text), state[BASE_LABEL], changes)


def name_points(points: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """A sweep's points with the `hardware` name and `hardware_hash` of the design each opens
    in Optimize (`open_design_point`: the session's base text with its stored axes, the point's
    values in their place), which is how every other page names it: a sweep around a moved
    design that comes back to the sample's value is the sample, whatever the sweep called it."""
    named = points.copy()
    base = st.session_state[BASE_TEXT]
    labels = []
    for _, row in points.iterrows():
        moved = point_axes({name: row[name] for name in names})
        labels.append(cached.variant_name_and_key(base, tuple(sorted(moved.items()))))
    named["hardware"] = [name for name, _ in labels]
    named["hardware_hash"] = [key for _, key in labels]
    return named


def point_axes(point: dict[str, Any]) -> dict[str, Any]:
    """The session's stored axes with a sweep point's values in their place (frame cells as
    the plain Python values the axes hold: numpy scalars unwrapped)."""
    native = {axis: value.item() if hasattr(value, "item") else value
              for axis, value in point.items()}  # fmt: skip
    return {**axes(), **native}


def download_yaml(design: Design) -> str:
    """The YAML a user downloads: the base text itself (comments and all) when no axis moved;
    otherwise the base file's leading comments, a line naming the variant, and the variant
    with its description saying what changed."""
    return variant_yaml(st.session_state[BASE_TEXT], design)


def variant_yaml(base: str, design: Design) -> str:
    """`download_yaml` of a given base text."""
    if not design.changes:
        return base
    header = []
    for line in base.splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    note = f"variant of {design.source}: {design.changes_text}"
    description = f"{design.hardware.description} ({note})".strip()
    hardware = replace(design.hardware, description=description)
    lines = [*header, f"# {note} (hash {design.hash})", dump_hardware(hardware)]
    return "\n".join(lines)


def design_or_none() -> Design | None:
    try:
        return current_design()
    except ValueError:  # ConfigError included
        return None


def current_text_or_base() -> str:
    try:
        return current_hardware_text()
    except ValueError:  # ConfigError is a ValueError too
        return st.session_state[BASE_TEXT]


def variant_problems() -> dict[str, str]:
    """Per axis, why its value cannot be applied to the base hardware (empty if it can)."""
    try:
        base = cached.hardware_from_text(st.session_state[BASE_TEXT])
    except ConfigError:
        return {}
    current = read_axes(base)
    problems = {}
    for axis, value in axes().items():
        if axis in AXIS_SPECS and current.get(axis) != value:
            try:
                apply_variant(base, axis, value)
            except ValueError as error:
                problems[axis] = str(error)
    return problems


# ---------------------------------------------------------------- workload
def workload() -> WorkloadSpec:
    return st.session_state[WORKLOAD]


def set_workload(spec: WorkloadSpec) -> None:
    st.session_state[WORKLOAD] = spec


def sample_workload_spec(name: str) -> WorkloadSpec:
    text = sample_workloads()[name].read_text(encoding="utf-8")
    return WorkloadSpec(YAML, text, name)


# ---------------------------------------------------------------- runs and results
def run_request(settings: dict, simulate: bool, hardware_text: str | None = None) -> RunRequest:
    """A run of the current workload; raises ConfigError / ValueError for bad hardware."""
    text = hardware_text if hardware_text is not None else current_design().text
    return RunRequest(
        hardware_text=cached.canonical_hardware_text(text),
        workload=workload(),
        mapper=settings["mapper"],
        objective=settings["objective"],
        simulate=simulate,
        options=settings["options"],
    )


def identity_columns(design: Design, request: RunRequest | SweepRequest) -> dict[str, str]:
    """The columns every exported row carries, so a file names its design and settings."""
    options = dict(request.options)
    return {
        "hardware_variant": design.label,
        "hardware_hash": design.hash,
        "workload": request.workload.label,
        "preset": options.get("preset", ""),
        "solver": options.get("solver", ""),
    }


def sweep_identity_columns(design: Design, request: SweepRequest) -> dict[str, str]:
    """The columns every exported sweep row carries besides its own point's `hardware` and
    `hardware_hash`: the design the sweep started from, the workload and the settings."""
    identity = identity_columns(design, request)
    return {
        "base_hardware_variant": identity.pop("hardware_variant"),
        "base_hardware_hash": identity.pop("hardware_hash"),
        "mapper": request.mapper,
        "objective": request.objective,
        **identity,
    }


def sweep_subtitle(design: Design, request: SweepRequest) -> str:
    """What a sweep's figures name under their titles: its base design and workload."""
    return f"around {design.label}, {request.workload.label}"


def baseline_request(request: RunRequest) -> RunRequest:
    """The weight-stationary run that the `ratio to WS` column divides by."""
    return replace(request, mapper="ws", options=())


def open_design_point(point: dict[str, Any]) -> None:
    """Set the hardware form to a sweep point and ask the Optimize page to run it."""
    stored = point_axes(point)
    st.session_state[AXES] = stored
    for axis in point:
        st.session_state[axis_key(axis)] = stored[axis]
    st.session_state[YAML_EDITOR] = current_text_or_base()
    st.session_state[OPTIMIZE_ACTIVE] = True


def notice(message: str = "") -> str:
    """Set a one-shot message for the next run, or pop it when called without one."""
    if message:
        st.session_state[NOTICE] = message
        return message
    return st.session_state.pop(NOTICE, "")


def remember(key: str, value: Any) -> None:
    st.session_state[key] = value


def recall(key: str) -> Any:
    return st.session_state.get(key)


def track_jobs(page: str, jobs: list) -> None:
    """Cancel this session's unfinished jobs of `page` that its new inputs no longer need, so
    quick slider moves do not queue up stale solves."""
    key = f"jobs_{page}"
    keep = {id(job.future) for job in jobs}
    for job in st.session_state.get(key, []):
        if id(job.future) not in keep and not job.done():
            job.cancel()
    st.session_state[key] = list(jobs)


def stop(flag: str) -> None:
    """Cancel callback: the page stops following its inputs until its run button is pressed."""
    st.session_state[flag] = False


def record_run(request: RunRequest, result: Any, baseline: Any, design: Design) -> dict | None:
    """Keep a finished Optimize run as the last one; the run it replaces becomes the previous
    design when it was another design. Returns the previous design's run to compare with (same
    workload, objective and mapper), or None."""
    state = st.session_state
    last = state.get(LAST_RUN)
    run = {"request": request, "result": result, "baseline": baseline, "design": design}
    if last is not None and last.get("design") is not None and last["design"].hash != design.hash:
        state[PREVIOUS_RUN] = last
    state[LAST_RUN] = run
    previous = state.get(PREVIOUS_RUN)
    if previous is None or previous["design"].hash == design.hash:
        return None
    return previous if _same_run(previous["request"], request) else None


def _same_run(earlier: RunRequest, request: RunRequest) -> bool:
    return (earlier.workload, earlier.objective, earlier.mapper) == (
        request.workload, request.objective, request.mapper,
    )  # fmt: skip


def comparable_run(request: RunRequest, design: Design) -> dict | None:
    """The latest finished run of another design with the same workload, objective and mapper
    (what a new answer is compared with), or None."""
    for key in (LAST_RUN, PREVIOUS_RUN):
        run = st.session_state.get(key)
        if run is None or run.get("design") is None or run["design"].hash == design.hash:
            continue
        return run if _same_run(run["request"], request) else None
    return None


def known_designs(design: Design) -> tuple[str, ...]:
    """Canonical texts of the other designs this session worked on (its base hardware, its
    last runs), whose stored answers can seed a provisional answer of `design`."""
    texts = []
    try:
        texts.append(cached.canonical_hardware_text(st.session_state[BASE_TEXT]))
    except ValueError:  # ConfigError: an unparsable base has no answers
        pass
    for key in (LAST_RUN, PREVIOUS_RUN):
        run = st.session_state.get(key)
        if run is not None and run.get("design") is not None:
            texts.append(run["design"].text)
    return tuple(dict.fromkeys(text for text in texts if text != design.text))
