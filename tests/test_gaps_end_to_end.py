"""What the KB is missing, end to end: the sample tickets and 20 off-topic ones answered through the
HTTP API and Slack (signed requests into the real server), a rating through POST /api/v1/feedback,
then `kb gaps --json`, `kb gaps --html` (opened in headless Chromium, screenshot kept) and `kb feedback`."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main as kb_main
from bot.gaps import GapReport
from bot.gaps.html import SERIES
from bot.records import SqliteRecordStore
from tests.conftest import SAMPLE_TICKETS
from tests.slack_harness import (  # noqa: F401 (fixtures)
    ESCALATIONS,
    SlackBot,
    fake_slack,
    slack_bot,
)

KEY = "e2e-key"
AUTH = {"X-API-Key": KEY}
OFF_TOPIC = {
    "baggage": [
        "My suitcase never arrived after my flight from Madrid, how do I file a lost baggage claim?",
        "The airline damaged my luggage, one wheel is broken. Who pays for the repair?",
        "How many kilos can I bring in checked baggage on an economy ticket?",
        "My bag was left behind at the connecting airport, when will it be delivered to my hotel?",
        "Can I take a second carry-on bag on the plane or do I have to pay extra?",
        "The baggage belt showed my flight but my suitcase never came out. What now?",
        "I was charged an overweight baggage fee at check-in that seems wrong, the bag was 23 kg.",
    ],
    "printer": [
        "The office printer keeps jamming on page two, paper gets stuck in the tray.",
        "Our printer says it is offline even though it is connected to the wifi.",
        "The prints come out with faded streaks, do I need a new toner cartridge?",
        "How do I install the printer driver on a new Windows laptop?",
        "The printer only prints blank pages since we changed the ink.",
        "Printing double-sided does not work, the printer ignores the duplex setting.",
        "The scanner on our multifunction printer stopped sending scans to email.",
    ],
    "gym": [
        "How do I cancel my gym membership? I moved to another city.",
        "Can I freeze my gym membership for two months while I recover from an injury?",
        "The gym charged my membership fee twice this month, I want one refunded.",
        "Do I need to book yoga and spinning classes at the gym in advance?",
        "My gym access card stopped working at the turnstile this morning.",
        "Is there a fee to bring a guest to the gym with my membership?",
    ],
}
THEME_WORDS = {
    "baggage": {"baggage", "bag", "bags", "suitcase", "luggage", "flight", "airline", "airport"},
    "printer": {"printer", "printers", "prints", "printing", "print", "toner", "ink", "paper"},
    "gym": {"gym", "membership", "classes", "turnstile"},
}
THEME_OF = {ticket: theme for theme, tickets in OFF_TOPIC.items() for ticket in tickets}


@pytest.fixture
def slack_overrides() -> dict[str, Any]:
    return {"kb_api_keys": KEY}


async def test_gaps_of_every_door_grouped_by_topic_with_feedback_and_an_html_report(
    slack_bot: SlackBot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = str(slack_bot.settings.kb_data_dir)
    client = slack_bot.client

    # 1. The HTTP door: every sample ticket (every third one as required-data) and half the off-topic ones.
    sample = [json.loads(line)["ticket"] for line in SAMPLE_TICKETS.read_text(encoding="utf-8").splitlines()]
    by_http = sample + [t for tickets in OFF_TOPIC.values() for t in tickets[::2]]
    answers: dict[str, dict[str, Any]] = {}
    for n, ticket in enumerate(by_http):
        route = "/api/v1/required-data" if n % 3 == 2 else "/api/v1/generate-response"
        resp = await client.post(route, json={"ticket": ticket}, headers=AUTH)
        assert resp.status == 200, await resp.text()
        answers[ticket] = await resp.json()

    # 2. The Slack door: the other off-topic tickets, each a mention in the support channel.
    by_slack = [t for tickets in OFF_TOPIC.values() for t in tickets[1::2]]
    for ticket in by_slack:
        resp = await slack_bot.event(slack_bot.mention(ticket))
        assert resp.status == 200
    await slack_bot.fake.wait_for("chat.update", len(by_slack), where=lambda c: bool(c.body.get("blocks")))
    store = SqliteRecordStore(slack_bot.settings.feedback_db_path)
    slack_escalated = [i for i in store.gap_items(since=0) if i.door == "mention" and i.decision == "escalate"]
    await slack_bot.fake.wait_for(
        "chat.postMessage", len(slack_escalated), where=lambda c: c.body.get("channel") == ESCALATIONS
    )

    # 3. A rating from another tool: an answered sample ticket turns out wrong.
    rated = next(a for t, a in answers.items() if t in sample and a["decision"] != "escalate")
    resp = await client.post(
        "/api/v1/feedback",
        json={"request_id": rated["request_id"], "rating": "not_helpful", "comment": "Customer was not helped"},
        headers=AUTH,
    )
    assert resp.status == 201 and (await resp.json())["rating"] == "down"

    # 4. `kb gaps --json`: the off-topic tickets in a few topics, one topic per theme, counts adding up.
    assert await asyncio.to_thread(kb_main, ["gaps", "--json", "--data-dir", data_dir]) == 0
    report = GapReport.model_validate_json(capsys.readouterr().out)
    assert report.total == sum(t.count for t in report.topics) > 0
    gaps = {i.request_id: i for i in store.gap_items(since=0)}
    assert set(gaps) == {rid for t in report.topics for rid in t.request_ids} and len(gaps) == report.total
    topic_of = {rid: t for t in report.topics for rid in t.request_ids}
    off_topic_gaps = [rid for rid, item in gaps.items() if item.ticket in THEME_OF]
    assert len(off_topic_gaps) >= 16, "most off-topic tickets should be escalated"
    assert {gaps[rid].door for rid in off_topic_gaps} == {"http", "mention"}
    off_topics = {topic_of[rid].id for rid in off_topic_gaps}
    assert len(off_topics) <= 6, [t.label for t in report.topics if t.id in off_topics]
    main_topics = {}
    for theme in OFF_TOPIC:
        ids = Counter(topic_of[rid].id for rid in off_topic_gaps if THEME_OF[gaps[rid].ticket] == theme)
        (main, count), total = ids.most_common(1)[0], sum(ids.values())
        assert count >= 0.75 * total and count >= 3, (theme, ids)
        topic = next(t for t in report.topics if t.id == main)
        assert THEME_WORDS[theme] & set(topic.keywords), (theme, topic.label)
        assert all(THEME_OF.get(gaps[rid].ticket) == theme for rid in topic.request_ids), topic.label
        assert topic.escalated == topic.count and len(topic.examples) == 3 and topic.closest_article is not None
        main_topics[theme] = topic
    assert len({t.id for t in main_topics.values()}) == 3
    assert any(set(t.doors) == {"http", "slack"} for t in main_topics.values())
    rated_topic = topic_of[rated["request_id"]]
    assert rated_topic.rated_down >= 1 and gaps[rated["request_id"]].rated_down

    # 5. `kb feedback`: answers of both doors and the rating from HTTP.
    assert await asyncio.to_thread(kb_main, ["feedback", "--data-dir", data_dir]) == 0
    feedback = capsys.readouterr().out
    assert f"answers        {len(by_http) + len(by_slack):>5}" in feedback
    assert f"  by door      http {len(by_http)}  slack {len(by_slack)} (mention {len(by_slack)})" in feedback
    assert "feedback           1   helpful 0, not helpful 1 (0% helpful)" in feedback
    assert "  by source    http 1" in feedback and f"{rated['request_id']}  Customer was not helped" in feedback

    # 6. `kb gaps --html`: one self-contained file; headless Chromium renders its chart.
    html = tmp_path / "gaps.html"
    assert await asyncio.to_thread(kb_main, ["gaps", "--html", str(html), "--data-dir", data_dir]) == 0
    page = html.read_text(encoding="utf-8")
    assert "<svg" in page and page.count('class="bar"') >= min(9, len(report.topics))
    for theme, topic in main_topics.items():
        assert topic.label in page, theme
    screenshot = tmp_path / "gaps-report.png"
    shown = screenshot_in_chromium(html, screenshot, tmp_path / "chromium-profile")
    print(f"gap report screenshot: {screenshot}")
    assert shown.get(rgb(SERIES[0]), 0) > 1_000, "the biggest topic's bars are missing from the screenshot"
    assert shown.get(rgb(SERIES[1]), 0) > 500 and shown.get(rgb(SERIES[2]), 0) > 500


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot_in_chromium(html: Path, png: Path, profile: Path) -> Counter[tuple[int, int, int]]:
    """Open `html` in headless Chromium, save a screenshot to `png`; the count of pixels by colour."""
    binary = chromium()
    if binary is None:
        pytest.skip("chromium is not installed (`apt-get install -y chromium`; .ci/run installs it)")
    command = [
        binary,
        "--headless",
        "--no-sandbox",  # as root in a container
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--window-size=1200,1400",
        f"--screenshot={png}",
        html.resolve().as_uri(),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(profile)}
    )
    assert done.returncode == 0 and png.exists(), done.stderr[-2_000:]
    return Counter(png_pixels(png.read_bytes()))


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def png_pixels(data: bytes) -> list[tuple[int, int, int]]:
    """The RGB pixels of an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, (depth, colour_type, interlace)
    bpp = 3 if colour_type == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    previous = bytearray(stride)
    pixels: list[tuple[int, int, int]] = []
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - bpp] if x >= bpp else 0
            up = previous[x]
            corner = previous[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[x] = (line[x] + predictor) & 0xFF
        pixels += [(line[i], line[i + 1], line[i + 2]) for i in range(0, stride, bpp)]
        previous = line
    return pixels
