"""Real-browser tests: the dashboard served by `streamlit run`, driven by headless chromium.

1. Moves a hardware slider, maps the tiny workload on the tiny hardware, waits for the latency
   chart, downloads the per-layer CSV and the HTML report (whose bars, opened in the browser,
   are drawn in more than one colour), reloads the page and finds its settings kept.
2. Uploads a hardware YAML whose description holds a Markdown image: it reads as text and the
   browser never requests the image.
3. Maps the tiny layers with the MIP, moves a slider and watches the Optimize page answer with
   a complete provisional figure (seeded from the stored answers of the design before the
   move) and then the final one, the moved variant named.
4. (slow) Cancels a ResNet-18 run once some layers are solved: they are kept.

Skips cleanly without playwright or /usr/bin/chromium.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest

from miredo_core.store import STORE_ENV, ResultStore
from ui.server import CHROMIUM, CHROMIUM_ARGS, REPO_ROOT, serve_dashboard

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed"),
]

CHART = "[data-testid='stPlotlyChart'] .main-svg"
TIMEOUT_MS = 30_000


@contextlib.contextmanager
def dashboard_page(tmp_path: Path):
    """A dashboard server on a store of its own (never the user's) and a fresh chromium page:
    yields (url, page); both are closed on exit."""
    store = {STORE_ENV: str(tmp_path / "results.sqlite3")}
    with serve_dashboard(store) as url, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.set_default_timeout(TIMEOUT_MS)
            yield url, page
        finally:
            browser.close()


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
    """The value of the one metric labelled `label` (a page replacing its live view by the final
    answer shows both for a moment)."""
    metric = page.get_by_test_id("stMetric").filter(has_text=label)
    sync_api.expect(metric).to_have_count(1, timeout=TIMEOUT_MS)
    return metric.get_by_test_id("stMetricValue").inner_text()


@pytest.mark.slow
def test_slider_optimize_and_csv_download(tmp_path: Path) -> None:
    with dashboard_page(tmp_path) as (url, page):
        page.goto(url)
        page.get_by_role("heading", name="MIREDO Studio").wait_for()

        open_page(page, "Hardware")
        choose(page, "Start from a sample", "tiny.yaml")
        peak = "Peak MACs/cycle"
        page.get_by_text(re.compile(r"^Design: tiny \(as loaded from sample tiny")).wait_for()
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
        choose(page, "Objective", "edp")
        choose(page, "Mapper", "ws")
        page.get_by_role("button", name="Optimize", exact=True).click()
        page.get_by_role("button", name="Download per-layer CSV").wait_for()  # the answer
        page.locator(CHART).first.wait_for()
        assert re.search(r"\d kcycles$", metric_value(page, "Network latency"))
        main = page.get_by_test_id("stMainBlockContainer")
        main.get_by_text(re.compile(r"^Hardware: tiny\[cores=3\] \(cores 2 → 3")).wait_for()

        with page.expect_download() as download_info:
            page.get_by_role("button", name="Download per-layer CSV").click()
        path = tmp_path / "layers.csv"
        download_info.value.save_as(path)
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith("layer,mapper,objective,status,macs,R,S,P,Q,C,K,G,N")
        assert "hardware_hash" in lines[0] and "gap_fraction" in lines[0]
        assert len(lines) == 6 and all("tiny[cores=3]" in line for line in lines[1:])
        with ResultStore(tmp_path / "results.sqlite3") as written:  # one per layer shape
            assert len(written) == 5

        settings_survive_a_reload(page)
        report_colours(page, tmp_path)


def report_colours(page, tmp_path: Path) -> None:
    """Download the HTML report, open it offline and read the colours of its bars."""
    open_page(page, "Reports")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Report with figures (HTML, offline)").click()
    path = tmp_path / "report.html"
    download_info.value.save_as(path)
    page.goto(path.as_uri())
    page.locator(".main-svg").first.wait_for()
    fills = page.evaluate(
        "() => [...document.querySelectorAll('.barlayer .trace')].map("
        "t => t.querySelector('path') && getComputedStyle(t.querySelector('path')).fill)"
        ".filter(Boolean)"
    )
    assert len(fills) > 1 and len(set(fills)) > 1, fills  # not all one colour (nor black)
    assert "rgb(0, 0, 0)" not in fills


def settings_survive_a_reload(page) -> None:
    """The Optimize settings and the moved slider, read back from the URL by a new session."""
    open_page(page, "Optimize")
    objective = page.get_by_role("combobox", name="Objective", exact=True)
    sync_api.expect(objective).to_have_value("edp", timeout=TIMEOUT_MS)
    page.wait_for_url(re.compile(r"objective=edp"), timeout=TIMEOUT_MS)
    assert "cores=3" in page.url
    page.reload()
    page.get_by_role("heading", name="Optimize", exact=True).wait_for()
    sync_api.expect(objective).to_have_value("edp", timeout=TIMEOUT_MS)
    mapper = page.get_by_role("combobox", name="Mapper", exact=True)
    sync_api.expect(mapper).to_have_value("ws", timeout=TIMEOUT_MS)
    main = page.get_by_test_id("stMainBlockContainer")
    main.get_by_text(re.compile(r"^Hardware: tiny\[cores=3\] \(cores 2 → 3")).wait_for()


IMAGE_URL_PATH = "/pixel.png"


def test_markdown_image_in_a_description_is_text_and_fetches_nothing(tmp_path: Path) -> None:
    hardware = (REPO_ROOT / "sample_configs" / "hardware" / "tiny.yaml").read_text("utf-8")
    with dashboard_page(tmp_path) as (url, page):
        image = f"![pixel]({url}{IMAGE_URL_PATH})"
        evil = hardware.replace(
            "description: 2 cores, 4x4 macro", f"description: '{image} 2 cores, 4x4 macro"
        ).replace("exhaustive-search tests", "exhaustive-search tests'")
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(url)
        open_page(page, "Hardware")
        page.locator("input[type=file]").first.set_input_files(
            files=[{"name": "evil.yaml", "mimeType": "application/yaml",
                    "buffer": evil.encode("utf-8")}]
        )  # fmt: skip
        page.get_by_text(image, exact=False).first.wait_for()
        assert page.locator("img[src$='pixel.png']").count() == 0
        assert not [seen for seen in requested if seen.endswith(IMAGE_URL_PATH)]


#: Records every text the page has shown (Streamlit replaces elements in place).
RECORD_TEXTS = """() => {
  window.__texts = new Set();
  const record = () => {
    for (const node of document.querySelectorAll('[data-testid=stAlert], [data-testid=stDataFrame]'
        + ', [data-testid=stCaptionContainer]')) { window.__texts.add(node.innerText); }
  };
  new MutationObserver(record).observe(document.body, {subtree: true, childList: true});
}"""


def seen(page, text: str) -> bool:
    return page.evaluate("(text) => [...window.__texts].some(t => t.includes(text))", text)


def start_on_tiny(page, url: str) -> None:
    page.goto(url)
    page.get_by_role("heading", name="MIREDO Studio").wait_for()
    open_page(page, "Hardware")
    choose(page, "Start from a sample", "tiny.yaml")
    sync_api.expect(page.get_by_label("DRAM bandwidth (bits/cycle)")).to_have_value("16")
    open_page(page, "Workload")
    page.get_by_text("Sample workload file", exact=True).click()
    page.get_by_role("heading", name=re.compile("^tiny_layers")).wait_for()


def test_slider_move_shows_a_provisional_figure_then_the_final_one(tmp_path: Path) -> None:
    with dashboard_page(tmp_path) as (url, page):
        start_on_tiny(page, url)
        open_page(page, "Optimize")
        page.get_by_role("button", name="Optimize", exact=True).click()
        main = page.get_by_test_id("stMainBlockContainer")
        final = re.compile(r"^All figures: tiny \(as loaded")
        main.get_by_text(final).wait_for(timeout=120_000)  # the MIP's answer, 2 cores

        page.evaluate(RECORD_TEXTS)
        open_page(page, "Hardware")
        slider = page.get_by_role("slider").first  # Cores: 2 -> 3
        slider.focus()
        slider.press("ArrowRight")
        page.get_by_text(re.compile(r"^Design: tiny\[cores=3\]")).wait_for()
        open_page(page, "Optimize")  # it follows the hardware: the new run starts itself
        moved = re.compile(r"^All figures: tiny\[cores=3\] \(cores 2 → 3")
        main.get_by_text(moved).wait_for(timeout=120_000)
        page.locator(CHART).first.wait_for()
        assert seen(page, "Provisional answer: 0 of 5 layers final")
        # The layers came from the design before the move, re-evaluated on 3 cores.
        assert seen(page, "neighbour cores 2 (mip)")
        assert not main.get_by_text("Provisional answer:").count()  # replaced by the final
        assert "Mcycles" in metric_value(page, "Network latency") or "kcycles" in (
            metric_value(page, "Network latency")
        )


@pytest.mark.slow
def test_cancel_keeps_the_layers_already_solved(tmp_path: Path) -> None:
    with dashboard_page(tmp_path) as (url, page):
        page.goto(url)
        open_page(page, "Optimize")  # ResNet-18 on the 8-core sample, MIP: a long run
        page.get_by_role("button", name="Optimize", exact=True).click()
        progress = page.get_by_text(re.compile(r"^mapping: [1-9]\d*/21 layers"))
        progress.wait_for(timeout=300_000)
        solved = int(re.search(r"mapping: (\d+)/", progress.inner_text()).group(1))
        page.get_by_role("button", name="Cancel", exact=True).click()
        page.get_by_text("Cancelling…").first.wait_for()
        warning = page.get_by_text(re.compile(r"^Cancelled: \d+ layers keep their answer"))
        warning.wait_for(timeout=300_000)
        kept = int(re.search(r"Cancelled: (\d+) layers", warning.inner_text()).group(1))
        assert kept >= solved
        assert metric_value(page, "Network latency").endswith("cycles")  # complete totals
        page.locator(CHART).first.wait_for()
