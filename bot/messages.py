"""Every user-facing string of the doors, in one place, so Slack, HTTP and CLI say things alike."""

from __future__ import annotations

# --- CLI -------------------------------------------------------------------------------------
CLI_DESCRIPTION = "kb-rag: answer support tickets from your help-center articles."
CLI_ERROR = "error: {error}"
INGEST_FILE_ERROR = "skipped {error}"
INGEST_WARNING = "warning: {warning}"
ASK_NEEDS_TEXT_OR_FILE = "kb ask: give the ticket text or --file TICKETS.jsonl (not both)"
EMPTY_KB = "The knowledge base in {data_dir} is empty: run `kb ingest PATH --data-dir {data_dir}` first."
BAD_TICKET_LINE = "{path}, line {line}: not a ticket ({error}); expected {{\"ticket\": \"...\"}}"

# --- answer rendering (CLI and Slack share the words) ------------------------------------------
LEVEL_LABEL = {"high": "High", "medium": "Medium", "low": "Low"}
LEVEL_EMOJI = {"high": "🟢", "medium": "🟡", "low": "🔴"}
DECISION_LABEL = {
    "answer": "Answer: the draft is grounded in the KB",
    "review": "Review: check the draft before sending",
    "escalate": "Escalate: the KB does not cover this well enough",
}
REQUIRED_HEADING = "Data to collect"
REQUIRED_NONE = "Nothing more to collect."
DRAFT_HEADING = "Draft reply"
SOURCES_HEADING = "Sources"
DEGRADED_NOTE = "Degraded: {reasons}"
