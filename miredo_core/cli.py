"""The `miredo` command line tool.

    miredo map --hardware HW.yaml --workload NAME|FILE.onnx|FILE.yaml [--mapper ws]
               [--objective latency|energy|edp] [--simulate] [--csv OUT.csv] [--json OUT.json]
    miredo sweep --hardware BASE.yaml --axis cores=4,8,16 --axis gb_kib=128:512:*2
                 --workload NAME|FILE [--objective edp] [--mapper mip] [--preset interactive]
                 [--jobs N | --scheduler tcp://HOST:PORT] [--store PATH | --no-store]
                 [--samples N --seed S] [--pareto latency,energy,area] [--csv OUT.csv]
                 [--layers-csv OUT_LAYERS.csv]
    miredo report --store PATH --network NAME [--objective edp] [--csv OUT.csv] [--html OUT.html]

Errors are `miredo: error: ...` lines on stderr, never a traceback (an unexpected exception is
one line too; -vv adds its traceback). Every output path is checked before anything is solved,
and a failing output never prevents the others. Exit codes: `EXIT_CODES_HELP` (also at the end
of `--help` and in the README): 0 complete, 1 internal error, 2 bad input, 3 incomplete (a
layer not mapped, or a model node with MAC work skipped), 4 an output not written, 130
interrupted, 141 stdout closed early.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from miredo_core import campaign
from miredo_core.cli_exit import (  # fmt: skip
    EXIT_BROKEN_PIPE,
    EXIT_CODES_HELP,
    EXIT_INCOMPLETE,
    EXIT_INTERNAL_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OUTPUT_FAILED,
    EXIT_USAGE,
    interrupted_exit,
    stop_on_signals,
)
from miredo_core.cli_output import (
    MAX_ERROR_LINE_CHARS,
    PROGRAM,
    ProgressBar,
    error_lines,
    format_layer_table,
    format_point_table,
    format_skipped,
    format_sweep_summary,
    format_total_line,
    report_error,
    require_writable,
    write_frame,
    write_outputs,
    write_result_csv,
    write_text,
)
from miredo_core.config import ConfigError, load_hardware
from miredo_core.kinds import OBJECTIVES
from miredo_core.mapping import InfeasibleMappingError
from miredo_core.network import MAPPERS, map_network
from miredo_core.onnx_ops import skipped_work
from miredo_core.pareto import PARETO_COLUMNS, resolve_columns
from miredo_core.search.engine import PRESETS, SolveOptions
from miredo_core.search.mip import SOLVERS
from miredo_core.store import MEMORY, ResultStore, StoreError, default_store_path
from miredo_core.sweep import (
    SweepError,
    SweepSpec,
    dask_executor,
    parse_axis,
    run_sweep,
)
from miredo_core.variants import VARIANT_AXES
from miredo_core.workload import WorkloadError
from miredo_core.zoo import load_workload

logger = logging.getLogger(__name__)

#: Longest --time-limit accepted (about 11.6 days); anything longer is a typo.
MAX_TIME_LIMIT_S = 1e6

#: Errors that describe a problem with the user's input or files, not a bug.
USER_ERRORS: tuple[type[BaseException], ...] = (ConfigError, WorkloadError,
                                                 InfeasibleMappingError, OSError, ValueError,
                                                 StoreError)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Map DNN layers onto a multi-core SRAM computing-in-memory accelerator.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    map_parser = commands.add_parser(
        "map",
        help="map every layer of a network and report latency and energy",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
        help="work budget of the mip mapper, in evaluations and certifier nodes (never seconds): "
        "interactive, balanced, thorough (certifies within the gap tolerance)",
    )
    map_parser.add_argument(
        "--time-limit",
        type=_time_limit,
        metavar="SECONDS",
        help="optional wall-clock cap per layer of the mip mapper: it may only stop work early, "
        f"and a layer it stops is marked stopped; finite, > 0 and at most {MAX_TIME_LIMIT_S:g}",
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
    campaign.add_report_parser(commands)
    return parser


def _add_sweep_parser(commands: argparse._SubParsersAction) -> None:
    sweep = commands.add_parser(
        "sweep",
        help="map a network on every point of a hardware design space; Pareto front and CSV",
        description="Values of an axis are a comma-separated list of values and ranges "
        "(start:stop:step or start:stop:*factor); ping_pong takes on/off. Solved layers are "
        "kept in a result store, so a repeated or interrupted sweep resumes.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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


_time_limit = _number(
    float,
    lambda v: math.isfinite(v) and 0 < v <= MAX_TIME_LIMIT_S,
    f"must be a finite number of seconds, > 0 and at most {MAX_TIME_LIMIT_S:g}",
)
_positive_int = _number(int, lambda v: v >= 1, "must be at least 1")
_fraction = _number(float, lambda v: 0 <= v < 1, "is not a fraction in [0, 1)")


def run_map(args: argparse.Namespace, out: TextIO) -> int:
    """The `map` command: check outputs, load, map, print, export."""
    outputs = [("--csv", args.csv), ("--json", args.json)]
    require_writable(outputs)
    hardware = load_hardware(Path(args.hardware))
    network = load_workload(args.workload)
    logger.info("mapping %d layers of %s on %s", len(network.layers), network.name, hardware.name)
    for node in network.skipped:
        logger.info("not mapped: %s (%s): %s", node.name, node.op_type, node.reason)
    options = SolveOptions(
        preset=args.preset,
        time_limit_s=args.time_limit,
        solver=args.solver,
        workers=args.workers,
        gap_tolerance=args.gap_tolerance,
    )
    with stop_on_signals() as stop:
        result = map_network(
            hardware, network, args.objective, args.mapper, options, simulate=args.simulate,
            progress=lambda done, total, text: logger.info("[%d/%d] %s", done, total, text),
            cancel=stop, jobs=args.jobs,
        )  # fmt: skip
    if network.skipped and not result.skipped:
        result = dataclasses.replace(result, skipped=network.skipped)
    print(format_layer_table(result, args.simulate), file=out)
    if result.skipped:
        print(format_skipped(result), file=out)
    print(format_total_line(result, args.simulate), file=out)
    failures = write_outputs(
        [
            ("--csv", args.csv, lambda path: write_result_csv(result, path)),
            ("--json", args.json, lambda path: write_text(path, result.to_json() + "\n")),
        ],
        sys.stderr,
    )
    if failures:
        return EXIT_OUTPUT_FAILED
    if stop.is_set():
        return interrupted_exit(stop)
    return EXIT_OK if result.complete and not skipped_work(result.skipped) else EXIT_INCOMPLETE


def run_sweep_command(args: argparse.Namespace, out: TextIO) -> int:
    """The `sweep` command: check outputs, build the spec, solve through the store, print,
    export."""
    require_writable([("--csv", args.csv), ("--layers-csv", args.layers_csv)])
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
    progress = ProgressBar(sys.stderr, "layers")
    try:
        with stop_on_signals() as stop:
            if args.scheduler:
                with dask_executor(args.scheduler) as executor:
                    result = run_sweep(spec, executor, store, progress, stop)
            else:
                result = run_sweep(spec, None, store, progress, stop, jobs=args.jobs)
    except SweepError as error:
        report_error(error, sys.stderr)
        return EXIT_INCOMPLETE
    finally:
        store.close()
    frame = result.points_frame(args.pareto)
    print(format_point_table(frame), file=out)
    print(format_sweep_summary(result, args.pareto), file=out)
    failures = write_outputs(
        [
            ("--csv", args.csv, lambda path: write_frame(frame, path)),
            (
                "--layers-csv",
                args.layers_csv,
                lambda path: write_frame(result.layers_frame(), path),
            ),
        ],
        sys.stderr,
    )
    if failures:
        return EXIT_OUTPUT_FAILED
    if stop.is_set():
        return interrupted_exit(stop)
    complete = result.complete and all(p.network.complete for p in result.points)
    return EXIT_OK if complete else EXIT_INCOMPLETE


#: Subcommand name -> function(args, stdout) -> exit code.
COMMANDS = {"map": run_map, "sweep": run_sweep_command, "report": campaign.run_report}


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
        report_error(error, sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROGRAM}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # a bug: still no traceback unless asked for
        logger.debug("unexpected error", exc_info=True)
        message = " / ".join(error_lines(error))[:MAX_ERROR_LINE_CHARS]
        print(
            f"{PROGRAM}: internal error: {type(error).__name__}: {message} "
            "(run with -vv for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
