"""Dashboard responsiveness with the dashboard's default settings (mapper mip, preset
interactive, solver highs, objective latency, simulator on), on ResNet-18 and default_8core.

Measured on the call path the Optimize page takes (ui.state / ui.cached, no Streamlit server),
with a fresh result store in a temporary directory:

1. the final answer of the sample design, cold store (every layer solved), and its network
   latency over the certified optimum (tests/data/resnet18_certified.json, per layer shape);
2. per slider move (global buffer 256 -> 128 KiB, cores 8 -> 4, DRAM bandwidth 64 -> 128,
   ...): the time to the complete provisional network figure (`ui.cached.live_answer`: nearest
   stored designs re-evaluated, else WS), then the time to the final answer;
3. with `--browser` (needs playwright and /usr/bin/chromium): a real `streamlit run` server;
   new tabs open the Hardware page, first with the server idle, then while another tab's
   Optimize solve (cold store) runs; the time from opening a tab to its metrics being drawn.
   Each is timed for a tab of the first tab's window (the browser's cache holds the
   dashboard's scripts: a user's second tab) and for a tab in a fresh browser profile (a
   private window or another browser: every script is fetched again).

    python bench/dashboard.py [--network resnet18] [--repeats 3] [--browser | --browser-only]

The live panel polls a running job every ui.live.LIVE_POLL_SECONDS, so a user sees a layer
turn final up to that much later than it is stored.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from miredo_core import get_network  # noqa: E402
from ui import cached  # noqa: E402
from ui.axes import read_axes  # noqa: E402
from ui.jobs import BUILTIN, DEFAULT_PRESET, RunRequest, WorkloadSpec  # noqa: E402
from ui.live import LIVE_POLL_SECONDS  # noqa: E402

HARDWARE = ROOT / "sample_configs" / "hardware" / "default_8core.yaml"
CERTIFIED = ROOT / "tests" / "data" / "resnet18_certified.json"
#: Browser window size of every tab the bench opens.
VIEWPORT = {"viewport": {"width": 1280, "height": 1400}}
#: Slider moves, in the order they are measured (each from the sample design).
MOVES = (("gb_kib", 128), ("cores", 4), ("dram_bw", 128), ("ibuf_kib", 16), ("macro_rows", 64))


def request_for(base_text: str, axes: dict, workload: WorkloadSpec, store: str) -> RunRequest:
    """What the Optimize page builds with its default settings (ui.state.run_request)."""
    text = cached.hardware_variant_text(base_text, tuple(sorted(axes.items())))
    options = (("preset", DEFAULT_PRESET), ("solver", "highs"))
    return RunRequest(cached.canonical_hardware_text(text), workload, "mip", "latency", True,
                      options, store)  # fmt: skip


def final(request: RunRequest):
    """(seconds from submitting the run to its answer, the NetworkResult)."""
    start = time.perf_counter()
    job = cached.start_run(request, "bench")
    while not job.done():
        time.sleep(0.005)
    result, message = job.outcome()
    if result is None:
        raise SystemExit(f"run failed: {message}")
    return time.perf_counter() - start, result


def certified_ratio(result, network_name: str) -> float | None:
    """Network latency over the certified optimum (sum over layers of their shape's optimum);
    None when the file does not certify this network on the sample hardware."""
    data = json.loads(CERTIFIED.read_text(encoding="utf-8"))
    if data["network"] != network_name or data["hardware"] != HARDWARE.stem:
        return None
    network = get_network(network_name)
    by_name = {layer.name: layer for layer in network.layers}
    optimum = {by_name[item["layer"]].shape_key(): item["value"]
               for item in data["optima"] if item["objective"] == "latency"}  # fmt: skip
    total = sum(optimum[layer.shape_key()] for layer in network.layers)
    return result.latency_cycles / total


def measure(args: argparse.Namespace, store: str) -> None:
    base_text = HARDWARE.read_text(encoding="utf-8")
    axes = read_axes(cached.hardware_from_text(base_text))
    workload = WorkloadSpec(BUILTIN, args.network, args.network)
    load = os.getloadavg()[0]
    print(f"{args.network} on {HARDWARE.name}: mapper mip, preset {DEFAULT_PRESET}, solver "
          f"highs, objective latency, simulator on; load average {load:.2f}")  # fmt: skip
    start = time.perf_counter()
    cached.job_store()
    print(f"worker pool start (once per server):        {time.perf_counter() - start:8.3f} s")

    base = request_for(base_text, axes, workload, store)
    seconds, result = final(base)
    ratio = certified_ratio(result, args.network)
    print(f"final answer, sample design, cold store:    {seconds:8.3f} s"
          f"   ({sum(r.status == 'optimal' for r in result.layer_results)} of "
          f"{len(result.layer_results)} layers optimal)")  # fmt: skip
    if ratio is not None:
        print(f"final latency / certified optimum:          {ratio:8.4f}")
    known = (base.hardware_text,)
    provisional_s, final_s = [], []
    for axis, value in MOVES[: args.repeats]:
        moved = request_for(base_text, {**axes, axis: value}, workload, store)
        start = time.perf_counter()
        answer = cached.live_answer(moved, known)
        provisional_s.append(time.perf_counter() - start)
        complete = all(r.feasible for r in answer.result.layer_results)
        neighbours = sum(source.startswith("neighbour") for source in answer.sources)
        seconds, result = final(moved)
        final_s.append(seconds)
        print(f"  {axis} -> {value}: provisional {provisional_s[-1]:.3f} s (complete: {complete},"
              f" {neighbours}/{len(answer.sources)} layers from stored neighbours, latency "
              f"{answer.result.latency_cycles / result.latency_cycles:.3f}x final), final "
              f"{seconds:.3f} s")  # fmt: skip
    print(f"slider move -> provisional figure (median of {len(provisional_s)}): "
          f"{statistics.median(provisional_s):8.3f} s")  # fmt: skip
    print(f"slider move -> final answer (median):       {statistics.median(final_s):8.3f} s")
    print(f"the page's live panel polls every           {LIVE_POLL_SECONDS:8.3f} s")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


def _new_tab_seconds(opener, url: str) -> float:
    """Seconds from opening a new tab on the Hardware page to its metrics being drawn. `opener`
    is the first tab's browser context (a tab of the same browser window: it shares the HTTP
    cache, so the dashboard's scripts are not fetched again) or the browser (a tab in a fresh
    profile, as a private window or another browser: everything is fetched)."""
    from playwright.sync_api import BrowserContext

    page = opener.new_page(**({} if isinstance(opener, BrowserContext) else VIEWPORT))
    page.set_default_timeout(120_000)
    start = time.perf_counter()
    page.goto(f"{url}/hardware")
    page.get_by_test_id("stMetric").filter(has_text="Peak MACs/cycle").wait_for()
    seconds = time.perf_counter() - start
    page.close()
    return seconds


def second_tab(args: argparse.Namespace, directory: str) -> None:
    """New tabs rendering the Hardware page with the server idle, then while another tab's
    Optimize solve runs (the difference is what the solve costs the other tabs)."""
    from playwright.sync_api import sync_playwright

    from miredo_core import STORE_ENV
    from ui.server import CHROMIUM, CHROMIUM_ARGS, serve_dashboard

    env = {STORE_ENV: str(Path(directory) / "browser.sqlite3")}
    with serve_dashboard(env) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            window = browser.new_context(**VIEWPORT)
            first = window.new_page()
            first.set_default_timeout(120_000)
            first.goto(f"{url}/optimize")
            first.get_by_role("button", name="Optimize", exact=True).wait_for()
            _new_tab_seconds(browser, url)  # the server's first page of each kind is cold
            openers = {"same window": window, "fresh profile": browser}
            for kind, opener in openers.items():
                idle = [_new_tab_seconds(opener, url) for _ in range(args.repeats)]
                print(f"browser: new tab ({kind}), Hardware page drawn, no solve (median of "
                      f"{len(idle)}): {statistics.median(idle):.3f} s  {_rounded(idle)}, load "
                      f"average {os.getloadavg()[0]:.2f}")  # fmt: skip
            first.get_by_role("button", name="Optimize", exact=True).click()
            start = time.perf_counter()
            first.get_by_text("Provisional answer:").first.wait_for()
            print(f"browser: Optimize pressed -> provisional figure: "
                  f"{time.perf_counter() - start:.3f} s (cold store: WS)")  # fmt: skip
            # Alternate the two kinds, so that both see the same phases of the solve.
            busy: dict[str, list[float]] = {kind: [] for kind in openers}
            for _ in range(args.repeats):
                for kind, opener in openers.items():
                    seconds = _new_tab_seconds(opener, url)
                    if first.get_by_role("button", name="Download per-layer CSV").count():
                        break  # the solve had ended: this tab is not counted
                    busy[kind].append(seconds)
                else:
                    continue
                print("  (the solve ended before the last tabs; those are not counted)")
                break
            for kind, times in busy.items():
                if times:
                    print(f"browser: second tab ({kind}) during a solve (median of "
                          f"{len(times)}): {statistics.median(times):.3f} s  {_rounded(times)}, "
                          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
        finally:
            browser.close()


def _rounded(values: list[float]) -> list[float]:
    return [round(value, 2) for value in values]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="resnet18")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--browser", action="store_true", help="also time a second tab")
    parser.add_argument("--browser-only", action="store_true", help="only time a second tab")
    args = parser.parse_args()
    for name in ["streamlit", *logging.root.manager.loggerDict]:
        if name.startswith("streamlit"):
            logging.getLogger(name).setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="miredo-bench-") as directory:
        if not args.browser_only:
            measure(args, str(Path(directory) / "results.sqlite3"))
        if args.browser or args.browser_only:
            second_tab(args, directory)


if __name__ == "__main__":
    main()
