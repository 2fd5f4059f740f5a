"""Screenshots of the dashboard's main pages for the README's "Dashboard tour".

Serves the app with `streamlit run` (like the browser test), drives headless chromium through
Hardware, Workload, Optimize (the MIP mapper on ResNet-18 and the paper's default 8-core
template; then the global buffer moved to 128 KiB, caught while the provisional answer shows),
Compare and Design space, and writes docs/dashboard_*.png at 1280x1400. The server
uses a fresh result store in a temporary directory, so the pictures show real solves (and
the user's store is left alone).

    python scripts/screenshots.py [--out docs]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from miredo_core import STORE_ENV  # noqa: E402
from ui.server import CHROMIUM, CHROMIUM_ARGS, serve_dashboard  # noqa: E402

CHART = "[data-testid='stPlotlyChart'] .main-svg"
VIEWPORT = {"width": 1280, "height": 1400}
SOLVE_TIMEOUT_MS = 300_000


def open_page(page, title: str) -> None:
    page.get_by_role("link", name=title, exact=True).click()
    page.get_by_role("heading", name=title, exact=True).wait_for()


def choose(page, label: str, option: str) -> None:
    combobox = page.get_by_role("combobox", name=label, exact=True)
    combobox.click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(combobox).to_have_value(option)


def settle(page) -> None:
    """Let the last rerun and Plotly's transitions finish before the picture: the app's
    "running" indicator gone, then a moment for the transitions."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=120_000
    )
    page.wait_for_timeout(1500)


def shoot(page, out: Path, name: str, running: bool = False) -> None:
    """`running`: the page polls a solve, so it never settles; only wait for transitions."""
    if running:
        page.wait_for_timeout(1500)
    else:
        settle(page)
    path = out / f"dashboard_{name}.png"
    page.screenshot(path=str(path))
    print(f"wrote {path}")


def tour(page, out: Path) -> None:
    open_page(page, "Hardware")
    page.get_by_text(re.compile(r"^Design: default_8core \(")).wait_for()
    page.get_by_role("slider").first.wait_for(state="attached")
    shoot(page, out, "hardware")

    open_page(page, "Workload")
    page.get_by_role("heading", name=re.compile("^resnet18")).wait_for()
    shoot(page, out, "workload")

    open_page(page, "Optimize")
    choose(page, "Mapper", "mip")
    choose(page, "Quality preset", "interactive")
    page.get_by_role("button", name="Optimize", exact=True).click()
    # The final answer, not the provisional figure shown while the mapper runs.
    page.get_by_role("button", name="Download per-layer CSV").wait_for(timeout=SOLVE_TIMEOUT_MS)
    page.locator(CHART).first.wait_for()
    shoot(page, out, "optimize")
    page.get_by_text("Layer to inspect").scroll_into_view_if_needed()
    page.locator(CHART).nth(4).wait_for()
    shoot(page, out, "optimize_loop_nest")
    page.get_by_text("Memory levels of this mapping").scroll_into_view_if_needed()
    shoot(page, out, "optimize_memory_levels")

    # A slider move: the provisional figure from the stored neighbours, then the final answer.
    open_page(page, "Hardware")
    buffer = page.get_by_label("Global buffer (KiB)")
    buffer.fill("128")
    buffer.press("Enter")
    page.get_by_text(re.compile(r"^Design: default_8core\[gb_kib=128\]")).wait_for()
    open_page(page, "Optimize")
    page.get_by_text("Provisional answer:").first.wait_for()
    page.locator(CHART).first.wait_for()
    shoot(page, out, "optimize_provisional", running=True)
    page.get_by_role("button", name="Download per-layer CSV").wait_for(timeout=SOLVE_TIMEOUT_MS)

    open_page(page, "Compare")
    page.get_by_role("button", name="Compare", exact=True).click()
    page.locator(CHART).first.wait_for(timeout=SOLVE_TIMEOUT_MS)
    shoot(page, out, "compare")

    open_page(page, "Design space")
    choose(page, "Mapper", "ws")  # the picture needs points, not certified answers
    page.get_by_role("button", name="Run sweep", exact=True).click()
    page.locator(CHART).first.wait_for(timeout=SOLVE_TIMEOUT_MS)
    shoot(page, out, "design_space")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="miredo-screenshots-") as store_dir,
        serve_dashboard({STORE_ENV: str(Path(store_dir) / "results.sqlite3")}) as url,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(60_000)
            page.goto(url)
            page.get_by_role("heading", name="MIREDO Studio").wait_for()
            tour(page, args.out.resolve())
        finally:
            browser.close()


if __name__ == "__main__":
    main()
