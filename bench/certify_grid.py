"""Certified optima of the distinct ResNet-18 shapes across a hardware grid.

The grid is `default_8core.yaml` and six neighbours that differ from it in one axis
(`miredo_core.variants`): cores 4 and 16, compartment depth 1 and 2, macro rows 64, macro
ping-pong on. For every (point, shape, objective) the `thorough` preset is solved, and the
`interactive` one for comparison. Per point it prints: shapes certified within the tolerance,
median and max time to the certificate, the worst gap, the candidate floor bound over the
optimum at the certified optima (how much of the optimum the candidate-level bound explains),
and interactive's value and proven gap.

Then, over the whole grid, the thorough pairs certified within the tolerance, and those of
them certified within 60 s.

Results are cached in `--out`/results.json as they finish, so a rerun skips finished cases;
`--verify` re-solves cached cases instead and reports any difference in mapping, bound or
status (with `--busy`, next to a CPU-bound process, to show answers do not depend on load).
`--write FILE` saves every certified answer of the points, layers and objectives run as
regression figures (tests/data/resnet18_grid_certified.json, read by tests/test_engine_grid.py),
keeping the file's other entries.

    python bench/certify_grid.py [--out bench_out/grid] [--points default,cores=4]
        [--layers Conv_1,Conv_16] [--objectives latency,edp] [--workers 2]
        [--presets thorough,interactive] [--verify] [--busy] [--write FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from miredo_core import (  # noqa: E402
    SolveOptions,
    apply_variant,
    get_network,
    load_hardware,
    solve_layer,
    spatial_bound,
)

HARDWARE = ROOT / "sample_configs" / "hardware" / "default_8core.yaml"
#: The grid: the default and its one-axis neighbours, as (name, axis, value).
POINTS = (
    ("default", None, None),
    ("cores=4", "cores", 4),
    ("cores=16", "cores", 16),
    ("compartment_depth=1", "compartment_depth", 1),
    ("compartment_depth=2", "compartment_depth", 2),
    ("macro_rows=64", "macro_rows", 64),
    ("ping_pong=on", "ping_pong", True),
)


def hardware(point: str):
    hw = load_hardware(HARDWARE)
    _, axis, value = next(p for p in POINTS if p[0] == point)
    return hw if axis is None else apply_variant(hw, axis, value)


def distinct_layers(names: list[str] | None) -> list:
    """The distinct ResNet-18 layer shapes, restricted to `names` when given."""
    layers = get_network("resnet18").distinct_layers()
    return [layer for layer in layers if not names or layer.name in names]


def solve(point, layer, objective, preset, workers, tolerance) -> dict:
    hw = hardware(point)
    start = time.monotonic()
    options = SolveOptions(preset=preset, workers=workers, gap_tolerance=tolerance)
    result = solve_layer(hw, layer, objective, options)
    floor = math.nan
    if result.mapping is not None:
        floor = spatial_bound(hw, layer, result.mapping.spatial, objective) / result.value
    return {
        "status": result.status,
        "value": result.value,
        "lower_bound": result.lower_bound,
        "gap": result.gap,
        "seconds": time.monotonic() - start,
        "floor_over_value": floor,
        "nodes": result.certify_nodes,
        "mapping": result.mapping.to_dict() if result.mapping else None,
    }


class Cache:
    """Finished cases in a JSON file, written after every case."""

    def __init__(self, path: Path):
        self.path = path
        self.rows = json.loads(path.read_text()) if path.exists() else {}

    def put(self, key: str, row: dict) -> None:
        self.rows[key] = row
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.rows, indent=1, sort_keys=True))
        tmp.replace(self.path)


def same_answer(a: dict, b: dict) -> bool:
    return all(a[k] == b[k] for k in ("status", "value", "lower_bound", "mapping"))


#: Seconds per shape within which a thorough certificate counts for the grid's target.
TARGET_S = 60.0


def certified(row: dict, tolerance: float) -> bool:
    return row["gap"] <= tolerance * (1 + 1e-9) + 1e-9


def report(cache: Cache, points, layers, objectives, tolerance) -> None:
    total = proven = in_time = 0
    for point in points:
        for objective in objectives:
            rows = [(layer.name, cache.rows.get(f"{point}|{layer.name}|{objective}|thorough"),
                     cache.rows.get(f"{point}|{layer.name}|{objective}|interactive"))
                    for layer in layers]  # fmt: skip
            done = [(n, t, i) for n, t, i in rows if t is not None]
            if not done:
                quick = [i for _, _, i in rows if i is not None]
                if quick:
                    gaps = [i["gap"] for i in quick]
                    print(f"{point:20} {objective:7} interactive only ({len(quick)} shapes): "
                          f"proven gap median {100 * statistics.median(gaps):.1f} % max "
                          f"{100 * max(gaps):.1f} %, time median "
                          f"{statistics.median(i['seconds'] for i in quick):.1f} s max "
                          f"{max(i['seconds'] for i in quick):.1f} s")  # fmt: skip
                continue
            proven_rows = [t for _, t, _ in done if certified(t, tolerance)]
            total += len(done)
            proven += len(proven_rows)
            in_time += sum(t["seconds"] <= TARGET_S for t in proven_rows)
            times = [t["seconds"] for t in proven_rows] or [math.nan]
            floors = [t["floor_over_value"] for t in proven_rows] or [math.nan]
            line = (
                f"{point:20} {objective:7} certified {len(proven_rows)}/{len(done)}; "
                f"time median {statistics.median(times):.1f} s max {max(times):.1f} s; "
                f"worst gap {100 * max(t['gap'] for _, t, _ in done):.2f} %; "
                f"floor/optimum min {min(floors):.3f} median {statistics.median(floors):.3f}"
            )
            quick = [(t, i) for _, t, i in done if i is not None]
            if quick:
                gaps = [i["gap"] for _, i in quick]
                close = sum(i["value"] <= 1.03 * t["value"] for t, i in quick if t in proven_rows)
                line += (f"; interactive gap median {100 * statistics.median(gaps):.1f} % "
                         f"max {100 * max(gaps):.1f} %, within 3 % of the optimum "
                         f"{close}/{len(quick)}, time max "
                         f"{max(i['seconds'] for _, i in quick):.1f} s")  # fmt: skip
            print(line)
    if total:
        print(f"\nthorough over the grid: certified {proven}/{total} "
              f"({100 * proven / total:.1f} %), {in_time} of them within {TARGET_S:.0f} s "
              f"({100 * in_time / total:.1f} %)")  # fmt: skip


def write_figures(cache: Cache, path: Path, points, layers, objectives, tolerance) -> int:
    """Save every certified answer of the grid's `points`, `layers` and `objectives` as
    regression figures, keeping the entries of an existing file that this run does not cover;
    returns how many answers the file holds."""
    covered = {(p, layer.name, o) for p in points for layer in layers for o in objectives}
    kept = []
    if path.exists():
        kept = [e for e in json.loads(path.read_text())["optima"]
                if (e["point"], e["layer"], e["objective"]) not in covered]  # fmt: skip
    optima = []
    for point in points:
        _, axis, value = next(p for p in POINTS if p[0] == point)
        for layer in layers:
            for objective in objectives:
                for preset in ("interactive", "thorough"):
                    row = cache.rows.get(f"{point}|{layer.name}|{objective}|{preset}")
                    if row is None or row["status"] != "optimal" or not certified(row, tolerance):
                        continue
                    optima.append({"point": point, "axis": axis, "value_of_axis": value,
                                   "layer": layer.name, "objective": objective,
                                   "preset": preset, "status": row["status"],
                                   "value": row["value"],
                                   "lower_bound": row["lower_bound"]})  # fmt: skip
    data = {
        "hardware": "default_8core",
        "network": "resnet18",
        "tolerance": tolerance,
        "source": "python bench/certify_grid.py --presets interactive,thorough --write "
                  "(answers certified within the tolerance; thorough with 2 certifier workers, "
                  "the CLI default on 2 CPUs)",
        "optima": kept + optima,
    }  # fmt: skip
    path.write_text(json.dumps(data, indent=1) + "\n")
    return len(data["optima"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench_out/certify_grid")
    parser.add_argument("--points", default=",".join(p[0] for p in POINTS))
    parser.add_argument("--layers", default="", help="comma-separated subset of layer names")
    parser.add_argument("--objectives", default="latency,edp")
    parser.add_argument("--presets", default="thorough,interactive")
    parser.add_argument("--workers", type=int, default=2, help="certifier processes per shape")
    parser.add_argument("--tolerance", type=float, default=0.01)
    parser.add_argument(
        "--verify",
        action="store_true",
        help="re-solve cached cases and compare instead of skipping them",
    )
    parser.add_argument("--busy", action="store_true",
                        help="run a CPU-bound process beside the solves")  # fmt: skip
    parser.add_argument("--write", default="",
                        help="save the grid's certified answers to this JSON file")  # fmt: skip
    args = parser.parse_args()
    points = args.points.split(",")
    layers = distinct_layers(args.layers.split(",") if args.layers else None)
    objectives = args.objectives.split(",")
    cache = Cache(Path(args.out) / "results.json")
    busy = None
    if args.busy:
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    differences = 0
    try:
        for point in points:
            for objective in objectives:
                for layer in layers:
                    for preset in args.presets.split(","):
                        key = f"{point}|{layer.name}|{objective}|{preset}"
                        if key in cache.rows and not args.verify:
                            continue
                        row = solve(point, layer, objective, preset, args.workers,
                                    args.tolerance)  # fmt: skip
                        if key in cache.rows:
                            same = same_answer(row, cache.rows[key])
                            differences += not same
                            print(
                                f"{key}: {'identical' if same else 'DIFFERENT'} "
                                f"({row['status']}, {row['value']:.6g}, "
                                f"bound {row['lower_bound']:.6g}, {row['seconds']:.1f} s)"
                            )
                            continue
                        cache.put(key, row)
                        print(f"{key}: {row['status']} {row['value']:.6g} bound "
                              f"{row['lower_bound']:.6g} gap {100 * row['gap']:.2f} % "
                              f"{row['seconds']:.1f} s", flush=True)  # fmt: skip
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    print()
    report(cache, points, layers, objectives, args.tolerance)
    if args.verify:
        print(f"\nanswers different from the cache: {differences}")
    if args.write:
        count = write_figures(cache, Path(args.write), points, layers, objectives,
                              args.tolerance)  # fmt: skip
        print(f"\n{args.write} holds {count} certified answers")


if __name__ == "__main__":
    main()
