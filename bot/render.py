"""Terminal output of the CLI: a readable answer and a progress bar on stderr."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from bot import messages
from bot.citations import footnote_numbers, footnoted
from rag.models import Answer


def render_answer(answer: Answer) -> str:
    c = answer.confidence
    lines = [
        f"{messages.LEVEL_EMOJI[c.level]} {messages.LEVEL_LABEL[c.level]} confidence ({c.score:.2f}) · "
        f"{messages.DECISION_LABEL[answer.decision]}",
    ]
    lines += [f"  · {reason}" for reason in c.reasons]
    if answer.degraded:
        lines.append(messages.DEGRADED_NOTE.format(reasons="; ".join(answer.degraded_reasons)))
    lines += ["", f"{messages.REQUIRED_HEADING}:"]
    if answer.required_data:
        lines += [f"  [ ] {r.item}" + (f"  ({r.why})" if r.why else "") for r in answer.required_data]
    else:
        lines.append(f"  {messages.REQUIRED_NONE}")
    # Each cited claim of the draft ends with the number of the source it comes from: [1].
    numbers = footnote_numbers(answer)
    draft = "".join(text + "".join(f"[{n}]" for n in marks) for text, marks in footnoted(answer, numbers))
    lines += ["", f"{messages.DRAFT_HEADING}:", ""]
    lines += [f"  {line}" if line else "" for line in draft.splitlines()]
    lines += ["", f"{messages.SOURCES_HEADING}:"]
    for s in answer.sources:
        section = f" > {s.section}" if s.section else ""
        mark = f"[{numbers[s.chunk_id]}] " if s.chunk_id in numbers else ""
        lines.append(f"  {mark}[{s.tier.value}] {s.title}{section} ({s.score:.2f})\n      {s.url}")
    b = answer.backends
    lines += [
        "",
        f"request {answer.request_id} · {b.embedder}/{b.store}/{b.drafter} · "
        f"{answer.timings_ms.get('total', 0):.1f} ms",
    ]
    return "\n".join(lines) + "\n"


class ProgressBar:
    """A one-line bar on stderr, redrawn at most ten times a second; silent when not a terminal."""

    def __init__(self, label: str, *, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self._last = 0.0
        self._drawn = False

    def update(self, done: int, total: int) -> None:
        if not self.enabled or total == 0:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        width = 30
        filled = int(width * done / total)
        end = "\r" if self.stream.isatty() else "\n"
        self.stream.write(f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} chunks{end}")
        self.stream.flush()
        self._drawn = True

    def done(self) -> None:
        if self._drawn and self.stream.isatty():
            self.stream.write("\n")
