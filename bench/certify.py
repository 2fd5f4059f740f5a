"""Certified optima of every distinct ResNet-18 layer shape on the paper's default 8-core template.

For each objective and distinct layer shape, runs the engine with the `thorough` preset (a short
order search, then the certifier of `search/certify.py` over every spatial candidate) and prints
the best mapping's value, the proven lower bound, the gap, the status and the time to the
certificate (the whole solve: search, certification and the final MIP re-solve). By default one
shape is solved at a time and its certifier uses --workers 2 processes (2 cores per shape).

With --write, the certified optima (value, bound and mapping) are saved as regression figures for
`tests/test_certify.py`.

    python bench/certify.py [--objectives latency,energy,edp] [--jobs 1] [--workers 2]
                            [--tolerance 0.01] [--layers Conv_1,Conv_16]
                            [--write tests/data/resnet18_certified.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from miredo_core import SolveOptions, get_network, load_hardware, process_pool, solve_layer  # noqa: E402

HARDWARE = ROOT / "sample_configs" / "hardware" / "default_8core.yaml"


def distinct_layers(names: list[str] | None) -> list:
    """The distinct ResNet-18 layer shapes, restricted to `names` when given."""
    layers = get_network("resnet18").distinct_layers()
    return [layer for layer in layers if not names or layer.name in names]


def solve(task):
    layer, objective, preset, workers, tolerance = task
    hw = load_hardware(HARDWARE)
    start = time.monotonic()
    options = SolveOptions(preset=preset, workers=workers, gap_tolerance=tolerance)
    result = solve_layer(hw, layer, objective, options)
    return {
        "layer": layer.name,
        "objective": objective,
        "status": result.status,
        "value": result.value,
        "lower_bound": result.lower_bound,
        "gap": result.gap,
        "seconds": time.monotonic() - start,
        "certified_candidates": result.certified_candidates,
        "candidates_total": result.candidates_total,
        "nodes": result.certify_nodes,
        "mapping": result.mapping.to_dict() if result.mapping else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objectives", default="latency,energy,edp")
    parser.add_argument("--preset", default="thorough")
    parser.add_argument("--jobs", type=int, default=1, help="layer shapes solved at once")
    parser.add_argument("--workers", type=int, default=2,
                        help="certifier processes per layer shape")  # fmt: skip
    parser.add_argument("--tolerance", type=float, default=0.01,
                        help="gap that counts as optimal; 0 proves exact optima")  # fmt: skip
    parser.add_argument("--layers", default="", help="comma-separated subset of layer names")
    parser.add_argument("--write", default="", help="save the certified optima to this JSON file")
    args = parser.parse_args()
    layers = distinct_layers(args.layers.split(",") if args.layers else None)
    objectives = args.objectives.split(",")
    tasks = [(layer, objective, args.preset, args.workers, args.tolerance)
             for objective in objectives for layer in layers]  # fmt: skip
    start = time.monotonic()
    with process_pool(args.jobs) as pool:
        rows = list(pool.map(solve, tasks))
    wall = time.monotonic() - start
    print(f"default_8core, ResNet-18, {len(layers)} distinct shapes, preset {args.preset}, "
          f"{args.jobs} shape(s) at a time x {args.workers} certifier process(es), "
          f"gap tolerance {args.tolerance:g}, "
          f"wall {wall:.0f} s")  # fmt: skip
    for objective in objectives:
        print(f"\n{objective}")
        print(f"{'layer':8} {'value':>12} {'lower bound':>12} {'gap %':>7} {'status':10} "
              f"{'time s':>7} {'certified':>9} {'nodes':>11}")  # fmt: skip
        mine = [r for r in rows if r["objective"] == objective]
        for r in mine:
            print(f"{r['layer']:8} {r['value']:12.6g} {r['lower_bound']:12.6g} "
                  f"{100 * r['gap']:7.3f} {r['status']:10} {r['seconds']:7.1f} "
                  f"{r['certified_candidates']:4d}/{r['candidates_total']:<4d} "
                  f"{r['nodes']:11,d}")  # fmt: skip
        times = [r["seconds"] for r in mine]
        optimal = sum(r["status"] == "optimal" for r in mine)
        worst = 100 * max(r["gap"] for r in mine)
        slow = sum(t > 60 for t in times)
        print(f"optimal {optimal}/{len(mine)}; worst gap {worst:.3f} %; "
              f"time to certificate median {statistics.median(times):.1f} s, "
              f"max {max(times):.1f} s; shapes over 60 s: {slow}")  # fmt: skip
    if args.write:
        figures = [
            {k: r[k] for k in ("layer", "objective", "status", "value", "lower_bound", "mapping")}
            for r in rows
            if r["status"] == "optimal"
        ]
        Path(args.write).parent.mkdir(parents=True, exist_ok=True)
        Path(args.write).write_text(json.dumps({"hardware": "default_8core",
                                                "network": "resnet18",
                                                "tolerance": args.tolerance,
                                                "optima": figures}, indent=1) + "\n")  # fmt: skip
        print(f"\nwrote {len(figures)} certified optima to {args.write}")


if __name__ == "__main__":
    main()
