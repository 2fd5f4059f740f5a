"""One real-browser test: the dashboard served by `streamlit run`, driven by headless chromium.

Moves a hardware slider, maps the tiny workload on the tiny hardware, waits for the latency
chart and downloads the per-layer CSV. Skips cleanly without playwright or /usr/bin/chromium.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from miredo_core.store import STORE_ENV, ResultStore
from ui.server import CHROMIUM, CHROMIUM_ARGS, serve_dashboard

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed"),
]

CHART = "[data-testid='stPlotlyChart'] .main-svg"
TIMEOUT_MS = 30_000


def open_page(page, title: str) -> None:
    page.get_by_role("link", name=title, exact=True).click()
    page.get_by_role("heading", name=title, exact=True).wait_for(timeout=TIMEOUT_MS)


def choose(page, label: str, option: str) -> None:
    """Pick an option of the st.selectbox whose label is `label`."""
    combobox = page.get_by_role("combobox", name=label, exact=True)
    combobox.click()
    page.get_by_role("option", name=option, exact=True).click()
    sync_api.expect(combobox).to_have_value(option, timeout=TIMEOUT_MS)


def metric_value(page, label: str) -> str:
    metric = page.get_by_test_id("stMetric").filter(has_text=label)
    return metric.get_by_test_id("stMetricValue").inner_text()


def test_slider_optimize_and_csv_download(tmp_path: Path) -> None:
    # The server and its solver workers use a store of their own, never the user's.
    store = {STORE_ENV: str(tmp_path / "results.sqlite3")}
    with serve_dashboard(store) as url, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url)
            page.get_by_role("heading", name="MIREDO Studio").wait_for()

            open_page(page, "Hardware")
            choose(page, "Start from a sample", "tiny.yaml")
            peak = "Peak MACs/cycle"
            page.get_by_text(re.compile(r"^Design: tiny\. ")).wait_for()
            # The last input of the form shows tiny.yaml's value once the rerun has landed; a
            # slider moved earlier would send the other inputs' stale values with it.
            sync_api.expect(page.get_by_label("DRAM bandwidth (bits/cycle)")).to_have_value("16")
            before = metric_value(page, peak)
            slider = page.get_by_role("slider").first  # the Cores slider, 2 on tiny.yaml
            slider.focus()
            slider.press("ArrowRight")
            page.wait_for_function(
                "([label, old]) => [...document.querySelectorAll('[data-testid=stMetric]')]"
                ".some(m => m.innerText.includes(label) && !m.innerText.includes(old))",
                arg=[peak, before],
            )
            assert metric_value(page, peak) != before  # 2 -> 3 cores: 4 -> 6 MACs/cycle

            open_page(page, "Workload")
            page.get_by_text("Sample workload file", exact=True).click()
            page.get_by_role("heading", name=re.compile("^tiny_layers")).wait_for()

            open_page(page, "Optimize")
            choose(page, "Mapper", "ws")
            page.get_by_role("button", name="Optimize", exact=True).click()
            page.locator(CHART).first.wait_for()
            assert re.search(r"\d", metric_value(page, "Network latency"))

            with page.expect_download() as download_info:
                page.get_by_role("button", name="Download per-layer CSV").click()
            path = tmp_path / "layers.csv"
            download_info.value.save_as(path)
            lines = path.read_text(encoding="utf-8").splitlines()
            assert lines[0].startswith("layer,mapper,objective,status,macs,latency_cycles")
            assert len(lines) == 6 and all("tiny[cores=3]" in line for line in lines[1:])
            with ResultStore(store[STORE_ENV]) as written:  # one answer per layer shape
                assert len(written) == 5
        finally:
            browser.close()
