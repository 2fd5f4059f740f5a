"""ResNet-18 on the paper's default 8-core template: the engine per preset and objective vs WS.

For each (objective, preset): wall time of the whole network (distinct shapes solved once, in
--jobs processes), and per layer the status, the gap to the proven lower bound, and the ratio
WS / engine of the objective; then the network totals and the network EDP gain over WS. Also
the median time of re-optimizing one layer with the interactive preset (the dashboard's slider
case) and how far interactive lands from thorough per layer.

    python bench/resnet18.py [--objectives latency,energy,edp] [--presets interactive,balanced]
                             [--jobs 2] [--layers Conv_1,Conv_16]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from miredo_core import (  # noqa: E402
    Network,
    SolveOptions,
    get_network,
    load_hardware,
    map_network,
)

VALUE = {"latency": "latency_cycles", "energy": "energy_pj", "edp": "edp_pj_cycles"}


def network_value(result, objective: str) -> float:
    summary = result.summary()
    return summary[VALUE[objective]]


def run(hw, network, objective, preset, jobs):
    start = time.monotonic()
    result = map_network(hw, network, objective, "mip", SolveOptions(preset=preset), jobs=jobs)
    return result, time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objectives", default="latency,energy,edp")
    parser.add_argument("--presets", default="interactive,balanced")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--layers", default="", help="comma-separated subset of layer names")
    args = parser.parse_args()
    hw = load_hardware(ROOT / "sample_configs" / "hardware" / "default_8core.yaml")
    network = get_network("resnet18")
    if args.layers:
        wanted = args.layers.split(",")
        network = Network("resnet18-subset", tuple(network.layer(n) for n in wanted))
    ws = map_network(hw, network, mapper="ws")
    ws_frame = ws.to_frame().set_index("layer")
    by_preset = {}
    for objective in args.objectives.split(","):
        column = VALUE[objective]
        for preset in args.presets.split(","):
            result, wall = run(hw, network, objective, preset, args.jobs)
            frame = result.to_frame().set_index("layer")
            by_preset[(objective, preset)] = frame
            ratio = ws_frame[column] / frame[column]
            print(f"\n== objective {objective}, preset {preset}: wall {wall:.1f} s with "
                  f"{args.jobs} jobs ==")  # fmt: skip
            print(f"{'layer':8} {'status':10} {'gap':>7} {column:>16} {'WS/engine':>10} "
                  f"{'solve_s':>8}")  # fmt: skip
            for name, row in frame.iterrows():
                print(f"{name:8} {row['status']:10} {row['gap']:7.1%} {row[column]:16.6g} "
                      f"{ratio[name]:10.3f} {row['solve_time_s']:8.2f}")  # fmt: skip
            worse = [n for n in frame.index if ratio[n] < 1 - 1e-9]
            print(f"network {column}: engine {network_value(result, objective):.6g}, "
                  f"WS {network_value(ws, objective):.6g}, gain "
                  f"{network_value(ws, objective) / network_value(result, objective):.2f}x; "
                  f"network EDP gain over WS {ws.summary()['edp_pj_cycles'] / result.summary()['edp_pj_cycles']:.2f}x; "  # noqa: E501
                  f"layers worse than WS: {worse or 'none'}")  # fmt: skip
            times = [t for t in frame["solve_time_s"] if t > 0]
            print(f"per distinct layer solve time: median {statistics.median(times):.2f} s, "
                  f"max {max(times):.2f} s")  # fmt: skip
    for objective in args.objectives.split(","):
        if (objective, "interactive") in by_preset and (objective, "thorough") in by_preset:
            fast = by_preset[(objective, "interactive")][VALUE[objective]]
            best = by_preset[(objective, "thorough")][VALUE[objective]]
            excess = (fast / best - 1).max()
            print(f"{objective}: interactive is at most {excess:.1%} above thorough per layer")


if __name__ == "__main__":
    main()
