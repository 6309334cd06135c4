"""The team's intake file: topics described by example phrases → the fields to collect.

    intake.yml (next to the articles; `kb ingest` stores it in the catalog):

        min_similarity: 0.5            # optional, for every topic (cosine, 0..1)
        topics:
          - name: damaged bike
            examples:
              - the brakes on my bike don't work
              - the bike I rented has a flat tyre
            collect:
              - bike number                          # a plain item …
              - item: ride ID                        # … or an item with its reason
                why: finds the ride and the bike in the fleet log
            min_similarity: 0.55       # optional, this topic only

    topics = Intake(catalog, embedder)
    matches = await topics.match("My bike's chain came off halfway", vector)   # best topic first

Topics match by meaning: the examples are embedded once (again only when the file changes) and a
ticket matches a topic when its vector is close enough to one of the topic's examples. Without
embeddings (keyword-only search), a topic matches when the ticket holds most words of an example.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rag.catalog import Catalog
from rag.errors import EmbedderError
from rag.protocols import Embedder, Vectors
from rag.text import content_words

log = logging.getLogger(__name__)

FILE_NAMES = ("intake.yml", "intake.yaml")
DEFAULT_MIN_SIMILARITY = 0.5  # MiniLM cosine: same request in other words ≈ 0.55-0.8, another topic < 0.4
LEXICAL_SHARE = 0.6  # without embeddings: the share of an example's words the ticket must hold
MAX_TOPICS = 2


class IntakeField(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: str = Field(min_length=1, max_length=120)
    why: str = Field("", max_length=300)


class IntakeTopic(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    examples: list[str] = Field(min_length=1)
    collect: list[IntakeField] = Field(min_length=1)
    min_similarity: float | None = Field(None, ge=0.0, le=1.0)

    @field_validator("collect", mode="before")
    @classmethod
    def _plain_items(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"item": v} if isinstance(v, str) else v for v in value]
        return value


class IntakeFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_similarity: float = Field(DEFAULT_MIN_SIMILARITY, ge=0.0, le=1.0)
    topics: list[IntakeTopic] = Field(default_factory=list)


def parse_intake(text: str) -> IntakeFile:
    """The file's topics; ValueError says what is wrong (YAML syntax or which field)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"not valid YAML ({exc})".replace("\n", " ")) from None
    try:
        return IntakeFile.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "file"
        raise ValueError(f"{where}: {first['msg']} ({exc.error_count()} problem(s))") from None


@dataclass(frozen=True)
class TopicMatch:
    topic: str
    similarity: float
    fields: list[IntakeField]


@dataclass(frozen=True)
class _Topics:
    names: list[str]
    thresholds: list[float]
    fields: list[list[IntakeField]]
    owner: list[int]  # example index -> topic index
    examples: list[str]


def _topics(files: list[str]) -> _Topics:
    topics = _Topics([], [], [], [], [])
    for text in files:
        try:
            parsed = parse_intake(text)
        except ValueError as exc:  # ingest validates; a file written by hand into the catalog may not be
            log.warning("intake file ignored: %s", exc)
            continue
        for topic in parsed.topics:
            topics.names.append(topic.name)
            topics.thresholds.append(topic.min_similarity or parsed.min_similarity)
            topics.fields.append(topic.collect)
            topics.owner.extend([len(topics.names) - 1] * len(topic.examples))
            topics.examples.extend(topic.examples)
    return topics


class Intake:
    """Every intake file in the catalog, matched against tickets by meaning."""

    def __init__(self, catalog: Catalog, embedder: Embedder) -> None:
        self.catalog = catalog
        self.embedder = embedder
        self._key = ""
        self._topics = _Topics([], [], [], [], [])
        self._vectors: Vectors | None = None
        self._lock = asyncio.Lock()

    async def match(self, text: str) -> list[TopicMatch]:
        """Topics the ticket is about, closest first (at most MAX_TOPICS); [] without an intake file."""
        files = [row.text for row in self.catalog.intake_files()]
        if not files:
            return []
        await self._load(files)
        topics = self._topics
        if not topics.names:
            return []
        scores, by_words = await self._example_scores(text)
        best = np.full(len(topics.names), -1.0)
        for example, score in enumerate(scores):
            best[topics.owner[example]] = max(best[topics.owner[example]], score)
        matches = [
            TopicMatch(topics.names[i], round(float(best[i]), 3), topics.fields[i])
            for i in np.argsort(-best, kind="stable")
            if best[i] >= (LEXICAL_SHARE if by_words else topics.thresholds[i])
        ]
        return matches[:MAX_TOPICS]

    async def _load(self, files: list[str]) -> None:
        key = hashlib.sha256("\0".join(files).encode("utf-8")).hexdigest()
        if key == self._key:
            return
        async with self._lock:
            if key != self._key:
                self._topics, self._vectors, self._key = _topics(files), None, key
            if self._vectors is None and self._topics.examples:
                try:
                    self._vectors = await self.embedder.embed(self._topics.examples)
                except EmbedderError as exc:  # tried again with the next ticket
                    log.warning("intake examples not embedded, matching them by words: %s", exc)

    async def _example_scores(self, text: str) -> tuple[list[float], bool]:
        """(a score for every example, whether they are word shares rather than cosines)."""
        if self._vectors is not None:
            try:
                vector = await self.embedder.embed([text])
                return [float(s) for s in self._vectors @ np.asarray(vector[0], dtype=np.float32)], False
            except EmbedderError as exc:
                log.warning("ticket not embedded for intake topics, matching them by words: %s", exc)
        words = content_words(text)
        return [len(content_words(e) & words) / max(1, len(content_words(e))) for e in self._topics.examples], True
