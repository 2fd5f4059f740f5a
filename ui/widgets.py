"""Input widgets and the progress panel. Every widget has an explicit key; hardware widgets
write through `ui.state` callbacks so the form, the YAML editor and the stored state agree."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from miredo_core import (
    MAPPERS,
    NETWORK_NAMES,
    OBJECTIVES,
    PARETO_COLUMNS,
    PRESETS,
    SOLVERS,
    ConfigError,
    SweepStats,
    WorkloadError,
    parse_axis_values,
)
from ui import cached, state, url
from ui.axes import AXIS_SPECS, NUMBER, SLIDER, matches
from ui.cached import Job
from ui.jobs import BUILTIN, DEFAULT_PRESET, POLL_SECONDS, YAML, WorkloadSpec, option_names
from ui.text import escape_markdown


def run_settings(
    prefix: str, label: str = "", mapper: str | None = None, narrow: bool = False
) -> dict:
    """Objective, mapper, preset and solver selectors; returns the chosen values, with the
    options the mapper does not accept left out of `options`. `mapper` is the first choice
    (else the library's first mapper); `narrow` lays them out two per row."""
    if mapper in MAPPERS:
        state.default(f"{prefix}mapper", mapper)
    columns = [*st.columns(2), *st.columns(2)] if narrow else st.columns(4)
    objective = columns[0].selectbox(f"{label}Objective", OBJECTIVES, key=f"{prefix}objective")
    mapper = columns[1].selectbox(f"{label}Mapper", tuple(MAPPERS), key=f"{prefix}mapper")
    accepted = option_names(mapper)
    state.default(f"{prefix}preset", DEFAULT_PRESET)
    preset = columns[2].selectbox(
        f"{label}Quality preset", tuple(PRESETS), key=f"{prefix}preset",
        disabled="preset" not in accepted,
        help="interactive: seconds per layer; balanced: a longer search; thorough: proves each "
        "mapping within 1 % of the optimum (or finds the better one), up to minutes per layer",
    )  # fmt: skip
    solver = columns[3].selectbox(
        f"{label}Solver", tuple(SOLVERS), key=f"{prefix}solver",
        disabled="solver" not in accepted,
    )  # fmt: skip
    if not accepted:
        columns[2].caption("available with the MIP mapper")
        columns[3].caption("available with the MIP mapper")
    chosen = {"preset": preset, "solver": solver}
    options = tuple(sorted((name, chosen[name]) for name in accepted))
    return {"objective": objective, "mapper": mapper, "options": options}


# ---------------------------------------------------------------- hardware form
def _load_sample() -> None:
    name = st.session_state["hw_sample"]
    path = state.sample_hardware()[name]
    state.set_base_text(path.read_text(encoding="utf-8"), f"sample {name}")


def _load_upload() -> None:
    upload = st.session_state.get("upload_hardware")
    if upload is None:
        return
    try:
        text = upload.getvalue().decode("utf-8")
    except UnicodeDecodeError:
        state.notice(f"{upload.name} is not UTF-8 text; upload a YAML file")
        return
    state.set_base_text(text, f"upload {upload.name}")


def hardware_source() -> None:
    """Sample selector and YAML upload; either replaces the base hardware."""
    samples = list(state.sample_hardware())
    left, right = st.columns(2)
    state.default("hw_sample", state.DEFAULT_HARDWARE)
    left.selectbox("Start from a sample", samples, key="hw_sample", on_change=_load_sample)
    left.button(
        "Reset to this sample", key="reset_sample", on_click=_load_sample,
        help="Discard every slider move and YAML edit and start again from the sample.",
    )  # fmt: skip
    right.file_uploader(
        "…or upload a hardware YAML", type=["yaml", "yml"], key="upload_hardware",
        on_change=_load_upload, max_upload_size=1,
    )  # fmt: skip


def hardware_form(config_error: ConfigError | None, problems: dict[str, str]) -> None:
    """One input per variant axis; under each, the ConfigError items and variant problems
    that concern what it edits."""
    state.seed_hardware_widgets()
    columns = st.columns(2)
    for index, (axis, spec) in enumerate(AXIS_SPECS.items()):
        column = columns[index % 2]
        key = state.axis_key(axis)
        callback = {"on_change": state.on_axis_change, "args": (axis,)}
        if spec.widget == SLIDER:
            top = max(spec.slider_max, int(st.session_state[key]))
            column.slider(spec.label, 1, top, key=key, **callback)
        elif spec.widget == NUMBER:
            column.number_input(spec.label, step=1.0, format="%g", key=key, **callback)
        else:
            column.toggle(spec.label, key=key, **callback)
        items = config_error.items if config_error is not None else ()
        for item in items:
            if matches(spec, item.path):
                column.error(f"{escape_markdown(item.path)}: {escape_markdown(item.message)}")
        if axis in problems:
            column.error(escape_markdown(problems[axis]))


def yaml_editor() -> None:
    st.text_area(
        "Hardware YAML (edit and press Ctrl+Enter or click outside to apply)",
        key=state.YAML_EDITOR, height=420, on_change=state.on_yaml_edit,
    )  # fmt: skip


# ---------------------------------------------------------------- progress
CANCELLING = "Cancelling… layers already solved are kept."


def progress_text(job: Job, points: int = 0) -> tuple[float, str]:
    """A job's progress bar: the fraction done and "label: 30/84 layers (≈ 2 of 6 points),
    12 s elapsed, about 25 s left (last: ...)"."""
    done, total, layer = job.progress()
    fraction = min(done / total, 1.0) if total else 0.0
    elapsed, left = job.estimate(done, total)
    if not total:  # the worker has not read the workload yet
        return 0.0, f"{job.label}: starting, {elapsed:.0f} s elapsed"
    text = f"{job.label}: {done}/{total} layers"
    if points:
        text += f" (≈ {int(fraction * points)} of {points} points)"
    text += f", {elapsed:.0f} s elapsed"
    text += ", estimating the time left" if left is None else f", about {left:.0f} s left"
    return fraction, text + (f" (last: {layer})" if layer else "")


def progress_panel(
    jobs: Sequence[Job], key: str, on_cancel: Callable[[], None], points: int = 0
) -> None:
    """Progress bars of running jobs (with `points`, a sweep's design points, the share of
    them done), polled off the main run; reruns the page when one ends. Cancel answers in the
    same fragment run: the panel says "cancelling…" at once and keeps saying it until the
    workers have stopped."""

    finished = sum(job.done() for job in jobs)

    def panel() -> None:
        # A job that ends reruns the page, which shows its answer.
        if sum(job.done() for job in jobs) != finished:
            st.rerun(scope="app")
        for job in jobs:
            fraction, text = progress_text(job, points)
            st.progress(fraction, text=escape_markdown(text))
        if any(job.cancel_requested() for job in jobs):
            st.info(CANCELLING)
            return
        if st.button("Cancel", key=key):
            for job in jobs:
                job.cancel()
            on_cancel()
            st.info(CANCELLING)

    st.fragment(panel, run_every=POLL_SECONDS)()


def error_message(title: str, error: Exception) -> None:
    """A library error shown as `title` and one bullet per line of its message."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    st.error(title + "\n\n" + "\n".join(f"- {escape_markdown(line)}" for line in lines))


def show_outcomes(jobs: Sequence[Job]) -> list:
    """Each finished job's result, or None after showing its error message."""
    results = []
    for job in jobs:
        result, message = job.outcome()
        if message:
            st.error(escape_markdown(f"{job.label}: {message}"))
        results.append(result)
    return results


# ---------------------------------------------------------------- workload inputs
WORKLOAD_SOURCES = (
    "Built-in network",
    "Sample workload file",
    "Upload ONNX / YAML",
    "Custom layer",
)
#: Uploads above this are refused before parsing (the server's own cap is in config.toml).
MAX_UPLOAD_MB = 20
_LAYER_FIELDS = ("R", "S", "P", "Q", "C", "K", "G", "N")


def workload_source() -> str:
    state.default("wl_source", WORKLOAD_SOURCES[0])
    return st.radio("Source", WORKLOAD_SOURCES, key="wl_source", horizontal=True)


def workload_picker(source: str) -> WorkloadSpec | None:
    """The input of one source; returns the workload it names, or None to keep the current one
    (nothing uploaded yet, no custom layer, or an error that is already shown)."""
    if source == WORKLOAD_SOURCES[0]:
        state.default("wl_builtin", "resnet18")
        name = st.selectbox("Network", NETWORK_NAMES, key="wl_builtin")
        return WorkloadSpec(BUILTIN, name, name)
    if source == WORKLOAD_SOURCES[1]:
        samples = list(state.sample_workloads())
        state.default("wl_sample", "tiny_layers.yaml")
        return state.sample_workload_spec(st.selectbox("File", samples, key="wl_sample"))
    if source == WORKLOAD_SOURCES[2]:
        return _uploaded_workload()
    return _custom_workload()


#: The upload kept when the user visits another source (the file widget forgets it).
KEPT_UPLOAD = "wl_kept_upload"
#: What each loop dim means (grouped convolutions count C and K per group).
DIM_HELP = {
    "R": "filter height", "S": "filter width", "P": "output height", "Q": "output width",
    "C": "input channels (per group)", "K": "output channels (per group)",
    "G": "groups (depthwise: G = channels, C = K = 1)", "N": "batch",
}  # fmt: skip
CUSTOM_ERROR = "wl_custom_error"


def _uploaded_workload() -> WorkloadSpec | None:
    upload = st.file_uploader(
        f"ONNX model or workload YAML (at most {MAX_UPLOAD_MB} MB; nothing is executed)",
        type=["onnx", "yaml", "yml"], key="upload_workload", max_upload_size=MAX_UPLOAD_MB,
    )  # fmt: skip
    if upload is None:
        kept = st.session_state.get(KEPT_UPLOAD)
        if kept is not None:
            st.text(f"Using the earlier upload {kept.label}; upload another file to replace it.")
        return kept
    spec = _read_upload(upload)
    if spec is not None:
        st.session_state[KEPT_UPLOAD] = spec
    return spec


def _read_upload(upload) -> WorkloadSpec | None:
    data = upload.getvalue()
    name = escape_markdown(upload.name)
    if len(data) > MAX_UPLOAD_MB * 2**20:
        st.error(f"{name} is {len(data) / 2**20:.1f} MB; the limit is {MAX_UPLOAD_MB} MB")
        return None
    stem = upload.name.rsplit(".", 1)[0]
    try:
        if upload.name.lower().endswith(".onnx"):
            text = cached.onnx_to_workload_text(data, stem)
        else:
            text = data.decode("utf-8")
        spec = WorkloadSpec(YAML, text, upload.name)
        cached.load_network(spec.kind, spec.value, spec.label)
    except UnicodeDecodeError:
        st.error(f"{name} is not UTF-8 text")
        return None
    except (ConfigError, WorkloadError) as error:
        st.error(f"{name}: {escape_markdown(error)}")
        return None
    return spec


def _add_layer() -> None:
    values = {name: st.session_state[f"wl_layer_{name}"] for name in _LAYER_FIELDS}
    stride, padding = st.session_state["wl_layer_stride"], st.session_state["wl_layer_padding"]
    layer = {
        "name": st.session_state["wl_layer_name"], "kind": "custom", **values,
        "stride_h": stride, "stride_w": stride, "pad_top": padding, "pad_bottom": padding,
        "pad_left": padding, "pad_right": padding,
    }  # fmt: skip
    layers = [*st.session_state[state.CUSTOM_LAYERS], layer]
    st.session_state[CUSTOM_ERROR] = ""
    try:
        text = cached.custom_workload_text(tuple(tuple(item.items()) for item in layers))
    except (ConfigError, WorkloadError) as error:
        st.session_state[CUSTOM_ERROR] = str(error)
        return
    st.session_state[state.CUSTOM_LAYERS] = layers
    state.set_workload(WorkloadSpec(YAML, text, "custom layers"))


def _custom_workload() -> WorkloadSpec | None:
    with st.form("custom_layer_form"):
        state.default("wl_layer_name", "my_layer")
        st.text_input("Layer name", key="wl_layer_name")
        columns = st.columns(len(_LAYER_FIELDS) + 2)
        for column, name in zip(columns, _LAYER_FIELDS, strict=False):
            state.default(f"wl_layer_{name}", 3 if name in ("R", "S") else 1)
            column.number_input(name, step=1, key=f"wl_layer_{name}", help=DIM_HELP[name])
        state.default("wl_layer_stride", 1)
        state.default("wl_layer_padding", 0)
        columns[-2].number_input("stride", step=1, key="wl_layer_stride")
        columns[-1].number_input("padding", step=1, key="wl_layer_padding")
        st.form_submit_button("Add layer", key="add_layer", on_click=_add_layer)
    if message := st.session_state.pop(CUSTOM_ERROR, ""):
        error_message("This layer cannot be added:", ValueError(message))
    st.caption(
        "Dims: " + "; ".join(f"{dim} {text}" for dim, text in DIM_HELP.items()) + ". "
        "A matrix product M×K·K×N is P = M, C = K, K = N with R = S = Q = 1."
    )
    if st.button("Clear custom layers", key="clear_layers"):
        st.session_state[state.CUSTOM_LAYERS] = []
    return None


# ---------------------------------------------------------------- compare and sweep inputs
CURRENT_HARDWARE = "current (Hardware page)"


def compare_side(prefix: str, label: str, default_hardware: str, default_objective: str) -> dict:
    """Hardware, objective and mapper of one side of a comparison; `hardware_text` is None
    for the Hardware page's current design."""
    choices = [CURRENT_HARDWARE, *state.sample_hardware()]
    state.default(f"{prefix}hardware", default_hardware)
    state.default(f"{prefix}objective", default_objective)
    hardware = st.selectbox(f"{label}: hardware", choices, key=f"{prefix}hardware")
    settings = run_settings(prefix, f"{label}: ", mapper="ws", narrow=True)
    text = None
    if hardware != CURRENT_HARDWARE:
        text = state.sample_hardware()[hardware].read_text(encoding="utf-8")
    design = state.design_or_none()
    current = f"current: {design.hardware.name} #{design.hash}" if design else "current"
    name = hardware.removesuffix(".yaml") if text else current
    settings["label"] = f"{label} ({name}, {settings['mapper']}, {settings['objective']})"
    return {**settings, "hardware_text": text}


def sweep_axes_input() -> list[tuple[str, tuple]]:
    """1-3 variant axes and their values; a value list that does not parse is shown as an
    error and left out."""
    state.default(url.SWEEP_AXES, ["cores", "gb_kib"])
    names = st.multiselect(
        "Hardware axes (1-3)", list(AXIS_SPECS), key=url.SWEEP_AXES,
        max_selections=url.MAX_SWEEP_AXES,
        format_func=lambda axis: f"{axis} ({AXIS_SPECS[axis].label})",
    )  # fmt: skip
    axes = []
    columns = st.columns(max(len(names), 1))
    for column, axis in zip(columns, names, strict=False):
        state.default(url.sweep_values_key(axis), AXIS_SPECS[axis].sweep_default)
        text = column.text_input(
            f"{axis} values", key=url.sweep_values_key(axis),
            help="Comma-separated values or ranges: start:stop:step (4:16:4) or "
            "start:stop:*factor (1:16:*2); on/off for a toggle.",
        )  # fmt: skip
        try:
            axes.append((axis, parse_axis_values(axis, text)))
        except ValueError as error:
            column.error(escape_markdown(error))  # the message repeats what was typed
    return axes


#: The Pareto front a sweep starts with: the two figures its scatter plot shows.
DEFAULT_PARETO = ["latency", "energy"]


def pareto_columns_input() -> list[str]:
    """The figures the Pareto front minimizes, as short names of `pareto.PARETO_COLUMNS`."""
    state.default("sweep_pareto", DEFAULT_PARETO)
    names = st.multiselect(
        "Pareto front over (all minimized)", list(PARETO_COLUMNS), key="sweep_pareto",
        help="A point is on the front when no other point is at least as good in every chosen "
        "figure and better in one. Infeasible or cancelled points never are.",
    )  # fmt: skip
    if not names:
        st.warning("Choose at least one figure to mark the Pareto front.")
    return names


def sweep_stats(stats: SweepStats, store_path: str) -> None:
    """Where a sweep's answers came from: the result store, new solves, repeated shapes."""
    text = (
        f"{stats.points} points, {stats.layer_problems} layer problems, "
        f"{stats.distinct_problems} distinct ({stats.saved_by_dedup} saved by repeated shapes): "
        f"{stats.store_hits} served from the result store, {stats.solved} solved, "
        f"in {stats.wall_time_s:.1f} s. Store: {store_path}"
    )
    st.caption(escape_markdown(text))
    if stats.unsolved:
        st.warning(
            f"{stats.unsolved} problem(s) were not solved (cancelled); their points show as "
            "'cancelled'. Press **Run sweep** to finish: solved answers are kept."
        )
