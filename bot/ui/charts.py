"""PNG charts for `/stats`, drawn with matplotlib's Agg backend (call `render_stats` off the event loop).

Chinese labels render with a subset of Noto Sans CJK SC shipped in bot/fonts (SIL Open Font License): DejaVu Sans
draws Latin text and the CJK font fills in every glyph it lacks.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from storage.agent_stats import AgentFigures
from storage.reports import StatsReport

FONT_PATH = Path(__file__).resolve().parent.parent / "fonts" / "NotoSansCJKsc-Regular-subset.otf"
font_manager.fontManager.addfont(str(FONT_PATH))
CJK_FAMILY = font_manager.FontProperties(fname=str(FONT_PATH)).get_name()
matplotlib.rcParams["font.family"] = ["DejaVu Sans", CJK_FAMILY]
matplotlib.rcParams["axes.unicode_minus"] = False

Label = Callable[..., str]
OPENED, CLOSED, FIRST, RESOLVED, TARGET = "#4C78A8", "#72B7B2", "#F58518", "#54A24B", "#E45756"
SEGMENT_COLOURS = {"potential": "#BAB0AC", "new": "#72B7B2", "returning": "#4C78A8", "vip": "#F58518"}


def _png(figure: Figure) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def _day_ticks(axes: Axes, days: list[str]) -> None:
    step = max(1, len(days) // 10)
    axes.set_xticks(range(0, len(days), step), [days[n] for n in range(0, len(days), step)], rotation=45, ha="right")


def tickets_chart(report: StatsReport, label: Label) -> bytes:
    figure = Figure(figsize=(8, 4.5))
    axes = figure.subplots()
    days = [day.day.strftime("%m-%d") for day in report.tickets]
    positions = range(len(days))
    axes.bar([p - 0.2 for p in positions], [d.opened for d in report.tickets], 0.4, label=label("opened"), color=OPENED)
    axes.bar([p + 0.2 for p in positions], [d.closed for d in report.tickets], 0.4, label=label("closed"), color=CLOSED)
    _day_ticks(axes, days)
    axes.set_title(label("tickets_title"))
    axes.set_ylabel(label("tickets_axis"))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend()
    return _png(figure)


def response_chart(report: StatsReport, label: Label, *, first_target: float, resolution_target: float) -> bytes:
    """Median minutes to the first answer and hours to resolution per day, with each target as a dashed line."""
    figure = Figure(figsize=(9, 4.5))
    first_axes, resolution_axes = figure.subplots(1, 2)
    days = [day.day for day in report.tickets]
    names = [day.strftime("%m-%d") for day in days]
    times = report.times
    for axes, values, target, colour, title, unit in (
        (first_axes, times.first_response_by_day, first_target, FIRST, "first_title", "minutes"),
        (resolution_axes, times.resolution_by_day, resolution_target, RESOLVED, "resolution_title", "hours"),
    ):
        scale = 60.0 if unit == "hours" else 1.0
        points = [(n, values[day] / scale) for n, day in enumerate(days) if day in values]
        if points:
            axes.plot([n for n, _ in points], [v for _, v in points], marker="o", color=colour, label=label("median"))
        axes.axhline(target / scale, color=TARGET, linestyle="--", label=label("target"))
        axes.set_xlim(-0.5, len(days) - 0.5)
        axes.set_ylim(bottom=0)
        _day_ticks(axes, names)
        axes.set_title(label(title))
        axes.set_ylabel(label(unit))
        axes.legend()
    return _png(figure)


def satisfaction_chart(report: StatsReport, label: Label) -> bytes:
    """CSAT answers per score, and what the FAQ did with the questions it saw."""
    figure = Figure(figsize=(9, 4.5))
    csat_axes, faq_axes = figure.subplots(1, 2)
    distribution = report.satisfaction.distribution
    scores = sorted(distribution)
    csat_axes.bar([str(score) for score in scores], [distribution[s] for s in scores], color=OPENED)
    average = report.satisfaction.average
    title = label("csat_title") + (f" ({average:.2f})" if average is not None else "")
    csat_axes.set_title(title)
    csat_axes.set_xlabel(label("csat_axis"))
    csat_axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    events = ("hit", "miss", "helped", "escalated")
    faq_axes.bar(
        [label(f"faq_{event}") for event in events], [report.faq.events.get(e, 0) for e in events], color=CLOSED
    )
    rate = report.faq.hit_rate
    faq_axes.set_title(label("faq_title") + (f" ({rate:.0%})" if rate is not None else ""))
    faq_axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    return _png(figure)


def segments_chart(report: StatsReport, label: Label) -> bytes:
    """Customers per segment now, and the segment moves of the period."""
    figure = Figure(figsize=(9, 4.5))
    count_axes, move_axes = figure.subplots(1, 2)
    segments = list(report.segments)
    count_axes.bar(
        [label(f"segment_{s}") for s in segments],
        [report.segments[s] for s in segments],
        color=[SEGMENT_COLOURS.get(s, OPENED) for s in segments],
    )
    count_axes.set_title(label("segments_title"))
    count_axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    moves = report.moves[:8]
    names = [f"{label(f'segment_{m.from_segment}')} → {label(f'segment_{m.to_segment}')}" for m in moves]
    move_axes.barh(names[::-1], [m.count for m in moves][::-1], color=FIRST)
    move_axes.set_title(label("moves_title"))
    move_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if not moves:
        move_axes.text(0.5, 0.5, label("nothing"), ha="center", va="center", transform=move_axes.transAxes)
        move_axes.set_yticks([])
    return _png(figure)


def surveys_chart(report: StatsReport, label: Label) -> bytes:
    """NPS and the CSAT average of the period per segment, each bar with its number of answers."""
    figure = Figure(figsize=(9, 4.5))
    nps_axes, csat_axes = figure.subplots(1, 2)
    surveys = report.surveys
    segments = list(surveys.nps)
    names = [label(f"segment_{s}") for s in segments]
    colours = [SEGMENT_COLOURS.get(s, OPENED) for s in segments]
    for axes, values, counts, limits in (
        (nps_axes, [surveys.nps[s].score for s in segments], [surveys.nps[s].count for s in segments], (-120, 120)),
        (csat_axes, [surveys.csat[s].average for s in segments], [surveys.csat[s].count for s in segments], (0, 5.5)),
    ):
        bars = axes.bar(names, [value or 0 for value in values], color=colours)
        axes.bar_label(bars, [f"n={count}" if count else label("nothing") for count in counts], padding=2)
        axes.set_ylim(*limits)
    nps_axes.axhline(0, color="#888888", linewidth=0.8)
    total = surveys.nps_total.score
    nps_axes.set_title(label("nps_title") + (f" ({total:+.0f})" if total is not None else ""))
    csat_axes.set_title(label("csat_segment_title"))
    return _png(figure)


def agents_chart(agents: Sequence[AgentFigures], label: Label, *, first_target: float) -> bytes:
    """Tickets per agent in the period and each agent's median first response."""
    figure = Figure(figsize=(9, 4.5))
    count_axes, time_axes = figure.subplots(1, 2)
    names = [agent.name for agent in agents]
    count_axes.barh(names[::-1], [agent.tickets for agent in agents][::-1], color=OPENED)
    count_axes.set_title(label("agents_title"))
    count_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    time_axes.barh(names[::-1], [agent.first_response or 0 for agent in agents][::-1], color=FIRST)
    time_axes.axvline(first_target, color=TARGET, linestyle="--", label=label("target"))
    time_axes.set_title(label("agents_response_title"))
    time_axes.legend()
    return _png(figure)


def render_stats(report: StatsReport, label: Label, *, first_target: float, resolution_target: float) -> list[bytes]:
    """Every chart of the report as PNG bytes. Blocking: run it in a worker thread."""
    return [
        tickets_chart(report, label),
        response_chart(report, label, first_target=first_target, resolution_target=resolution_target),
        satisfaction_chart(report, label),
        segments_chart(report, label),
        surveys_chart(report, label),
    ]
