"""Domain models: what the engine reads (articles, chunks) and what every door returns (Answer).

The `Answer` schema is a contract shared by Slack, HTTP and `kb ask --json` (see DESIGN.md).
"""

from __future__ import annotations

import hashlib
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rag.followups import search_text
from rag.ticket_text import focus, plain


class Tier(str, Enum):
    """How much a chunk matters when it is evidence: CRITICAL > HIGH > MEDIUM > LOW."""

    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"

    @property
    def rank(self) -> int:
        """0 for CRITICAL … 3 for LOW (sort key: most important first)."""
        return _TIER_RANK[self]

    @classmethod
    def parse(cls, value: object) -> Tier:
        """Accept `critical`, ` HIGH `, a Tier; raise ValueError naming the allowed values."""
        if isinstance(value, Tier):
            return value
        text = str(value).strip().upper()
        try:
            return cls(text)
        except ValueError:
            allowed = ", ".join(t.value for t in cls)
            raise ValueError(f"unknown tier {value!r} (allowed: {allowed})") from None


_TIER_RANK = {Tier.CRITICAL: 0, Tier.HIGH: 1, Tier.MEDIUM: 2, Tier.LOW: 3}

Level = Literal["high", "medium", "low"]
Decision = Literal["answer", "review", "escalate"]


class Article(BaseModel):
    """One help-center article as a loader read it (body is Markdown)."""

    id: str
    title: str
    url: str = ""
    body: str
    tags: list[str] = Field(default_factory=list)
    updated_at: str | None = None
    source: str = ""
    tier: Tier | None = None
    section_tiers: dict[str, Tier] = Field(default_factory=dict)

    def content_hash(self) -> str:
        return sha256_text(f"{self.title}\n{self.url}\n{self.tier}\n{self.section_tiers}\n{self.body}")


class Chunk(BaseModel):
    """A section-sized piece of an article; the unit that is embedded, searched and cited."""

    id: str  # "{article_id}#{n}"
    article_id: str
    title: str
    url: str
    heading_path: str = ""
    text: str
    tier: Tier = Tier.MEDIUM
    kind: str = "text"  # requirements | steps | warning | explanation | related | text
    content_hash: str = ""
    embedding_model: str = ""

    def embedding_text(self) -> str:
        """What the embedder sees: title and section give a short chunk its context."""
        head = f"{self.title} > {self.heading_path}" if self.heading_path else self.title
        return f"{head}\n{self.text}"


class Hit(BaseModel):
    """A retrieved chunk with the evidence that brought it up."""

    chunk: Chunk
    score: float  # fused score in [0, 1]
    dense: float | None = None  # cosine similarity
    lexical: float | None = None  # BM25, higher is better
    dense_rank: int | None = None
    lexical_rank: int | None = None


Role = Literal["customer", "agent", "bot"]
MAX_HISTORY = 50  # earlier turns a ticket may carry


class Turn(BaseModel):
    """One earlier message of the conversation a ticket belongs to (a Slack thread, a DM, a helpdesk thread)."""

    model_config = ConfigDict(extra="forbid")

    role: Role = Field(
        description="customer: the customer's words (the original ticket); agent: a support agent; "
        "bot: an earlier answer of ours (never searched, never evidence)."
    )
    text: str = Field(min_length=1, max_length=20_000)


class Ticket(BaseModel):
    """What a door hands the engine: the message to answer, and the conversation it follows up on."""

    model_config = ConfigDict(extra="forbid")

    ticket: str = Field(min_length=1, max_length=20_000, description="The customer's message.")
    subject: str | None = Field(default=None, max_length=1_000)
    customer: str | None = Field(default=None, max_length=500, description="Customer name or e-mail.")
    metadata: dict[str, Any] = Field(default_factory=dict)
    history: list[Turn] = Field(
        default_factory=list,
        max_length=MAX_HISTORY,
        description="Earlier messages of the conversation, oldest first, without `ticket` itself: "
        "`ticket` is then a follow-up and `history` what it refers to.",
    )

    def text(self) -> str:
        """What the engine searches and reads: subject and message; for a follow-up that is short or
        refers back ("what if they paid with PayPal?"), also the earlier question it refers to
        (rag/followups.py). Never the bot's own answers."""
        body = search_text(self.ticket, self.history) if self.history else self.ticket
        return plain(f"{self.subject}\n{body}" if self.subject else body)

    def query(self) -> str:
        """`text()` without the e-mail around the ask (greeting, sign-off, signature, footers, quoted
        replies; rag/ticket_text.py): what retrieval, intake topics and the drafter's relevance read.
        Required data reads `text()`: an address in a signature is data already given."""
        return focus(self.text())


class Confidence(BaseModel):
    score: float = Field(ge=0.0, le=1.0)
    level: Level
    reasons: list[str] = Field(default_factory=list)


class RequiredItem(BaseModel):
    item: str
    why: str = ""
    source_ids: list[str] = Field(default_factory=list)


class Source(BaseModel):
    article_id: str
    chunk_id: str
    title: str
    url: str
    tier: Tier
    score: float
    section: str = ""


class Citation(BaseModel):
    """One claim of the draft (a sentence or a step, as the draft writes it) and the chunks it comes from."""

    text: str = Field(description="A sentence or step of the draft, as the draft writes it.")
    chunk_ids: list[str] = Field(
        default_factory=list, description="The retrieved chunks it comes from (ids as in `sources[].chunk_id`)."
    )


class Backends(BaseModel):
    embedder: str
    store: str
    drafter: str


class Answer(BaseModel):
    """The one answer schema of Slack, HTTP and CLI."""

    request_id: str
    decision: Decision
    confidence: Confidence
    required_data: list[RequiredItem] = Field(default_factory=list)
    draft: str
    citations: list[Citation] = Field(
        default_factory=list, description="Each claim of the draft with the chunk ids it comes from."
    )
    sources: list[Source] = Field(
        default_factory=list, description="The sections the draft cites, then the other articles found; by score."
    )
    backends: Backends
    degraded: bool = False
    degraded_reasons: list[str] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(default_factory=dict)


class Draft(BaseModel):
    """What a drafter returns; `required_data` None means "use the rule-based list".

    `answers_ticket` is the drafter's own judgement of the evidence (None: it has none)."""

    text: str
    cited_chunk_ids: list[str] = Field(default_factory=list)
    citations: list[Citation] = Field(default_factory=list)
    required_data: list[RequiredItem] | None = None
    answers_ticket: bool | None = None


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
