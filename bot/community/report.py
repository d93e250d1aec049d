"""``verbatim report``: an HTML page a maintainer can read, with charts of what the community asks.

Three PNGs drawn with matplotlib's Agg backend (no display needed): questions per day by
outcome, the answered share over time, and the largest gaps; then the gap table. Everything
is local files; the page links nothing outside its folder.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bot.community.gaps import Gap, Stats, gaps, per_day, stats, when
from bot.community.record import DAY, QuestionRow

TOP_GAPS_CHARTED = 10
GAPS_LISTED = 50
LABEL_CHARS = 60
COLOURS = {"answered": "#2e7d32", "not_sure": "#f9a825", "not_found": "#c62828"}


@dataclass(frozen=True, slots=True)
class Report:
    page: Path
    charts: tuple[Path, ...]
    stats: Stats
    gaps: tuple[Gap, ...]
    days: int

    def summary(self) -> str:
        s = self.stats
        lines = [
            f"{s.questions} questions in the last {self.days} days: {s.answered} answered ({s.answered_share:.0%}),"
            f" {s.not_sure} not sure, {s.not_found} not in the documents; {s.up} 👍, {s.down} 👎, {s.dismissed} dismissed.",
        ]
        if self.gaps:
            lines.append("Largest gaps:")
            lines += [f"  {g.count:>5}  {_short(g.label, 90)}" for g in self.gaps[:5]]
        lines.append(f"Report: {self.page}")
        return "\n".join(lines)


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def write_report(
    rows: Sequence[QuestionRow],
    feedback: dict[str, int],
    embed: Callable[[list[str]], np.ndarray],
    out: Path,
    *,
    days: int,
    now: float | None = None,
) -> Report:
    import matplotlib

    matplotlib.use("Agg")  # files only: never a window, works without a display
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    figures = stats(rows, feedback)
    found = gaps(rows, embed)
    series = per_day(rows)
    charts = []

    dates = np.array([d.day for d in series], dtype="datetime64[D]")
    figure, axes = plt.subplots(figsize=(9, 3.6), dpi=100)
    bottom = np.zeros(len(series))
    for outcome, label in (("answered", "answered"), ("not_sure", "not sure"), ("not_found", "not found")):
        values = np.array([getattr(d, outcome) for d in series], dtype=float)
        axes.bar(dates, values, bottom=bottom, color=COLOURS[outcome], label=label, width=0.85)
        bottom += values
    axes.set_title("Questions per day, by outcome")
    axes.set_ylabel("questions")
    axes.legend(loc="upper left", frameon=False)
    figure.autofmt_xdate()
    charts.append(_save(figure, out / "questions-per-day.png"))

    figure, axes = plt.subplots(figsize=(9, 3.2), dpi=100)
    totals = np.array([d.total for d in series], dtype=float)
    answered = np.array([d.answered for d in series], dtype=float)
    # A 7-day window: one quiet day with two questions must not swing the line.
    window = np.ones(7)
    share = np.convolve(answered, window)[: len(series)] / np.maximum(np.convolve(totals, window)[: len(series)], 1)
    axes.plot(dates, share * 100, color=COLOURS["answered"])
    axes.set_ylim(0, 100)
    axes.set_title("Answered share, 7-day window (%)")
    figure.autofmt_xdate()
    charts.append(_save(figure, out / "answered-share.png"))

    figure, axes = plt.subplots(figsize=(9, 0.45 * max(len(found[:TOP_GAPS_CHARTED]), 2) + 1.2), dpi=100)
    top = list(reversed(found[:TOP_GAPS_CHARTED]))
    axes.barh([_short(g.label, LABEL_CHARS) for g in top], [g.count for g in top], color=COLOURS["not_found"])
    axes.set_title("Largest gaps: topics the documents did not answer")
    axes.set_xlabel("questions")
    charts.append(_save(figure, out / "top-gaps.png"))

    report = Report(out / "index.html", tuple(charts), figures, tuple(found), days)
    report.page.write_text(_page(report, now or time.time()), encoding="utf-8")
    return report


def _save(figure: object, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure.tight_layout()  # type: ignore[attr-defined]
    figure.savefig(path)  # type: ignore[attr-defined]
    plt.close(figure)  # type: ignore[arg-type]
    return path


def _outcomes(gap: Gap) -> str:
    return ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in gap.outcomes)


def _page(report: Report, now: float) -> str:
    s = report.stats
    e = html.escape
    rows = "\n".join(
        f"<tr><td class=n>{g.count}</td><td>{e(g.label)}</td>"
        f"<td>{e(_outcomes(g))}</td>"
        f"<td>{e(when(g.last_seen))}</td><td class=n>{len(g.questions)}</td></tr>"
        for g in report.gaps[:GAPS_LISTED]
    )
    images = "\n".join(f'<img src="{e(p.name)}" alt="{e(p.stem.replace("-", " "))}">' for p in report.charts)
    generated = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M UTC")
    since = datetime.fromtimestamp(now - report.days * DAY, UTC).strftime("%Y-%m-%d")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Verbatim report</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; max-width: 960px; margin: 2em auto; padding: 0 1em; color: #222; }}
.figures {{ display: flex; gap: 1.5em; flex-wrap: wrap; margin: 1em 0; }}
.figures div {{ background: #f4f4f4; padding: .6em 1em; border-radius: 6px; }}
.figures b {{ display: block; font-size: 1.5em; }}
img {{ max-width: 100%; display: block; margin: 1em 0; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ text-align: left; padding: .3em .5em; border-bottom: 1px solid #ddd; vertical-align: top; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
</style></head><body>
<h1>What the community asks</h1>
<p>Questions since {since} ({report.days} days), generated {generated}.</p>
<div class="figures">
<div><b>{s.questions}</b>questions</div>
<div><b>{s.answered_share:.0%}</b>answered</div>
<div><b>{s.not_sure}</b>not sure</div>
<div><b>{s.not_found}</b>not in the documents</div>
<div><b>{s.up} / {s.down}</b>helpful / not helpful</div>
<div><b>{s.dismissed}</b>dismissed</div>
</div>
{images}
<h2>Gaps: topics the documents did not answer</h2>
<p>Not-found, not-sure, voted-down and dismissed questions, grouped by meaning; each topic is named by its most central question.</p>
<table><thead><tr><th>Questions</th><th>Topic</th><th>Outcomes</th><th>Last asked</th><th>Wordings</th></tr></thead>
<tbody>
{rows or "<tr><td colspan=5>No gaps: every question was answered.</td></tr>"}
</tbody></table>
</body></html>
"""
