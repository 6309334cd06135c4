"""The text `kb feedback` prints: answers of every door, escalations, 👍/👎 and the latest comments.

print(feedback_report(settings, days=7), end="")
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from bot import messages
from bot.records.models import SLACK_DOORS, Stats, door_family
from bot.records.store import open_records, records_exist, records_location
from rag.settings import Settings


def feedback_report(settings: Settings, days: int = 7) -> str:
    path = records_location(settings)
    if not records_exist(settings):  # a read-only command: no store file is created just to say it is empty
        return messages.FEEDBACK_REPORT_EMPTY.format(path=path) + "\n"
    store = open_records(settings)
    try:
        s = store.stats(days)
    finally:
        store.close()
    if s.answers == 0 and s.helpful + s.not_helpful + s.escalations == 0:
        return messages.FEEDBACK_REPORT_EMPTY.format(path=path) + "\n"
    since = datetime.fromtimestamp(time.time() - days * 86_400, UTC).strftime("%Y-%m-%d")
    rated = s.helpful + s.not_helpful
    lines = [
        messages.FEEDBACK_REPORT_TITLE.format(days=days, since=since),
        "",
        f"answers        {s.answers:>5}   "
        + "  ".join(
            f"{messages.LEVEL_LABEL[k].lower()} {v}" for k, v in s.by_level.items() if k in messages.LEVEL_LABEL
        ),
        "  by decision  " + "  ".join(f"{k} {v}" for k, v in s.by_decision.items()),
        "  by door      " + (doors_line(s) or "-"),
        f"escalations    {s.escalations:>5}   claimed {s.claimed}, unclaimed {s.escalations - s.claimed}",
        f"feedback       {rated:>5}   helpful {s.helpful}, not helpful {s.not_helpful}"
        + (f" ({100 * s.helpful / rated:.0f}% helpful)" if rated else ""),
    ]
    if s.feedback_by_source:
        lines.append("  by source    " + "  ".join(f"{k} {v}" for k, v in sorted(s.feedback_by_source.items())))
    for level in ("high", "medium", "low"):
        if level in s.helpful_by_level:
            up, down = s.helpful_by_level[level]
            lines.append(f"  {level:<12} helpful {up}, not helpful {down}")
    if s.comments:
        lines += ["", messages.FEEDBACK_REPORT_COMMENTS]
        for request_id, problems, comment in s.comments:
            tags = f"[{problems}] " if problems else ""
            lines.append(f"  {request_id}  {tags}{' '.join(comment.split())[:200]}")
    lines += ["", messages.FEEDBACK_REPORT_GAPS_HINT]
    return "\n".join(lines) + "\n"


def doors_line(stats: Stats) -> str:
    """`cli 1  http 4  slack 3 (mention 2, command 1)`: each door, Slack's ways in detailed."""
    families: dict[str, int] = {}
    for door, n in stats.by_door.items():
        families[door_family(door)] = families.get(door_family(door), 0) + n
    parts = []
    for family in sorted(families):
        text = f"{family} {families[family]}"
        if family == "slack":
            ways = [f"{d} {stats.by_door[d]}" for d in SLACK_DOORS if stats.by_door.get(d)]
            text += f" ({', '.join(ways)})"
        parts.append(text)
    return "  ".join(parts)
