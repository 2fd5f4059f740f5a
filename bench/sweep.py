"""A 3x3 hardware sweep (cores x global-buffer size) of ResNet-18 through the result store.

Runs the sweep twice on one fresh store: cold (everything solved, in --jobs worker processes)
and warm (everything read back from the store and re-evaluated by the cost model). Prints both
wall times and their ratio (the warm run must be at least 20x faster), how many solves the
deduplication of repeated layer shapes saved, the per-point table with its Pareto column, and
whether the warm table equals the cold one.

    python bench/sweep.py [--cores 4,8,16] [--gb-kib 128,256,512] [--preset interactive]
                          [--objective edp] [--jobs 2] [--store PATH]

--store defaults to a new temporary file, so the first run is really cold.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from miredo_core import (  # noqa: E402
    ResultStore,
    SolveOptions,
    SweepSpec,
    get_network,
    load_hardware,
    parse_axis,
    run_sweep,
)

REQUIRED_SPEEDUP = 20.0


def timed_run(spec: SweepSpec, store: ResultStore, jobs: int):
    start = time.perf_counter()
    result = run_sweep(spec, store=store, jobs=jobs)
    return result, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", default="4,8,16")
    parser.add_argument("--gb-kib", default="128,256,512")
    parser.add_argument("--preset", default="interactive")
    parser.add_argument("--objective", default="edp")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--store", help="store file (default: a new temporary file)")
    args = parser.parse_args()
    spec = SweepSpec(
        hardware=load_hardware(ROOT / "sample_configs" / "hardware" / "default_8core.yaml"),
        axes=(parse_axis(f"cores={args.cores}"), parse_axis(f"gb_kib={args.gb_kib}")),
        network=get_network("resnet18"),
        objective=args.objective,
        mapper="mip",
        options=SolveOptions(preset=args.preset),
    )
    with tempfile.TemporaryDirectory() as scratch:
        path = args.store or str(Path(scratch) / "results.sqlite3")
        with ResultStore(path) as store:
            cold, cold_s = timed_run(spec, store, args.jobs)
            warm, warm_s = timed_run(spec, store, args.jobs)
    stats = cold.stats
    print(f"sweep: {stats.points} points (cores={args.cores} x gb_kib={args.gb_kib}) of "
          f"resnet18 ({len(spec.network.layers)} layers), mapper mip, preset {args.preset}, "
          f"objective {args.objective}, {args.jobs} jobs")  # fmt: skip
    print(f"layer problems {stats.layer_problems}, distinct {stats.distinct_problems}: "
          f"{stats.saved_by_dedup} MIP solves saved by deduplication "
          f"({stats.saved_by_dedup / stats.layer_problems:.0%})")  # fmt: skip
    print(f"cold: {cold_s:8.2f} s wall, {stats.store_hits} store hits, {stats.solved} solved, "
          f"{cold.layers_frame()['solve_time_s'].sum():.1f} s of solver time")  # fmt: skip
    print(f"warm: {warm_s:8.2f} s wall, {warm.stats.store_hits} store hits, "
          f"{warm.stats.solved} solved")  # fmt: skip
    speedup = cold_s / warm_s
    verdict = "ok" if speedup >= REQUIRED_SPEEDUP else f"BELOW the required {REQUIRED_SPEEDUP:g}x"
    print(f"warm speed-up: {speedup:.0f}x ({verdict})")
    same = cold.points_frame().equals(warm.points_frame())
    print(f"warm points table equals cold: {same}")
    statuses = cold.layers_frame().drop_duplicates(["point", "layer"])["status"].value_counts()
    print("layer statuses:", ", ".join(f"{k} {v}" for k, v in statuses.items()))
    print()
    print(cold.points_frame().drop(columns="hardware").to_string(index=False))
    return 0 if speedup >= REQUIRED_SPEEDUP and same else 1


if __name__ == "__main__":
    sys.exit(main())
