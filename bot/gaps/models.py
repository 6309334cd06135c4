"""The gap report: what `kb gaps --json` prints and `GET /api/v1/gaps` returns."""

from __future__ import annotations

from pydantic import BaseModel, Field


class GapExample(BaseModel):
    request_id: str
    ticket: str = Field(description="The ticket as stored: redacted (e-mails, cards, IBANs, phones), cut to 300 chars.")
    created_at: str = Field(description="When it was answered (ISO 8601, UTC).")
    door: str = Field(description="slack | http | cli")
    decision: str
    level: str
    score: float
    escalated: bool
    rated_down: bool


class GapArticle(BaseModel):
    """The KB section closest to the topic as a whole (the mean of its tickets' embeddings)."""

    article_id: str
    title: str
    url: str
    section: str = ""
    similarity: float = Field(description="Cosine between the topic and that section: low means nothing covers it.")


class GapTopic(BaseModel):
    id: int = Field(description="1 for the biggest topic.")
    label: str = Field(description="Its most telling words, comma-separated.")
    keywords: list[str]
    count: int = Field(description="Answers in this topic; the counts of all topics add up to `total`.")
    escalated: int = Field(description="Of them, decided `escalate` or escalated with the button.")
    rated_down: int = Field(description="Of them, rated 👎 at least once.")
    low_confidence: int
    doors: dict[str, int] = Field(description="Answers by door: slack, http, cli.")
    first_seen: str
    last_seen: str
    timeline: list[int] = Field(description="Answers per bin of `bins`.")
    examples: list[GapExample] = Field(description="Up to 3 tickets closest to the topic's centre.")
    closest_article: GapArticle | None = Field(description="None when the KB is empty or unavailable.")
    request_ids: list[str]


class GapReport(BaseModel):
    days: int
    since: str
    until: str
    total: int = Field(description="Answers of the period that were escalated, low in confidence or rated 👎.")
    escalated: int
    rated_down: int
    low_confidence: int
    truncated: bool = Field(False, description="More answers than the report groups: only the newest were.")
    min_similarity: float = Field(description="Tickets merge into a topic while they are this alike on average.")
    embedder: str
    bins: list[str] = Field(description="Start date (UTC) of each bin of the timelines.")
    bin_days: int = Field(description="1 (a bin a day) up to 31 days, else 7.")
    topics: list[GapTopic]
    notes: list[str] = Field(default_factory=list, description="What the report could not do (no KB to search, …).")
