"""Campaign tables: what a result store holds about whole networks, summarised per network.

A campaign maps every layer of a suite of networks for some objectives and leaves the answers
in a `ResultStore` (bench/paper_suite.py runs one, possibly over several sessions). This module
only reads: `stored_network_result` rebuilds a network's `NetworkResult` from the store under a
`network.Run` (objective, mapper, options) (a layer
not yet solved is reported "cancelled" with the reason "not in the result store"; nothing is
solved), every mapping re-evaluated by `cost_model.evaluate` as the store does on every read.
`summarize` turns it into one `NetworkSummary` row: layers and distinct shapes, how many are
certified within the gap tolerance and exactly (gap of floating-point noise), the worst gap,
the solve time of the certified shapes (time to certificate), the network totals and the gain
over the weight-stationary baseline, which is recomputed (a fixed rule, no search).

Counts of layers count every layer (repeated shapes included, as the paper's 174 does); counts
of shapes count each distinct `Layer.shape_key()` once. The gain over WS is WS's network value of
the objective divided by ours (>1: we are better), with network EDP = total latency x total
energy as in `results`.

`PAPER_FIGURES` holds the figures the MIREDO authors report for their extended evaluation
(reference miredo-model.md section 5.2): they are the paper's, measured with the paper's models
and its baselines, and are printed beside ours only for orientation.
"""

from __future__ import annotations

import dataclasses
import html
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from miredo_core.config import load_hardware
from miredo_core.hardware import Hardware
from miredo_core.kinds import OBJECTIVES, Status, objective_value
from miredo_core.mapping import InfeasibleMappingError
from miredo_core.network import MAPPERS, Run, map_network
from miredo_core.results import LayerResult, NetworkResult
from miredo_core.search.engine import PRESETS, SolveOptions, within_tolerance
from miredo_core.store import ResultStore, hardware_hash, problem_key
from miredo_core.workload import Network
from miredo_core.zoo import CNN, REGISTRY, load_workload

NOT_STORED = "not in the result store"
SAMPLE_HARDWARE_DIR = Path(__file__).resolve().parent.parent / "sample_configs" / "hardware"


@dataclass(frozen=True)
class PaperFigures:
    """One network's figures in the MIREDO authors' extended evaluation (section 5.2)."""

    conv_layers: int | None
    edp_gain_vs_zigzag: float
    latency_speedup_vs_zigzag: float | None
    edp_gain_vs_ws: float | None = None


PAPER_FIGURES: dict[str, PaperFigures] = {
    "resnet18": PaperFigures(20, 1.22, 1.61),
    "vgg19_bn": PaperFigures(16, 1.12, 2.93, edp_gain_vs_ws=27.67),
    "alexnet": PaperFigures(5, 1.08, 2.32),
    "mobilenet_v2": PaperFigures(52, 1.16, 1.28),
    "efficientnet_b0": PaperFigures(81, 1.21, 1.33),
    "bert_base": PaperFigures(None, 1.68, None),
    "gpt2_medium_block": PaperFigures(None, 6.19, None),
    "tinyllama_block": PaperFigures(None, 1.10, None),
}
#: The paper's whole CNN suite: 174 layers, 95 with a proven zero EDP gap, 22-24 h on 16 cores.
PAPER_CNN_LAYERS = 174
PAPER_CNN_EXACT_EDP = 95


#: Layer kinds the paper's CNN suite counts as its conv layers (the fc heads are left out).
CONV_KINDS = frozenset({"conv", "depthwise", "squeeze_excite"})


def campaign_network(spec: str, all_layers: bool = False) -> Network:
    """The layers a campaign maps: for a built-in CNN its convolutions only, as the paper's
    174-layer count does (unless `all_layers`); any other workload as it is."""
    network = load_workload(spec)
    name = spec.split("[", 1)[0] if isinstance(spec, str) else ""
    entry = REGISTRY.get(name)
    if all_layers or entry is None or entry.family != CNN:
        return network
    convs = tuple(layer for layer in network.layers if layer.kind in CONV_KINDS)
    return Network(network.name, convs)


def template_path(network_name: str) -> Path:
    """The sample hardware a built-in network is mapped on in the paper's evaluation."""
    name = network_name.split("[", 1)[0]
    if name not in REGISTRY:
        raise ValueError(f"{network_name!r} is not a built-in network; give the hardware file")
    path = SAMPLE_HARDWARE_DIR / f"{REGISTRY[name].template}.yaml"
    if not path.is_file():
        raise ValueError(f"sample hardware {path} not found; give the hardware file")
    return path


def stored_network_result(
    store: ResultStore, hw: Hardware, network: Network, run: Run
) -> NetworkResult:
    """`network` as the store knows it on `hw` under the run's objective, mapper and options;
    solves nothing (and simulates nothing: `run.simulate` is not read).

    A copy of a shape gets the stored answer under its own name with `reused_from` set and
    solve time 0, as `network.map_network` reports copies.
    """
    objective, mapper = run.objective, run.mapper
    hw_hash = hardware_hash(hw)
    keys = [problem_key(hw_hash, layer, objective, mapper, run.options) for layer in network.layers]
    answers = store.get_many(keys)
    first: dict[str, str] = {}
    results: list[LayerResult] = []
    for layer, key in zip(network.layers, keys, strict=True):
        answer = answers.get(key.digest)
        result = None
        if answer is not None:
            try:
                result = answer.to_result(hw, layer, mapper, objective)
            except InfeasibleMappingError:
                result = None  # the model changed since: as good as absent
        if result is None:
            results.append(LayerResult(layer, mapper, objective, Status.CANCELLED, None, None,
                                       reason=NOT_STORED))  # fmt: skip
            continue
        origin = first.setdefault(key.digest, layer.name)
        if origin != layer.name:
            result = dataclasses.replace(result, reused_from=origin, solve_time_s=0.0)
        results.append(result)
    return NetworkResult(hw.name, network.name, tuple(results))


@dataclass(frozen=True)
class NetworkSummary:
    """One campaign row; see the module docstring for what each count counts."""

    network: str
    hardware: str
    objective: str
    mapper: str
    layers: int
    distinct_shapes: int
    stored_layers: int
    certified_layers: int
    exact_layers: int
    certified_shapes: int
    exact_shapes: int
    worst_gap: float
    """Largest gap over stored layers with a proven bound (NaN if none has one)."""
    certificate_time_total_s: float
    """Solve time summed over the certified distinct shapes."""
    certificate_time_median_s: float
    solve_time_total_s: float
    """Solve time summed over every stored distinct shape."""
    latency_cycles: float
    energy_pj: float
    edp_pj_cycles: float
    ws_latency_cycles: float
    ws_energy_pj: float
    ws_edp_pj_cycles: float
    gain_over_ws: float
    """WS's network value of the objective / ours."""


def _gap(result: LayerResult) -> float:
    return float(result.search.gap)


def summarize(
    result: NetworkResult, baseline: NetworkResult, gap_tolerance: float = 0.01
) -> NetworkSummary:
    """The campaign row of `result` (from the store), with `baseline` the WS mapping."""
    layers = result.layer_results
    stored = [r for r in layers if r.reason != NOT_STORED]
    certified = [r for r in stored if within_tolerance(_gap(r), gap_tolerance)]
    exact = [r for r in certified if within_tolerance(_gap(r), 0.0)]
    solved_shapes = [r for r in stored if not r.reused_from]
    certified_shapes = [r for r in certified if not r.reused_from]
    times = [r.solve_time_s for r in certified_shapes]
    gaps = [_gap(r) for r in stored if not math.isnan(_gap(r))]
    objective = layers[0].objective
    ours = objective_value(result, objective) if result.complete else math.nan
    theirs = objective_value(baseline, objective) if baseline.complete else math.nan
    return NetworkSummary(
        network=result.network_name,
        hardware=result.hardware_name,
        objective=objective,
        mapper=layers[0].mapper,
        layers=len(layers),
        distinct_shapes=len({r.layer.shape_key() for r in layers}),
        stored_layers=len(stored),
        certified_layers=len(certified),
        exact_layers=len(exact),
        certified_shapes=len(certified_shapes),
        exact_shapes=sum(not r.reused_from for r in exact),
        worst_gap=max(gaps) if gaps else math.nan,
        certificate_time_total_s=float(sum(times)),
        certificate_time_median_s=statistics.median(times) if times else math.nan,
        solve_time_total_s=float(sum(r.solve_time_s for r in solved_shapes)),
        latency_cycles=result.latency_cycles,
        energy_pj=result.energy_pj,
        edp_pj_cycles=result.edp_pj_cycles,
        ws_latency_cycles=baseline.latency_cycles,
        ws_energy_pj=baseline.energy_pj,
        ws_edp_pj_cycles=baseline.edp_pj_cycles,
        gain_over_ws=theirs / ours if ours > 0 else math.nan,
    )


def network_summary(
    store: ResultStore, hw: Hardware, network: Network, run: Run
) -> tuple[NetworkSummary, NetworkResult]:
    """The campaign row of one network under the run's objective, mapper and options, and the
    stored result it summarises (`stored_network_result`)."""
    result = stored_network_result(store, hw, network, run)
    baseline = map_network(hw, network, run.objective, "ws")
    return summarize(result, baseline, run.options.gap_tolerance), result


SUMMARY_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(NetworkSummary))


def summary_frame(summaries: Iterable[NetworkSummary]) -> pd.DataFrame:
    """One row per (network, objective), columns SUMMARY_COLUMNS."""
    rows = [dataclasses.asdict(summary) for summary in summaries]
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


PAPER_COLUMNS: tuple[str, ...] = (
    "network", "paper_conv_layers", "our_layers", "paper_edp_gain_vs_zigzag",
    "paper_latency_speedup_vs_zigzag", "paper_edp_gain_vs_ws", "our_edp_gain_vs_ws",
    "our_latency_gain_vs_ws", "our_certified_layers_edp",
)  # fmt: skip


def paper_comparison_frame(summaries: Sequence[NetworkSummary]) -> pd.DataFrame:
    """Side by side per network: the paper's figures (`paper_*`, the paper's own models and
    baselines) and ours (`our_*`, this tool against its WS baseline). NaN: not reported."""
    by_key = {(s.network, s.objective): s for s in summaries}
    rows = []
    for network in dict.fromkeys(s.network for s in summaries):
        paper = PAPER_FIGURES.get(network)
        edp, latency = by_key.get((network, "edp")), by_key.get((network, "latency"))
        any_row = edp or latency

        def figure(value: float | None) -> float:
            return math.nan if value is None else float(value)

        rows.append({
            "network": network,
            "paper_conv_layers": figure(paper and paper.conv_layers),
            "our_layers": any_row.layers,
            "paper_edp_gain_vs_zigzag": figure(paper and paper.edp_gain_vs_zigzag),
            "paper_latency_speedup_vs_zigzag": figure(paper and paper.latency_speedup_vs_zigzag),
            "paper_edp_gain_vs_ws": figure(paper and paper.edp_gain_vs_ws),
            "our_edp_gain_vs_ws": edp.gain_over_ws if edp else math.nan,
            "our_latency_gain_vs_ws": latency.gain_over_ws if latency else math.nan,
            "our_certified_layers_edp": edp.certified_layers if edp else math.nan,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=list(PAPER_COLUMNS))


PAPER_NOTE = (
    "paper_* columns are the MIREDO authors' figures (extended evaluation, reference section "
    "5.2: Gurobi, their cost model, gains over ZigZag-IMC and their WS heuristic); our_* "
    "columns are this tool's, against its own weight-stationary baseline. The cost models, "
    "baselines and some layer dims differ (for instance AlexNet's 55x55 is not bumped to 56), "
    "so the columns are for orientation, not a like-for-like comparison."
)


def _frame_html(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, na_rep="-", float_format=lambda v: f"{v:.4g}", escape=True)


def campaign_html(
    title: str, summaries: pd.DataFrame, comparison: pd.DataFrame, layers: pd.DataFrame
) -> str:
    """A standalone HTML page: the campaign rows, the paper comparison and the layer table."""
    return "\n".join([
        "<!DOCTYPE html>",
        f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #bbb;padding:2px 6px;text-align:right}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<h2>Campaign</h2>", _frame_html(summaries),
        "<h2>Beside the paper</h2>", f"<p>{html.escape(PAPER_NOTE)}</p>", _frame_html(comparison),
        "<h2>Layers</h2>", _frame_html(layers),
        "</body></html>",
    ])  # fmt: skip


# ----------------------------------------------------------------------------- `miredo report`
LAYER_COLUMNS: tuple[str, ...] = (
    "layer", "objective", "status", "gap", "solve_time_s", "latency_cycles", "energy_pj",
    "edp_pj_cycles", "reused_from", "reason",
)  # fmt: skip
DEFAULT_OBJECTIVES: tuple[str, ...] = ("latency", "edp")


def add_report_parser(commands) -> None:
    """Register `miredo report` on the CLI's subparsers."""
    report = commands.add_parser(
        "report",
        help="the campaign table of one network from a result store (CSV, HTML)",
        description="Reads the answers a campaign (bench/paper_suite.py, `miredo sweep`) left "
        "in the store for the given mapper and options; solves nothing. Layers not yet in the "
        "store are counted as missing.",
    )
    report.add_argument("--store", required=True, metavar="PATH", help="result store file")
    report.add_argument("--network", required=True, metavar="NAME|FILE.onnx|FILE.yaml")
    report.add_argument(
        "--hardware", metavar="PATH", help="hardware YAML (default: the network's template)"
    )
    report.add_argument(
        "--objective", action="append", choices=OBJECTIVES,
        help="repeatable (default: latency and edp)",
    )  # fmt: skip
    report.add_argument("--mapper", choices=sorted(MAPPERS), default="mip")
    report.add_argument("--preset", choices=tuple(PRESETS), default="thorough")
    report.add_argument("--time-limit", type=float, metavar="SECONDS")
    report.add_argument("--gap-tolerance", type=float, default=0.01, metavar="FRACTION")
    report.add_argument(
        "--all-layers", action="store_true", help="a built-in CNN's fc layers too (not only convs)"
    )
    report.add_argument("--csv", metavar="OUT.csv", help="write the campaign rows as CSV")
    report.add_argument("--html", metavar="OUT.html", help="write the campaign page as HTML")


def run_report(args, out) -> int:
    """The `report` command; errors are the CLI's user errors (ValueError, OSError, ...)."""
    if not Path(args.store).is_file():
        raise ValueError(f"result store {args.store} not found; give the --store of a campaign")
    network = campaign_network(args.network, args.all_layers)
    hw = load_hardware(Path(args.hardware) if args.hardware else template_path(network.name))
    options = SolveOptions(
        preset=args.preset, time_limit_s=args.time_limit, gap_tolerance=args.gap_tolerance
    )
    summaries, layer_frames = [], []
    with ResultStore(args.store) as store:
        for objective in args.objective or DEFAULT_OBJECTIVES:
            run = Run(objective, args.mapper, options)
            summary, result = network_summary(store, hw, network, run)
            summaries.append(summary)
            layer_frames.append(result.to_frame()[list(LAYER_COLUMNS)])
    frame = summary_frame(summaries)
    comparison = paper_comparison_frame(summaries)
    print(frame.set_index("objective").T.to_string(), file=out)
    print(file=out)
    print(comparison.to_string(index=False, na_rep="-"), file=out)
    print(PAPER_NOTE, file=out)
    if args.csv:
        frame.to_csv(args.csv, index=False)
    if args.html:
        title = f"Campaign: {network.name} on {hw.name} ({args.mapper}, {args.preset})"
        page = campaign_html(title, frame, comparison, pd.concat(layer_frames, ignore_index=True))
        Path(args.html).write_text(page, encoding="utf-8")
    return 0
