"""What the `miredo` command prints and writes: tables, totals, skipped nodes, error lines, a
progress bar, and output files checked before a run and written independently after it."""

from __future__ import annotations

import logging
import math
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

import pandas as pd

from miredo_core.config import ConfigError
from miredo_core.onnx_ops import skipped_work
from miredo_core.results import NetworkResult
from miredo_core.sweep import SweepResult

logger = logging.getLogger(__name__)

PROGRAM = "miredo"
#: Lines and characters of one error message shown on stderr (a ConfigError has its own caps).
MAX_ERROR_LINES = 20
MAX_ERROR_LINE_CHARS = 300

#: Columns of the per-layer table printed to the terminal (the CSV has them all).
TABLE_COLUMNS: tuple[str, ...] = (
    "layer",
    "status",
    "macs",
    "latency_cycles",
    "energy_pj",
    "edp_pj_cycles",
    "utilization",
    "solve_time_s",
)
SIMULATION_COLUMNS: tuple[str, ...] = ("sim_latency_cycles", "sim_energy_pj")
SEARCH_TABLE_COLUMNS: tuple[str, ...] = ("gap",)


def _format_number(value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "-"
    return f"{value:.4g}" if abs(value) >= 1e7 else f"{value:,.0f}"


def format_layer_table(result: NetworkResult, simulated: bool) -> str:
    """The per-layer table as aligned text, from the same frame the CSV is written from."""
    frame = result.to_frame()
    columns = list(TABLE_COLUMNS) + (list(SIMULATION_COLUMNS) if simulated else [])
    if frame["gap"].notna().any():
        columns += list(SEARCH_TABLE_COLUMNS)
    if result.infeasible_layers:
        columns.append("reason")
    formatters = {
        column: _format_number
        for column in columns
        if column.endswith(("_cycles", "_pj")) or column == "macs"
    }
    formatters["utilization"] = lambda value: "-" if pd.isna(value) else f"{value:.3f}"
    formatters["solve_time_s"] = lambda value: f"{value:.3f}"
    formatters["gap"] = lambda value: "-" if pd.isna(value) else f"{value:.1%}"
    return frame[columns].to_string(index=False, formatters=formatters)


def format_skipped(result: NetworkResult) -> str:
    """Every skipped node by name, grouped by operator and reason; "" when there is none."""
    if not result.skipped:
        return ""
    groups: dict[tuple[str, str], list[str]] = {}
    for node in result.skipped:
        groups.setdefault((node.op_type, node.reason), []).append(node.name)
    lines = [f"{len(result.skipped)} node(s) of the model not mapped (excluded from the total):"]
    for (op_type, reason), names in groups.items():
        head = f"  {op_type} x{len(names)}: {reason}: "
        lines.append(
            textwrap.fill(
                ", ".join(names), width=100, initial_indent=head, subsequent_indent="    "
            )
        )
    return "\n".join(lines)


def format_total_line(result: NetworkResult, simulated: bool) -> str:
    """One line with the network totals, saying why they are missing if a layer is infeasible
    and which skipped nodes they exclude."""
    summary = result.summary()
    head = f"total {result.network_name} on {result.hardware_name}"
    if not result.complete:
        names = ", ".join(result.infeasible_layers)
        line = f"{head}: undefined, {len(result.infeasible_layers)} layer(s) not mapped: {names}"
    else:
        line = (
            f"{head}: latency {_format_number(summary['latency_cycles'])} cycles, "
            f"energy {_format_number(summary['energy_pj'])} pJ, "
            f"EDP {summary['edp_pj_cycles']:.4g} pJ*cycles, {summary['layers']} layers"
        )
        if simulated:
            line += (
                f"; simulated latency {_format_number(summary['sim_latency_cycles'])} cycles, "
                f"energy {_format_number(summary['sim_energy_pj'])} pJ"
            )
    if result.skipped:
        work = skipped_work(result.skipped)
        line += f"; excludes {len(result.skipped)} skipped node(s)"
        if work:
            operators = ", ".join(sorted({node.op_type for node in work}))
            line += f", {len(work)} of them with MAC work ({operators})"
    return line


class ProgressBar:
    """A plain-text progress bar on `stream`: redrawn in place on a terminal, otherwise one
    line per tenth of the work (so that logs stay short)."""

    WIDTH = 30

    def __init__(self, stream: TextIO, what: str) -> None:
        self.stream, self.what = stream, what
        self.interactive = stream.isatty()
        self.printed_tenth = -1

    def __call__(self, done: int, total: int, label: str) -> None:
        filled = self.WIDTH * done // total if total else self.WIDTH
        line = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total} {self.what}"
        if self.interactive:
            print(f"\r{line}  {label}"[:120].ljust(120), end="", file=self.stream, flush=True)
            if done == total:
                print(file=self.stream)
            return
        tenth = 10 * done // total if total else 10
        if tenth > self.printed_tenth:
            self.printed_tenth = tenth
            print(line, file=self.stream, flush=True)


def format_point_table(frame: pd.DataFrame) -> str:
    """The per-point table as aligned text (the CSV has the same columns)."""
    formatters = {
        column: _format_number for column in ("latency_cycles", "energy_pj", "edp_pj_cycles")
    }
    formatters["area_mm2"] = lambda value: "-" if pd.isna(value) else f"{value:.4g}"
    formatters["pareto"] = lambda value: "*" if value else ""
    return frame.drop(columns="hardware").to_string(index=False, formatters=formatters)


def format_sweep_summary(result: SweepResult, columns: Sequence[str]) -> str:
    stats = result.stats
    front = int(result.points_frame(columns)["pareto"].sum())
    lines = [
        f"{stats.points} points x {len(result.spec.network.layers)} layers = "
        f"{stats.layer_problems} layer problems, {stats.distinct_problems} distinct "
        f"({stats.saved_by_dedup} saved by deduplication); {stats.store_hits} from the store, "
        f"{stats.solved} solved in {stats.wall_time_s:.1f} s",
        f"{front} point(s) on the Pareto front of {', '.join(columns)} (marked *)",
    ]
    if stats.unsolved:
        lines.append(f"{stats.unsolved} problem(s) left unsolved: run again to resume")
    return "\n".join(lines)


# ------------------------------------------------------------------ errors
def error_lines(error: BaseException) -> list[str]:
    """The message lines of an error, bounded: a ConfigError gives one `file: yaml.path:
    problem` each (its own caps), anything else at most MAX_ERROR_LINES lines."""
    if isinstance(error, ConfigError) and error.items:
        return error.lines()
    lines = str(error).splitlines() or [type(error).__name__]
    shown = [
        line if len(line) <= MAX_ERROR_LINE_CHARS else line[: MAX_ERROR_LINE_CHARS - 3] + "..."
        for line in lines[:MAX_ERROR_LINES]
    ]
    if len(lines) > MAX_ERROR_LINES:
        shown.append(f"... and {len(lines) - MAX_ERROR_LINES} more line(s)")
    return shown


def report_error(error: BaseException, err: TextIO) -> None:
    for line in error_lines(error):
        print(f"{PROGRAM}: error: {line}", file=err)


# ------------------------------------------------------------------ output files
def output_path_problem(path: str) -> str | None:
    """Why `path` cannot be written, or None. Opens it for appending (creating it if needed,
    and removing it again) so that permissions, read-only and virtual file systems (/proc)
    are found before a long solve rather than after it."""
    target = Path(path)
    if target.is_dir():
        return "is a directory; give a file name"
    parent = target.parent
    if not parent.exists():
        return f"directory {parent} does not exist; create it first"
    if not parent.is_dir():
        return f"{parent} is not a directory"
    existed = target.exists()
    try:
        with open(target, "a", encoding="utf-8"):
            pass
    except OSError as error:
        return f"cannot be written: {error.strerror or error}"
    if not existed:
        target.unlink(missing_ok=True)
    return None


def check_outputs(outputs: Sequence[tuple[str, str | None]]) -> list[str]:
    """Problems of the (option, path) outputs given, one line each (empty when all can be
    written); a path given to two options is a problem too."""
    problems = []
    seen: dict[str, str] = {}
    for option, path in outputs:
        if not path:
            continue
        key = str(Path(path).resolve())
        if key in seen:
            problems.append(f"{option} {path}: the same file as {seen[key]}; give another name")
            continue
        seen[key] = option
        problem = output_path_problem(path)
        if problem:
            problems.append(f"{option} {path}: {problem}")
    return problems


class OutputPathError(ValueError):
    """Output paths that cannot be written, found before the run."""


def require_writable(outputs: Sequence[tuple[str, str | None]]) -> None:
    """Raise OutputPathError listing every output of `check_outputs` that cannot be written."""
    problems = check_outputs(outputs)
    if problems:
        raise OutputPathError("\n".join(problems))


def write_text(path: str, text: str) -> None:
    Path(path).write_text(text, encoding="utf-8")
    logger.info("wrote %s", path)


def write_result_csv(result: NetworkResult, path: str) -> None:
    result.to_csv(path)
    logger.info("wrote %s", path)


def write_frame(frame: pd.DataFrame, path: str) -> None:
    frame.to_csv(path, index=False)
    logger.info("wrote %s", path)


def write_outputs(
    writers: Sequence[tuple[str, str | None, Callable[[str], None]]], err: TextIO
) -> int:
    """Run every (option, path, write) whose path is set; a failing one is reported and never
    stops the others. Returns the number of failures."""
    failures = 0
    for option, path, write in writers:
        if not path:
            continue
        try:
            write(path)
        except (OSError, ValueError) as error:
            failures += 1
            message = getattr(error, "strerror", None) or error
            print(f"{PROGRAM}: error: {option} {path}: not written: {message}", file=err)
    return failures
