"""The Optimize page while its mapper runs: a complete provisional answer at once, refined layer
by layer as the mapper's answers arrive, in a fragment that reruns on its own.

The fragment (`st.fragment(run_every=...)`) reruns only itself: the rest of the page, and every
other session, is not re-run at each poll. Its figure is always complete: layers without a
final answer show their provisional mapping (`ui.provisional`), faded and named with their
source. When every job has ended it reruns the whole page, which then shows the final answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
import streamlit as st

from ui import cached, charts, frames, state, views, widgets
from ui.cached import Job
from ui.jobs import RunRequest
from ui.provisional import FINAL_SOURCE, Provisional, refine
from ui.text import escape_markdown, format_cycles, format_energy
from ui.widgets import CANCELLING

#: Seconds between two runs of the live panel: layers take seconds each, and every run costs
#: the server a store read and a figure, time another tab's page would wait for.
LIVE_POLL_SECONDS = 1.0
#: Session key of the last live answer and the progress it was read at.
_LAST_LIVE = "live_answer"
#: Session key of the figure of the last live answer (with that answer).
_LIVE_FIGURE = "live_figure"


def answer_frame(answer: Provisional) -> pd.DataFrame:
    """One row per layer: where its mapping comes from, its status and figures."""
    rows = []
    for result, source in zip(answer.result.layer_results, answer.sources, strict=True):
        rows.append({
            "Layer": result.layer.name,
            "Answer": "final" if source == FINAL_SOURCE else f"provisional: {source}",
            "Status": result.status,
            "Latency": format_cycles(result.cost.latency_cycles if result.cost else None),
            "Energy": format_energy(result.cost.energy_pj if result.cost else None),
        })  # fmt: skip
    return pd.DataFrame(rows)


def summary(answer: Provisional) -> str:
    """ "Provisional answer: 1 of 5 layers final; provisional: 3 neighbour cores 2 (mip), 1
    weight-stationary (this design). ...": how many layers come from each source."""
    counts: dict[str, int] = {}
    for source in answer.sources:
        if source != FINAL_SOURCE:
            counts[source] = counts.get(source, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    parts = [f"{count} {source}" for source, count in ranked]
    return (
        f"Provisional answer: {answer.final_layers} of {len(answer.sources)} layers final"
        + (f"; provisional: {', '.join(parts)}" if parts else "")
        + ". A neighbour's mapping is re-evaluated on this design and kept only where it is "
        "legal here and better than this design's weight-stationary mapping. Each layer is "
        "replaced as the mapper finishes it."
    )


def show_answer(answer: Provisional, design: state.Design, request: RunRequest) -> None:
    """Totals (with the change from the previous design), the latency figure and the per-layer
    sources of a provisional or partly refined answer."""
    st.info(escape_markdown(summary(answer)))
    previous = state.comparable_run(request, design)
    old = None if previous is None else (previous["result"], previous["design"].hardware.area_mm2)
    if previous is not None:
        views.previous_note(previous["design"].label)
    views.result_metrics(answer.result, design.hardware.area_mm2, old)
    st.plotly_chart(_figure(answer, design, request), key="chart_live_latency")
    table = answer_frame(answer)
    st.dataframe(
        table, hide_index=True, width="stretch", key="table_live",
        height=frames.table_height(len(table)),
    )  # fmt: skip


def _figure(answer: Provisional, design: state.Design, request: RunRequest):
    """The answer's latency figure, built again only when the answer changed: most polls find
    the same answer, and building the figure is most of what a poll costs the server."""
    last = st.session_state.get(_LIVE_FIGURE)
    if last is not None and last[0] is answer:
        return last[1]
    subtitle = f"{design.hardware.name} #{design.hash}, {request.workload.label}"
    flags = [source != FINAL_SOURCE for source in answer.sources]
    figure = charts.latency_breakdown(answer.result.to_frame(), subtitle, flags)
    st.session_state[_LIVE_FIGURE] = (answer, figure)
    return figure


def live_panel(
    jobs: Sequence[Job], design: state.Design, request: RunRequest, on_cancel: Callable[[], None]
) -> None:
    """Progress, Cancel and the refined answer, rerun every POLL_SECONDS until the jobs end.
    Cancel answers in the same run: "Cancelling…" at once, until the workers have stopped."""
    known = state.known_designs(design)

    def panel() -> None:
        if all(job.done() for job in jobs):
            st.rerun(scope="app")
        for job in jobs:
            fraction, text = widgets.progress_text(job)
            st.progress(fraction, text=escape_markdown(text))
        if any(job.cancel_requested() for job in jobs):
            st.info(CANCELLING)
        elif st.button("Cancel", key="cancel_optimize"):
            for job in jobs:
                job.cancel()
            on_cancel()
            st.info(CANCELLING)
        show_answer(_answer(jobs[0], request, known), design, request)

    st.fragment(panel, run_every=LIVE_POLL_SECONDS)()


def _answer(job: Job, request: RunRequest, known: tuple[str, ...]) -> Provisional:
    """The live answer, read again from the store only when the mapper's progress moved."""
    marker = (request.key(), job.progress()[0])
    last = st.session_state.get(_LAST_LIVE)
    if last is not None and last[0] == marker:
        return last[1]
    answer = cached.live_answer(request, known)
    st.session_state[_LAST_LIVE] = (marker, answer)
    return answer


def with_provisional_gaps(result, request: RunRequest, known: tuple[str, ...]) -> Provisional:
    """A stopped run's answer made complete: its layers with a mapping (solved, or stopped with
    their best so far) are final, the ones it did not reach keep their provisional mapping."""
    start = cached.provisional_answer(
        request.hardware_text, request.workload, request.objective, request.store_path, known
    )
    finals = {r.layer.shape_key(): r for r in result.layer_results if r.feasible}
    return refine(start, finals)
