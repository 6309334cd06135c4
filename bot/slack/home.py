"""App Home: usage and the week's figures (blocks.home_view), then the top gaps of the week.

    view = await home_view(deps)          # what app_home_opened publishes

The gap report embeds the week's gap tickets, so `deps.gaps` remakes it at most every five
minutes per process, shared by everyone who opens App Home meanwhile.
"""

from __future__ import annotations

import asyncio
import logging

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock
from slack_sdk.models.views import View

from bot import messages
from bot.gaps import home_gap_lines
from bot.slack import blocks as kb_blocks
from bot.slack.deps import SlackDeps

log = logging.getLogger(__name__)

TOP_GAPS = 3


async def home_view(deps: SlackDeps) -> View:
    view = kb_blocks.home_view(await asyncio.to_thread(deps.store.stats, 7))
    footer = None
    try:
        async with deps.background.engine_slots:
            report = await deps.gaps.get(deps.store, deps.engine.kb)
        lines = home_gap_lines(report, top=TOP_GAPS)
        if report.topics:
            footer = messages.HOME_GAPS_MORE.format(topics=len(report.topics), total=report.total)
    except Exception as exc:  # the tab still opens: usage and figures matter more than gaps
        log.warning("app home: gap report failed: %s", exc, exc_info=exc)
        lines = [messages.HOME_GAPS_UNAVAILABLE]
    view.blocks = [
        *(view.blocks or []),
        SectionBlock(text=MarkdownTextObject(text="\n".join([messages.HOME_GAPS_HEADING, *lines]))),
        *([ContextBlock(elements=[MarkdownTextObject(text=footer)])] if footer else []),
    ]
    return view
