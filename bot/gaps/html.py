"""The gap report as one self-contained HTML file: inline CSS, an inline SVG chart, no scripts,
fonts, images or stylesheets from anywhere (it opens from a mail attachment or a shared drive).

    Path("gaps.html").write_text(render_html(report), encoding="utf-8")

The chart stacks each day's (or week's) gaps by topic: the eight biggest topics in colour, the
rest as "other topics". The table below has every topic with its counts, doors, closest article
and up to three example tickets (as stored: redacted).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from html import escape

from bot import messages
from bot.gaps.models import GapReport, GapTopic

SERIES = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7")
OTHER = "#bab0ac"
WIDTH, HEIGHT = 960, 320
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 44

CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: #1f2328; background: #f6f8fa; }
main { max-width: 1120px; margin: 0 auto; padding: 28px 24px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 12px; }
.period { color: #59636e; margin: 0; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 20px; }
.card { background: #fff; border: 1px solid #d1d9e0; border-radius: 8px; padding: 12px 16px; min-width: 150px; }
.card b { display: block; font-size: 26px; }
.card span { color: #59636e; font-size: 13px; }
figure { margin: 0; background: #fff; border: 1px solid #d1d9e0; border-radius: 8px; padding: 16px; }
svg { display: block; width: 100%; height: auto; }
svg text { font: 12px system-ui, sans-serif; fill: #59636e; }
.legend { list-style: none; padding: 0; margin: 12px 0 0; display: flex; flex-wrap: wrap; gap: 6px 18px; }
.legend li, .topic { display: flex; align-items: center; gap: 6px; }
.swatch { width: 12px; height: 12px; border-radius: 3px; flex: none; display: inline-block; }
table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid #d1d9e0; }
th, td { text-align: left; vertical-align: top; padding: 10px 12px; border-top: 1px solid #d1d9e0; }
th { background: #f0f3f6; font-size: 13px; color: #59636e; border-top: none; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
td ul { margin: 0; padding-left: 18px; min-width: 280px; }
td.doors { white-space: nowrap; }
td.closest { min-width: 170px; }
td li { margin-bottom: 4px; }
.tag { display: inline-block; font-size: 11px; padding: 0 6px; border-radius: 9px;
       background: #eef1f4; color: #59636e; }
.tag.esc { background: #ffebe9; color: #a40e26; }
.tag.down { background: #fff8c5; color: #6c5300; }
.weak { color: #a40e26; }
.notes { color: #59636e; font-size: 13px; }
a { color: #0b5cad; }
"""


def render_html(report: GapReport, *, generated: float | None = None) -> str:
    when = datetime.fromtimestamp(generated, UTC) if generated is not None else datetime.now(UTC)
    title = messages.GAPS_HTML_TITLE.format(days=report.days)
    summary = messages.GAPS_SUMMARY.format(
        total=report.total,
        escalated=report.escalated,
        low=report.low_confidence,
        rated_down=report.rated_down,
        topics=len(report.topics),
    )
    cards = "".join(
        f'<div class="card"><b>{value}</b><span>{escape(name)}</span></div>'
        for value, name in (
            (report.total, "answers that show a gap"),
            (len(report.topics), "topics"),
            (report.escalated, "escalated"),
            (report.rated_down, "rated down"),
            (report.low_confidence, "low confidence"),
        )
    )
    notes = [messages.GAPS_TRUNCATED.format(count=report.total)] if report.truncated else []
    notes += report.notes
    notes.append(
        f"Tickets are grouped by meaning with the {report.embedder} embedder (average cosine ≥ "
        f"{report.min_similarity:g}); labels are each topic's most telling words; the closest article is the KB "
        "section nearest to the topic's centre. Tickets are shown as stored: e-mails, card numbers, IBANs and "
        "phone numbers redacted."
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<h1>{escape(title)}</h1>
<p class="period">{escape(report.since[:10])} to {escape(report.until[:10])} · {escape(summary)} · generated \
{when.strftime("%Y-%m-%d %H:%M")} UTC</p>
<div class="cards">{cards}</div>
<h2>Topics over time</h2>
<figure>
{chart(report)}
{legend(report)}
</figure>
<h2>Topics</h2>
{table(report)}
<p class="notes">{"<br>".join(escape(n) for n in notes)}</p>
</main>
</body>
</html>
"""


def colour(index: int) -> str:
    """The colour of the topic at `index` (0-based) in the chart, the legend and the table."""
    return SERIES[index] if index < len(SERIES) else OTHER


def _series(report: GapReport) -> list[tuple[str, str, list[int]]]:
    """(name, colour, counts per bin): the biggest topics, then the rest together."""
    out = [(t.label, colour(i), t.timeline) for i, t in enumerate(report.topics[: len(SERIES)])]
    rest = report.topics[len(SERIES) :]
    if rest:
        summed = [sum(t.timeline[b] for t in rest) for b in range(len(report.bins))]
        out.append((f"other topics ({len(rest)})", OTHER, summed))
    return out


def chart(report: GapReport) -> str:
    series = _series(report)
    bins = report.bins
    n = max(1, len(bins))
    totals = [sum(s[2][b] for s in series) for b in range(len(bins))]
    top = max([1, *totals])
    step = max(1, math.ceil(top / 4))
    y_max = step * math.ceil(top / step)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / n
    bar = max(2.0, slot * 0.7)

    def y(value: float) -> float:
        return TOP + plot_h - plot_h * value / y_max

    parts = [
        f'<svg id="gap-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="gap-chart-title">',
        f'<title id="gap-chart-title">Gaps per {"day" if report.bin_days == 1 else "week"} by topic</title>',
    ]
    for tick in range(0, y_max + 1, step):
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#e6eaef"/>'
            f'<text x="{LEFT - 8}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick}</text>'
        )
    every = max(1, math.ceil(n / 12))
    for b, start in enumerate(bins):
        x = LEFT + slot * b + (slot - bar) / 2
        base = 0
        for name, fill, counts in series:
            count = counts[b]
            if not count:
                continue
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{y(base + count):.1f}" width="{bar:.1f}" '
                f'height="{y(base) - y(base + count):.1f}" fill="{fill}">'
                f"<title>{escape(name)}: {count} on {_label(start, report.bin_days)}</title></rect>"
            )
            base += count
        if b % every == 0:
            parts.append(
                f'<text x="{LEFT + slot * b + slot / 2:.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">'
                f"{escape(_label(start, report.bin_days))}</text>"
            )
    parts.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#8c959f"/>'
        f'<text x="{LEFT}" y="{HEIGHT - 6}">{"days" if report.bin_days == 1 else "weeks from"} (UTC)</text>'
    )
    if not report.total:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{TOP + plot_h / 2}" text-anchor="middle">'
            f"{escape(messages.GAPS_NONE.format(days=report.days))}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def legend(report: GapReport) -> str:
    items = "".join(
        f'<li><span class="swatch" style="background:{fill}"></span>{escape(name)} ({sum(counts)})</li>'
        for name, fill, counts in _series(report)
    )
    return f'<ul class="legend">{items}</ul>' if items else ""


def table(report: GapReport) -> str:
    if not report.topics:
        return f"<p>{escape(messages.GAPS_NONE.format(days=report.days))}</p>"
    rows = "\n".join(_row(i, t) for i, t in enumerate(report.topics))
    return (
        "<table><thead><tr><th>#</th><th>Topic</th><th>Tickets</th><th>Escalated</th><th>Rated down</th>"
        "<th>Low conf.</th><th>Doors</th><th>Closest article</th><th>Examples</th></tr></thead>"
        f"<tbody>\n{rows}\n</tbody></table>"
    )


def _row(index: int, topic: GapTopic) -> str:
    article = topic.closest_article
    if article is None:
        closest = "none"
    else:
        name = escape(article.title) + (f" › {escape(article.section)}" if article.section else "")
        link = f'<a href="{escape(article.url)}">{name}</a>' if article.url else name
        weak = ' class="weak" title="nothing in the KB is close to this topic"' if article.similarity < 0.35 else ""
        closest = f"{link}<br><span{weak}>similarity {article.similarity:.2f}</span>"
    examples = "".join(
        f"<li>{escape(e.ticket)} "
        + ('<span class="tag esc">escalated</span> ' if e.escalated else "")
        + ('<span class="tag down">rated down</span> ' if e.rated_down else "")
        + f'<span class="tag">{escape(e.door)} · {escape(e.level)}</span></li>'
        for e in topic.examples
    )
    doors = ", ".join(f"{escape(d)} {n}" for d, n in topic.doors.items())
    return (
        f'<tr><td class="n">{topic.id}</td>'
        f'<td><div class="topic"><span class="swatch" style="background:{colour(index)}"></span>'
        f"<b>{escape(topic.label)}</b></div></td>"
        f'<td class="n">{topic.count}</td><td class="n">{topic.escalated}</td><td class="n">{topic.rated_down}</td>'
        f'<td class="n">{topic.low_confidence}</td><td class="doors">{doors}</td><td class="closest">{closest}</td>'
        f"<td><ul>{examples}</ul></td></tr>"
    )


def _label(start: str, bin_days: int) -> str:
    day = date.fromisoformat(start)
    return day.strftime("%b %d") if bin_days == 1 else day.strftime("%b %d") + "+"
