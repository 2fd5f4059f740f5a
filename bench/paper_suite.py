"""The paper's whole evaluation, certified: its 174 CNN conv layers and three transformer blocks.

Maps every layer of the suite (resnet18 20, vgg19_bn 16, alexnet 5, mobilenet_v2 52 and
efficientnet_b0 81 convs on sample_configs/hardware/default_8core.yaml; bert_base,
gpt2_medium_block and tinyllama_block on transformer_16core.yaml) with the mapping engine for
each objective, through a result store: answers already in the store are not solved again, so a
campaign interrupted (Ctrl-C) or spread over several runs resumes where it stopped. Then prints
per network and objective the campaign row (`miredo_core.campaign`: layers, distinct shapes,
certified within the gap tolerance and exactly, worst gap, total and median time to
certificate, network latency / energy / EDP and the gain over WS), the CNN suite's totals
against the issue's targets, and a side-by-side table with the paper's figures (its numbers,
its models; ours beside them for orientation only). `miredo report --store PATH --network NAME`
renders the same rows later from the store alone.

    python bench/paper_suite.py --store campaign.sqlite3 [--networks resnet18,alexnet]
        [--objectives latency,edp] [--preset thorough] [--jobs 1] [--limit N]
        [--time-limit SECONDS] [--gap-tolerance 0.01]

--limit N maps only the first N distinct layer shapes of each network (a quick check);
--time-limit caps each layer's search and certification budget (SolveOptions.time_limit_s).
Wall times depend on the machine and its load; the store's solve times are those of the run
that solved each shape.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from miredo_core import (  # noqa: E402
    PAPER_CNN_EXACT_EDP,
    PAPER_CNN_LAYERS,
    PAPER_NOTE,
    PRESETS,
    Network,
    NetworkSummary,
    ResultStore,
    Run,
    SolveOptions,
    campaign_network,
    load_hardware,
    map_network,
    network_summary,
    paper_comparison_frame,
    process_pool,
    summary_frame,
    template_path,
)

CNN_SUITE = ("resnet18", "vgg19_bn", "alexnet", "mobilenet_v2", "efficientnet_b0")
TRANSFORMER_SUITE = ("bert_base", "gpt2_medium_block", "tinyllama_block")
SUITE = CNN_SUITE + TRANSFORMER_SUITE
ROW_COLUMNS = (
    "network", "objective", "layers", "distinct_shapes", "stored_layers", "certified_layers",
    "exact_layers", "certified_shapes", "worst_gap", "certificate_time_total_s",
    "certificate_time_median_s", "latency_cycles", "energy_pj", "edp_pj_cycles", "gain_over_ws",
)  # fmt: skip


def _first_shapes(network: Network, limit: int | None) -> Network:
    """The layers of `network` whose shape is among its first `limit` distinct shapes."""
    if limit is None:
        return network
    kept: list[tuple] = []
    for layer in network.layers:
        if layer.shape_key() not in kept and len(kept) < limit:
            kept.append(layer.shape_key())
    return Network(
        network.name, tuple(layer for layer in network.layers if layer.shape_key() in kept)
    )


def _progress(label: str):
    def report(done: int, total: int, name: str) -> None:
        print(f"  [{label}] {done}/{total} {name}", file=sys.stderr, flush=True)

    return report


def _parse_list(text: str, choices: tuple[str, ...], what: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in text.split(",") if item.strip())
    unknown = [item for item in items if item not in choices]
    if unknown or not items:
        raise SystemExit(f"paper_suite: unknown {what} {unknown or text!r}; choose from "
                         f"{', '.join(choices)}")  # fmt: skip
    return items


def run_campaign(args: argparse.Namespace) -> list[NetworkSummary]:
    """Solve what the store lacks, network by network; returns the campaign rows."""
    options = SolveOptions(preset=args.preset, time_limit_s=args.time_limit,
                           gap_tolerance=args.gap_tolerance)  # fmt: skip
    summaries = []
    with ResultStore(args.store) as store, process_pool(args.jobs) as pool:
        for name in args.networks:
            network = _first_shapes(campaign_network(name), args.limit)
            hw = load_hardware(template_path(name))
            for objective in args.objectives:
                start = time.monotonic()
                progress = _progress(f"{name} {objective}")
                # A crashed solve fails its own layer only (never stored, so a rerun retries it):
                # one layer must not end a campaign of hours.
                map_network(hw, network, objective, "mip", options, store=store,
                            executor=pool, progress=progress)  # fmt: skip
                wall_s = time.monotonic() - start
                summary, result = network_summary(store, hw, network,
                                                  Run(objective, "mip", options))  # fmt: skip
                failed = [r.layer.name for r in result.layer_results if not r.feasible]
                print(f"{name} {objective}: {summary.stored_layers}/{summary.layers} layers in "
                      f"the store, {summary.certified_layers} certified, wall {wall_s:.1f} s this "
                      f"run; without a mapping: {failed or 'none'}", flush=True)  # fmt: skip
                summaries.append(summary)
    return summaries


def _suite_totals(summaries: list[NetworkSummary]) -> str:
    """The CNN suite's EDP certification against the targets, and the transformers' shapes."""
    lines = []
    for objective in dict.fromkeys(s.objective for s in summaries):
        cnn = [s for s in summaries if s.objective == objective and s.network in CNN_SUITE]
        if cnn:
            layers = sum(s.layers for s in cnn)
            line = (
                f"CNN suite, {objective}: {sum(s.certified_layers for s in cnn)} of {layers} "
                f"layers certified within tolerance, {sum(s.exact_layers for s in cnn)} exactly; "
                f"solve time of the stored shapes {sum(s.solve_time_total_s for s in cnn):.0f} s"
            )
            if objective == "edp":  # the target and the paper's figure are EDP's
                line += (" (target: >= 170 of 174 within 1 %; the paper: "
                         f"{PAPER_CNN_EXACT_EDP} of {PAPER_CNN_LAYERS} exactly)")  # fmt: skip
            lines.append(line)
        for s in summaries:
            if s.objective == objective and s.network in TRANSFORMER_SUITE:
                share = s.certified_shapes / s.distinct_shapes
                lines.append(f"{s.network}, {objective}: {s.certified_shapes} of "
                             f"{s.distinct_shapes} distinct shapes certified ({share:.0%}; "
                             "target >= 90 %)")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="result store file (created if absent)")
    parser.add_argument("--networks", default=",".join(SUITE))
    parser.add_argument("--objectives", default="latency,edp")
    parser.add_argument("--preset", choices=tuple(PRESETS), default="thorough")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--limit", type=int, help="first N distinct shapes per network only")
    parser.add_argument("--time-limit", type=float, help="per-layer budget cap in seconds")
    parser.add_argument("--gap-tolerance", type=float, default=0.01)
    args = parser.parse_args()
    args.networks = _parse_list(args.networks, SUITE, "network")
    args.objectives = _parse_list(args.objectives, ("latency", "energy", "edp"), "objective")
    try:
        summaries = run_campaign(args)
    except KeyboardInterrupt:
        print("paper_suite: interrupted; the answers so far are in the store, run the same "
              "command again to resume", file=sys.stderr)  # fmt: skip
        sys.exit(130)
    frame = summary_frame(summaries)
    with pd.option_context("display.width", 250, "display.max_columns", None):
        print("\n== campaign (ours) ==")
        print(frame[list(ROW_COLUMNS)].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        print("\n" + _suite_totals(summaries))
        print("\n== beside the paper ==")
        comparison = paper_comparison_frame(summaries)
        print(comparison.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.3g}"))
        print(PAPER_NOTE)


if __name__ == "__main__":
    main()
