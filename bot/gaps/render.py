"""The gap report as text (what `kb gaps` prints) and as Slack App Home blocks.

print(render_text(report))
blocks = home_gap_lines(report, top=3)
"""

from __future__ import annotations

from bot import messages
from bot.gaps.models import GapReport, GapTopic


def flags(topic: GapTopic) -> str:
    parts = [f"escalated {topic.escalated}", f"rated down {topic.rated_down}", f"low confidence {topic.low_confidence}"]
    return ", ".join(parts)


def doors(topic: GapTopic) -> str:
    return ", ".join(f"{door} {n}" for door, n in topic.doors.items())


def render_text(report: GapReport) -> str:
    if not report.total:
        return messages.GAPS_NONE.format(days=report.days)
    lines = [
        messages.GAPS_TITLE.format(days=report.days, since=report.since[:10], until=report.until[:10]),
        messages.GAPS_SUMMARY.format(
            total=report.total,
            escalated=report.escalated,
            low=report.low_confidence,
            rated_down=report.rated_down,
            topics=len(report.topics),
        ),
    ]
    if report.truncated:
        lines.append(messages.GAPS_TRUNCATED.format(count=report.total))
    lines += report.notes
    for topic in report.topics:
        lines += [
            "",
            messages.GAPS_TOPIC.format(
                id=topic.id, label=topic.label, count=topic.count, flags=flags(topic), doors=doors(topic)
            ),
        ]
        article = topic.closest_article
        if article is None:
            lines.append(messages.GAPS_CLOSEST_NONE)
        else:
            lines.append(
                messages.GAPS_CLOSEST.format(title=article.title, similarity=article.similarity, url=article.url)
            )
        for example in topic.examples:
            ticket = example.ticket if len(example.ticket) <= 160 else example.ticket[:159].rstrip() + "…"
            lines.append(messages.GAPS_EXAMPLE.format(ticket=ticket, level=example.level, decision=example.decision))
    return "\n".join(lines)


def home_gap_lines(report: GapReport, top: int = 3) -> list[str]:
    """Slack mrkdwn lines for App Home: the biggest topics (or that there is none)."""
    if not report.topics:
        return [messages.HOME_GAPS_NONE]
    lines = []
    for topic in report.topics[:top]:
        article = topic.closest_article
        closest = (
            messages.HOME_GAPS_CLOSEST.format(
                url=article.url, title=_slack_escape(article.title), similarity=article.similarity
            )
            if article and article.url
            else ""
        )
        lines.append(
            messages.HOME_GAPS_TOPIC.format(
                label=_slack_escape(topic.label),
                count=topic.count,
                escalated=topic.escalated,
                rated_down=topic.rated_down,
                closest=closest,
            )
        )
    return lines


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
