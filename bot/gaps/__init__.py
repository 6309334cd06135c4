"""What the KB is missing: escalated, low-confidence and 👎 answers grouped into topics by meaning.

report = await build_gap_report(open_records(settings), kb.embedder, kb=kb, days=7)
print(render_text(report))                       # `kb gaps`
Path("gaps.html").write_text(render_html(report))  # `kb gaps --html gaps.html`
"""

from __future__ import annotations

from bot.gaps.cluster import DEFAULT_MIN_SIMILARITY, agglomerate, topic_keywords
from bot.gaps.html import render_html
from bot.gaps.models import GapArticle, GapExample, GapReport, GapTopic
from bot.gaps.render import home_gap_lines, render_text
from bot.gaps.report import MAX_ITEMS, GapCache, build_gap_report

__all__ = [
    "DEFAULT_MIN_SIMILARITY",
    "MAX_ITEMS",
    "GapArticle",
    "GapCache",
    "GapExample",
    "GapReport",
    "GapTopic",
    "agglomerate",
    "build_gap_report",
    "home_gap_lines",
    "render_html",
    "render_text",
    "topic_keywords",
]
