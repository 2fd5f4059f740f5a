"""The `miredo` command line tool.

    miredo map --hardware HW.yaml --workload NAME|FILE.onnx|FILE.yaml [--mapper ws]
               [--objective latency|energy|edp] [--simulate] [--csv OUT.csv] [--json OUT.json]
    miredo sweep --hardware BASE.yaml --axis cores=4,8,16 --axis gb_kib=128:512:*2
                 --workload NAME|FILE [--objective edp] [--mapper mip] [--preset interactive]
                 [--jobs N | --scheduler tcp://HOST:PORT] [--store PATH | --no-store]
                 [--samples N --seed S] [--pareto latency,energy,area] [--csv OUT.csv]
                 [--layers-csv OUT_LAYERS.csv]

Library errors (a bad configuration, an unknown network, an impossible mapping, a file that
cannot be read or written) are reported as `miredo: error: ...` lines on stderr with exit code 2,
the same code argparse uses for bad arguments; a traceback reaching the user is a bug, so even an
unexpected exception is reported in one line (exit code 1, traceback with --verbose).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import pandas as pd

from miredo_core.config import ConfigError, load_hardware
from miredo_core.mapping import InfeasibleMappingError
from miredo_core.network import MAPPERS, OBJECTIVES, map_network
from miredo_core.pareto import PARETO_COLUMNS, resolve_columns
from miredo_core.results import NetworkResult
from miredo_core.search.engine import PRESETS, SolveOptions
from miredo_core.search.mip import SOLVERS
from miredo_core.store import MEMORY, ResultStore, StoreError, default_store_path
from miredo_core.sweep import (
    SweepError,
    SweepResult,
    SweepSpec,
    dask_executor,
    parse_axis,
    run_sweep,
)
from miredo_core.variants import VARIANT_AXES
from miredo_core.workload import WorkloadError
from miredo_core.zoo import load_workload

logger = logging.getLogger(__name__)

PROGRAM = "miredo"
EXIT_OK = 0
EXIT_INTERNAL_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a process killed by it

#: Errors that describe a problem with the user's input or files, not a bug.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError,
    WorkloadError,
    InfeasibleMappingError,
    OSError,
    ValueError,
    StoreError,
)

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Map DNN layers onto a multi-core SRAM computing-in-memory accelerator.",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    map_parser = commands.add_parser(
        "map", help="map every layer of a network and report latency and energy"
    )
    map_parser.add_argument(
        "--hardware", required=True, metavar="PATH", help="hardware configuration YAML"
    )
    map_parser.add_argument(
        "--workload",
        required=True,
        metavar="NAME|FILE.onnx|FILE.yaml",
        help="a built-in network name, an ONNX model or a workload YAML",
    )
    map_parser.add_argument("--mapper", choices=sorted(MAPPERS), default="ws")
    map_parser.add_argument("--objective", choices=OBJECTIVES, default="latency")
    map_parser.add_argument(
        "--simulate", action="store_true", help="also run the event simulator on every mapping"
    )
    map_parser.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        default="balanced",
        help="search budget of the mip mapper: interactive (seconds), balanced, thorough "
        "(certifies the optimum within 1 %%, up to about 2 minutes per layer shape)",
    )
    map_parser.add_argument(
        "--time-limit",
        type=_positive_float,
        metavar="SECONDS",
        help="search budget per layer of the mip mapper (overrides the preset's and caps its "
        "certification)",
    )
    map_parser.add_argument("--solver", choices=tuple(SOLVERS), default="highs")
    map_parser.add_argument(
        "--jobs",
        type=_positive_int,
        default=os.cpu_count() or 1,
        help="solve distinct layers in N processes (default: all CPUs)",
    )
    map_parser.add_argument(
        "--gap-tolerance",
        type=_fraction,
        default=0.01,
        metavar="FRACTION",
        help="relative gap to the proven lower bound that counts as optimal (default 0.01; "
        "0 with --preset thorough proves exact optima)",
    )
    map_parser.add_argument(
        "--workers",
        type=_positive_int,
        default=os.cpu_count() or 1,
        help="processes the thorough preset's certifier uses per layer shape (default: all "
        "CPUs; the answer is the same for any number, only the speed changes)",
    )
    map_parser.add_argument("--csv", metavar="OUT.csv", help="write the per-layer table as CSV")
    map_parser.add_argument(
        "--json", metavar="OUT.json", help="write the results, mappings included, as JSON"
    )
    _add_sweep_parser(commands)
    return parser


def _add_sweep_parser(commands: argparse._SubParsersAction) -> None:
    sweep = commands.add_parser(
        "sweep",
        help="map a network on every point of a hardware design space; Pareto front and CSV",
        description="Values of an axis are a comma-separated list of values and ranges "
        "(start:stop:step or start:stop:*factor); ping_pong takes on/off. Solved layers are "
        "kept in a result store, so a repeated or interrupted sweep resumes.",
    )
    sweep.add_argument("--hardware", required=True, metavar="BASE.yaml", help="the base design")
    sweep.add_argument(
        "--axis",
        required=True,
        action="append",
        type=_sweep_axis,
        metavar="NAME=VALUES",
        help=f"a swept axis, repeatable; names: {', '.join(VARIANT_AXES)}",
    )
    sweep.add_argument("--workload", required=True, metavar="NAME|FILE.onnx|FILE.yaml")
    sweep.add_argument("--objective", choices=OBJECTIVES, default="edp")
    sweep.add_argument("--mapper", choices=sorted(MAPPERS), default="mip")
    sweep.add_argument("--preset", choices=tuple(PRESETS), default="balanced")
    sweep.add_argument("--solver", choices=tuple(SOLVERS), default="highs")
    where = sweep.add_mutually_exclusive_group()
    where.add_argument("--jobs", type=_positive_int, help="local worker processes (default: CPUs)")
    where.add_argument(
        "--scheduler", metavar="tcp://HOST:PORT", help="solve on this Dask cluster instead"
    )
    stored = sweep.add_mutually_exclusive_group()
    stored.add_argument(
        "--store", metavar="PATH", help=f"result store file (default: {default_store_path()})"
    )
    stored.add_argument("--no-store", action="store_true", help="keep no results on disk")
    sweep.add_argument(
        "--samples", type=_positive_int, metavar="N", help="N random points instead of the grid"
    )
    sweep.add_argument("--seed", type=int, default=0, help="seed of --samples (default 0)")
    sweep.add_argument(
        "--pareto",
        type=_pareto_columns,
        default=("latency_cycles", "energy_pj", "area_mm2"),
        metavar="COLUMNS",
        help=f"minimized columns of the Pareto front: {', '.join(PARETO_COLUMNS)} "
        "(default latency,energy,area)",
    )
    sweep.add_argument("--csv", metavar="OUT.csv", help="write one row per point as CSV")
    sweep.add_argument("--layers-csv", metavar="OUT.csv", help="write one row per point and layer")


def _sweep_axis(text: str):
    try:
        return parse_axis(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _pareto_columns(text: str) -> tuple[str, ...]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in PARETO_COLUMNS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"Pareto columns are {', '.join(PARETO_COLUMNS)}, got {text!r}"
        )
    try:
        return resolve_columns(names)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _number(convert, accept, requirement: str):
    """An argparse type: `convert` the text, then check it with `accept`."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            kind = "whole number" if convert is int else "number"
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"{text} {requirement}")
        return value

    return parse


_positive_float = _number(float, lambda v: v > 0, "must be positive")
_positive_int = _number(int, lambda v: v >= 1, "must be at least 1")
_fraction = _number(float, lambda v: 0 <= v < 1, "is not a fraction in [0, 1)")


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


def format_total_line(result: NetworkResult, simulated: bool) -> str:
    """One line with the network totals, saying why they are missing if a layer is infeasible."""
    summary = result.summary()
    head = f"total {result.network_name} on {result.hardware_name}"
    if not result.complete:
        names = ", ".join(result.infeasible_layers)
        return f"{head}: undefined, {len(result.infeasible_layers)} layer(s) infeasible: {names}"
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
    return line


def run_map(args: argparse.Namespace, out: TextIO) -> int:
    """The `map` command: load, map, print, export."""
    hardware = load_hardware(Path(args.hardware))
    network = load_workload(args.workload)
    logger.info("mapping %d layers of %s on %s", len(network.layers), network.name, hardware.name)
    result = map_network(
        hardware,
        network,
        mapper=args.mapper,
        objective=args.objective,
        simulate=args.simulate,
        progress=lambda done, total, name: logger.info("[%d/%d] %s", done, total, name),
        options=SolveOptions(
            preset=args.preset,
            time_limit_s=args.time_limit,
            solver=args.solver,
            workers=args.workers,
            gap_tolerance=args.gap_tolerance,
        ),
        jobs=args.jobs,
    )
    print(format_layer_table(result, args.simulate), file=out)
    print(format_total_line(result, args.simulate), file=out)
    if args.csv:
        result.to_csv(args.csv)
        logger.info("wrote %s", args.csv)
    if args.json:
        Path(args.json).write_text(result.to_json() + "\n", encoding="utf-8")
        logger.info("wrote %s", args.json)
    return EXIT_OK


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


def run_sweep_command(args: argparse.Namespace, out: TextIO) -> int:
    """The `sweep` command: build the spec, solve through the store, print, export."""
    spec = SweepSpec(
        hardware=load_hardware(Path(args.hardware)),
        axes=tuple(args.axis),
        network=load_workload(args.workload),
        objective=args.objective,
        mapper=args.mapper,
        options=SolveOptions(preset=args.preset, solver=args.solver),
        samples=args.samples,
        seed=args.seed,
    )
    store = ResultStore(MEMORY if args.no_store else args.store)
    points = len(spec.points())
    logger.info("sweeping %d points of %s; store %s", points, spec.network.name, store.path)
    progress = ProgressBar(sys.stderr, "layer problems")
    try:
        if args.scheduler:
            with dask_executor(args.scheduler) as executor:
                result = run_sweep(spec, executor, store, progress)
        else:
            result = run_sweep(spec, None, store, progress, jobs=args.jobs)
    except SweepError as error:
        _report_error(error, sys.stderr)
        return EXIT_INTERNAL_ERROR
    finally:
        store.close()
    frame = result.points_frame(args.pareto)
    print(format_point_table(frame), file=out)
    print(format_sweep_summary(result, args.pareto), file=out)
    if args.csv:
        frame.to_csv(args.csv, index=False)
        logger.info("wrote %s", args.csv)
    if args.layers_csv:
        result.layers_frame().to_csv(args.layers_csv, index=False)
        logger.info("wrote %s", args.layers_csv)
    return EXIT_OK


#: Subcommand name -> function(args, stdout) -> exit code.
COMMANDS = {"map": run_map, "sweep": run_sweep_command}


def _error_lines(error: BaseException) -> list[str]:
    """The message lines of an error; a ConfigError gives one `file: yaml.path: problem` each."""
    if isinstance(error, ConfigError) and error.items:
        source = error.source
        return [
            str(item) if not source or item.path == source else f"{source}: {item}"
            for item in error.items
        ]
    return str(error).splitlines() or [type(error).__name__]


def _report_error(error: BaseException, err: TextIO) -> None:
    for line in _error_lines(error):
        print(f"{PROGRAM}: error: {line}", file=err)


def _configure_logging(verbosity: int) -> None:
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    logging.basicConfig(level=level, format=f"{PROGRAM}: %(levelname)s: %(message)s", force=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `miredo` console script; returns the process exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:  # argparse: --help (0) or a usage error (2)
        return int(exit_request.code or 0)
    _configure_logging(args.verbose)
    try:
        return COMMANDS[args.command](args, sys.stdout)
    except BrokenPipeError:
        # The reader went away (`miredo map ... | head`): not an error worth a message. Point
        # stdout at devnull so that the interpreter's final flush does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except USER_ERRORS as error:
        _report_error(error, sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROGRAM}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # a bug: still no traceback unless asked for
        logger.debug("unexpected error", exc_info=True)
        print(
            f"{PROGRAM}: internal error: {type(error).__name__}: {error} "
            "(run with -vv for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
