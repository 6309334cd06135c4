"""The hosted drafter: one grounded chat completion with structured output (JSON schema).

    drafter = OpenAIDrafter(settings)              # OPENAI_API_KEY, OPENAI_BASE_URL, KB_LLM_MODEL
    draft = await drafter.draft(ticket, evidence, required, escalate=False)
    draft.text, draft.citations, draft.cited_chunk_ids, draft.required_data
    await drafter.close()

Prompts come from `rag.prompts` (version in `prompt_version` and in the log line). With
KB_REDACT_PII on, the e-mails, phones, cards and IBANs of the ticket and of its earlier turns
(`Ticket.history`) leave as placeholders and are put back into the draft, its citations and the
required-data items the agent sees. Chunk ids the model invents are dropped and logged; a citation
or a required-data item whose every source was invented is dropped too. Any failure (HTTP,
timeout, a reply that is not the schema) raises `DrafterError`, and the engine answers with the
extractive drafter instead, marked degraded.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from rag.errors import DrafterError
from rag.models import Citation, Draft, Hit, RequiredItem, Ticket
from rag.openai_client import BACKEND, build_breaker, build_client, guarded
from rag.prompts import PROMPT_VERSION, RESPONSE_FORMAT, draft_messages
from rag.redact import Redactor
from rag.retry import SharedBreakers
from rag.settings import Settings
from rag.ticket_text import plain

log = logging.getLogger(__name__)

MAX_COMPLETION_TOKENS = 1200


class _Item(BaseModel):
    item: str = Field(min_length=1)
    why: str = ""
    source_ids: list[str] = Field(default_factory=list)


class _Claim(BaseModel):
    text: str
    chunk_ids: list[str] = Field(default_factory=list)


class _Reply(BaseModel):
    """What the JSON schema asks the model for."""

    draft: str = Field(min_length=1)
    answers_ticket: bool = True
    cited_chunk_ids: list[str] = Field(default_factory=list)
    citations: list[_Claim] = Field(default_factory=list)
    required_data: list[_Item] = Field(default_factory=list)


class OpenAIDrafter:
    name = "openai"
    prompt_version = PROMPT_VERSION

    def __init__(self, settings: Settings, *, breakers: SharedBreakers | None = None) -> None:
        self.model = settings.kb_llm_model
        self._settings = settings
        self._redact = settings.kb_redact_pii
        self._client = build_client(settings)
        self._breaker = build_breaker(settings, "chat", breakers)

    async def draft(
        self, ticket: Ticket, evidence: Sequence[Hit], required: Sequence[RequiredItem], escalate: bool
    ) -> Draft:
        redactor = Redactor()
        ticket = ticket.model_copy(update={"ticket": plain(ticket.ticket)})  # HTML from a help desk: its text
        if self._redact:
            ticket = ticket.model_copy(
                update={
                    "ticket": redactor.redact(ticket.ticket),
                    "subject": redactor.redact(ticket.subject) if ticket.subject else ticket.subject,
                    "customer": redactor.redact(ticket.customer) if ticket.customer else ticket.customer,
                    # one redactor for every turn: the same address is the same placeholder throughout
                    "history": [t.model_copy(update={"text": redactor.redact(t.text)}) for t in ticket.history],
                }
            )
        messages = draft_messages(ticket, evidence, required, escalate)
        started = time.perf_counter()
        request: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "response_format": RESPONSE_FORMAT,
            "temperature": 0.2,
            "max_completion_tokens": MAX_COMPLETION_TOKENS,
        }
        response = await guarded(
            lambda: self._client.chat.completions.create(**request),
            settings=self._settings,
            what="chat completion",
            error=DrafterError,
            breaker=self._breaker,
        )
        reply = self._parse(response)
        usage = getattr(response, "usage", None)
        log.info(
            "openai draft model=%s prompt=%s evidence=%d redacted=%s tokens_in=%s tokens_out=%s ms=%.0f",
            self.model,
            PROMPT_VERSION,
            len(evidence),
            redactor.counts or "none",
            getattr(usage, "prompt_tokens", "?"),
            getattr(usage, "completion_tokens", "?"),
            (time.perf_counter() - started) * 1000,
        )
        return self._grounded(reply, evidence, redactor)

    @staticmethod
    def _parse(response: object) -> _Reply:
        try:
            choice = response.choices[0]  # type: ignore[attr-defined]
            message = choice.message
        except (AttributeError, IndexError, TypeError) as exc:
            raise DrafterError(BACKEND, f"chat completion: malformed response ({type(exc).__name__})") from exc
        if getattr(choice, "finish_reason", None) == "length":
            raise DrafterError(BACKEND, "chat completion: the reply was cut off (max tokens)")
        refusal = getattr(message, "refusal", None)
        if refusal:
            raise DrafterError(BACKEND, f"chat completion: the model refused ({refusal[:200]})")
        content = getattr(message, "content", None)
        if not isinstance(content, str) or not content.strip():
            raise DrafterError(BACKEND, "chat completion: empty reply")
        try:
            return _Reply.model_validate(json.loads(content))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise DrafterError(BACKEND, f"chat completion: reply is not the draft schema ({str(exc)[:200]})") from exc

    @staticmethod
    def _grounded(reply: _Reply, evidence: Sequence[Hit], redactor: Redactor) -> Draft:
        known = {h.chunk.id for h in evidence}
        invented = [c for c in reply.cited_chunk_ids if c not in known]
        citations: list[Citation] = []
        for claim in reply.citations:
            invented += [c for c in claim.chunk_ids if c not in known]
            ids = list(dict.fromkeys(c for c in claim.chunk_ids if c in known))
            if ids and claim.text.strip():  # a claim none of whose sources was retrieved is not cited
                citations.append(Citation(text=redactor.restore(claim.text).strip(), chunk_ids=ids))
        items: list[RequiredItem] = []
        for raw in reply.required_data:
            sources = [s for s in raw.source_ids if s in known]
            invented += [s for s in raw.source_ids if s not in known]
            if raw.source_ids and not sources:
                log.warning("required-data item dropped, none of its sources were retrieved: %s", raw.source_ids)
                continue
            items.append(
                RequiredItem(item=redactor.restore(raw.item), why=redactor.restore(raw.why), source_ids=sources)
            )
        if invented:
            log.warning("the model cited chunk ids that were not retrieved, dropped: %s", sorted(set(invented)))
        cited = list(dict.fromkeys(c for c in reply.cited_chunk_ids if c in known))
        return Draft(
            text=redactor.restore(reply.draft).strip(),
            cited_chunk_ids=cited,
            citations=citations,
            required_data=items,
            answers_ticket=reply.answers_ticket,
        )

    async def close(self) -> None:
        await self._client.close()
