"""Dashboard responsiveness without a browser: one hardware slider move, then re-mapping.

Times the call path the Hardware and Optimize pages take (ui.state / ui.cached, no Streamlit
server): the new hardware text from the base YAML and the slider values, its canonical form,
submitting the run to the shared job store (spawn-context worker pool) and waiting for the
result; then moving the slider back, which the result cache answers at once. Runs use a fresh
result store in a temporary directory, so every move is solved (and the user's store is left
alone).

    python bench/dashboard.py [--mapper ws] [--network resnet18] [--repeats 5]

The page itself polls running jobs every ui.jobs.POLL_SECONDS, so a user sees a result up to
that much later than the "solve" figure below.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ui import cached  # noqa: E402
from ui.axes import read_axes  # noqa: E402
from ui.jobs import (  # noqa: E402
    BUILTIN,
    DEFAULT_PRESET,
    POLL_SECONDS,
    RunRequest,
    WorkloadSpec,
    option_names,
)

HARDWARE = ROOT / "sample_configs" / "hardware" / "default_8core.yaml"


def request_for(
    base_text: str, axes: dict, workload: WorkloadSpec, mapper: str, store: str
) -> RunRequest:
    """What the Optimize page builds after a slider move (ui.state.run_request), with the
    benchmark's own result store."""
    text = cached.hardware_variant_text(base_text, tuple(sorted(axes.items())))
    options = tuple(sorted((name, DEFAULT_PRESET if name == "preset" else "highs")
                           for name in option_names(mapper)))  # fmt: skip
    return RunRequest(cached.canonical_hardware_text(text), workload, mapper, "latency", True,
                      options, store)  # fmt: skip


def solve(base_text: str, axes: dict, workload: WorkloadSpec, mapper: str, store: str) -> float:
    """Seconds from the slider value to the finished result."""
    start = time.perf_counter()
    job = cached.start_run(request_for(base_text, axes, workload, mapper, store), "bench")
    while not job.done():
        time.sleep(0.005)
    result, message = job.outcome()
    if result is None:
        raise SystemExit(f"run failed: {message}")
    return time.perf_counter() - start


def measure(args: argparse.Namespace, store: str) -> None:
    base_text = HARDWARE.read_text(encoding="utf-8")
    axes = read_axes(cached.hardware_from_text(base_text))
    workload = WorkloadSpec(BUILTIN, args.network, args.network)

    start = time.perf_counter()
    job_store = cached.job_store()
    started = time.perf_counter() - start
    first = solve(base_text, axes, workload, args.mapper, store)
    print(f"{args.network} on {HARDWARE.name}, mapper {args.mapper}, simulator on")
    print(f"worker pool start (once per server):        {started:8.3f} s")
    print(f"first run, cold workers (once per server):  {first:8.3f} s")

    moves, backs = [], []
    for repeat in range(args.repeats):
        # A fresh core count every repeat, so every move is a cache miss.
        moved = {**axes, "cores": axes["cores"] + 1 + repeat}
        moves.append(solve(base_text, moved, workload, args.mapper, store))
        backs.append(solve(base_text, axes, workload, args.mapper, store))
    print(f"slider move + re-map (median of {args.repeats}):     {statistics.median(moves):8.3f} s"
          f"   (min {min(moves):.3f}, max {max(moves):.3f})")  # fmt: skip
    print(f"slider back, cached result (median):        {statistics.median(backs):8.5f} s")
    print(f"page polling adds at most                   {POLL_SECONDS:8.3f} s")
    del job_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mapper", default="ws")
    parser.add_argument("--network", default="resnet18")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("streamlit"):
            logging.getLogger(name).setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="miredo-bench-") as directory:
        measure(args, str(Path(directory) / "results.sqlite3"))


if __name__ == "__main__":
    main()
