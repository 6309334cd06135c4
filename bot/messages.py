"""Every user-facing string of the doors, in one place, so Slack, HTTP and CLI say things alike."""

from __future__ import annotations

# --- CLI -------------------------------------------------------------------------------------
CLI_DESCRIPTION = "kb-rag: answer support tickets from your help-center articles."
CLI_ERROR = "error: {error}"
INGEST_DESCRIPTION = (
    "Each folder or file given is one source. Ingest is incremental: unchanged articles are skipped, and "
    "articles that disappeared from a source are deleted (unless some of its files failed to load); other "
    "sources are never touched: `kb sources` lists them, `kb remove SOURCE` deletes one. Exits 1 when a "
    "file could not be ingested (unreadable, or a PDF/Word/slides document)."
)
INGEST_FILE_ERROR = "skipped {error}"
INGEST_WARNING = "warning: {warning}"
ASK_NEEDS_TEXT_OR_FILE = "kb ask: give the ticket text or --file TICKETS.jsonl (not both)"
EMPTY_KB = "The knowledge base in {data_dir} is empty: run `kb ingest PATH --data-dir {data_dir}` first."
EVAL_PAIRS = "kb eval: give one --tickets file for each --kb folder, in the same order"
SNAPSHOT_DESCRIPTION = (
    "Copy the KB catalog (articles, chunks, vectors of the embedded store, the keyword index) as one "
    "consistent file. `--into DATA_DIR` publishes it as DATA_DIR/kb.sqlite3.next: a running `kb serve` on "
    "that data dir adopts it within a second without a restart; a stopped one adopts it when it starts."
)
SNAPSHOT_NEEDS_TARGET = "Say where the copy goes: `kb snapshot --into DATA_DIR` or `kb snapshot --file FILE`."
SNAPSHOT_OVER_ITSELF = "That is the catalog being copied; give another data dir or file."
SNAPSHOT_WRITTEN = "wrote {path}: {articles} articles, {chunks} chunks"
EVAL_DESCRIPTION = (
    "Ingest each KB into a temporary store and answer its labelled tickets in each retrieval mode. "
    "With several KBs (--kb A --tickets A.jsonl --kb B --tickets B.jsonl) escalation is judged "
    "leave-one-KB-out: the confidence model is refitted on the other KBs for each one."
)
BAD_TICKET_LINE = '{path}, line {line}: not a ticket ({error}); expected {{"ticket": "..."}}'
NO_TICKETS = 'kb ask: no tickets in {path}; expected one {{"ticket": "..."}} a line'
STDIN_NAME = "<stdin>"
CLI_UNEXPECTED = "error: unexpected {kind}: {error} (run `kb -v ...` for the details)"
VERSION = "kb-rag {version}"
BENCH_BAD_SIZES = "kb bench: --sizes takes comma-separated chunk counts above 0, such as 10000,100000 (not {value!r})"
INGEST_SKIPPED = "{error}"
INGEST_INCOMPLETE = "kb ingest: {count} file(s) not ingested (listed above); the other files were"

# --- data dir and KB management (`kb sources`, `kb remove`, `kb ingest --replace-sample`) -----
DATA_DIR_IS_FILE = "The data dir {path} is a file, not a folder: give a folder with --data-dir (or KB_DATA_DIR)."
DATA_DIR_MISSING = (
    "The data dir {path} does not exist, so nothing was ingested there: "
    "run `kb ingest PATH --data-dir {path}` (or check --data-dir / KB_DATA_DIR)."
)
SOURCES_EMPTY = "No sources in {data_dir} yet: run `kb ingest PATH --data-dir {data_dir}`."
SOURCES_COLUMNS = ("source", "articles", "chunks", "last ingest")
SOURCES_SAMPLE_TAG = "{source} (sample KB)"
SOURCES_TOTAL = "total: {count} source(s)"
SOURCES_TIME_UNKNOWN = "unknown"
REMOVE_UNKNOWN = "kb remove: no source {source!r} in {data_dir}; known sources: {known}"
REMOVE_NONE_KNOWN = "none (the knowledge base is empty)"
REMOVED = "removed {source}: {articles} articles, {chunks} chunks"
SAMPLE_IN_THE_WAY = (
    "{data_dir} holds only the sample KB ({sample}, the demo help center `kb serve` starts with); "
    "ingesting next to it would mix the demo articles into your answers. To replace it: "
    "`{command} --replace-sample` (to keep both: `{command} --keep-sample`)."
)
SAMPLE_REPLACED = "removed the sample KB {sample}: {articles} articles, {chunks} chunks"
SAMPLE_WOULD_REPLACE = "would remove the sample KB {sample}: {articles} articles, {chunks} chunks"
SAMPLE_KEPT_MISSING_PATH = "kb ingest: {path} does not exist; the sample KB was kept"

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

# --- HTTP API (bot/http, bot/server.py) ---------------------------------------------------------
HTTP_MISSING_API_KEY = "This route needs an API key: send it in the X-API-Key header."
HTTP_INVALID_API_KEY = "The X-API-Key header does not match any configured key."
HTTP_RATE_LIMITED = "Too many requests for this API key: at most {limit}. Retry in {retry_after} s."
HTTP_BODY_TOO_LARGE = "The request body is larger than {limit} bytes (KB_MAX_BODY_BYTES)."
HTTP_UNSUPPORTED_MEDIA_TYPE = "Send a JSON body with 'Content-Type: application/json' (UTF-8), not {content_type!r}."
HTTP_MALFORMED_JSON = "The body is not valid UTF-8 JSON: {error}"
HTTP_INVALID_FIELDS = "Invalid request: {summary}"
HTTP_BAD_IDEMPOTENCY_KEY = "Idempotency-Key must be 1 to 255 visible ASCII characters."
HTTP_IDEMPOTENCY_REUSED = "This Idempotency-Key was already used with a different request body or route; use a new key."
HTTP_NOT_FOUND = "No route {method} {path}; see GET /openapi.json for the routes."
HTTP_METHOD_NOT_ALLOWED = "{method} is not allowed on {path}; allowed: {allowed}."
HTTP_BACKEND_UNAVAILABLE = "A backend is unavailable ({backend}); try again shortly."
HTTP_INTERNAL_ERROR = "Internal error; the server log has the details under this request_id."
HTTP_GENERIC_ERROR = "{reason}."
HTTP_OPEN_WARNING = (
    "No API key configured (KB_API_KEYS): the HTTP API on {host} is open to anyone who can reach it. "
    "That is only allowed on a loopback address."
)
HTTP_REFUSE_OPEN = (
    "Refusing to serve the HTTP API on {host} without an API key: set KB_API_KEYS (comma-separated) "
    "or listen on 127.0.0.1 (KB_HOST)."
)
SERVE_LISTENING = "kb-rag listening on {url} (embedder={embedder}, store={store}, drafter={drafter}; {chunks} chunks)"
SERVE_SEEDING = "First start with an empty knowledge base: ingesting the sample KB from {path}"
SERVE_NO_SAMPLE = "The knowledge base is empty and no sample KB was found at {path}; run `kb ingest PATH`."
SERVE_NOT_RESEEDING = (
    "The knowledge base is empty because its sources were removed; the sample KB is only ingested into "
    "a data dir that never had any: run `kb ingest PATH`."
)
SERVE_SEEDED = "Sample KB ready: {summary}"
SERVE_STOPPING = "Stopping: finishing in-flight requests"
SERVE_STOPPED = "Stopped"
SERVE_SLACK_MISSING = "SLACK_BOT_TOKEN is set but the Slack door (bot.slack.app) is not available: {error}"

# --- Slack -----------------------------------------------------------------------------------
SLACK_WORKING = "⏳ Looking through the knowledge base…"
SLACK_BADGE = "{emoji} *{label} confidence* ({score:.2f}) · {decision}"
SLACK_ANSWER_TEXT = "{emoji} {label} confidence ({score:.2f}): {decision}"
SLACK_REQUIRED_ITEM = "☐ *{item}*"
SLACK_REQUIRED_WHY = " — _{why}_"
SLACK_CHECKLIST_ITEM = "*{item}*"  # one checkbox of "Data to collect" (at most 75 characters)
SLACK_CHECKLIST_WHY = "_{why}_"  # its description
SLACK_HOLDING_HEADING = "Holding reply (send it while a human takes over)"
SLACK_DRAFT_TRUNCATED = "_…the draft is longer than one Slack message allows; `kb ask` prints all of it._"
SLACK_SOURCE_LINE = "• <{url}|{title}> · `{tier}` · {score:.2f}"
SLACK_CITED_SOURCE_LINE = "*[{number}]* <{url}|{title}> · `{tier}` · {score:.2f}"
SLACK_FOOTNOTE = "<{url}|[{number}]>"  # after a claim of the draft: the section it comes from
SLACK_SOURCES_NONE = "No article matched."
SLACK_FOOTER = "request `{request_id}` · {embedder} / {store} / {drafter} · {total_ms:.0f} ms"
SLACK_PRIVATE_ESCALATE_HINT = "Low confidence: press *Escalate* to hand this to the escalation team."
SLACK_SHARED_BY = "Shared by <@{user}>"
SLACK_SEARCH_HEADING = "*Articles for* “{query}”"
SLACK_SEARCH_TEXT = "{count} article(s) for “{query}”"
SLACK_EMPTY_MENTION = (
    "Paste the ticket after my name (`@kb the customer cannot reset their password`), "
    "or mention me in the thread of a pasted ticket."
)
SLACK_EMPTY_MESSAGE = "That message has no text I can answer from."
SLACK_ERROR = "⚠️ Sorry, I could not answer this: {error} (request `{request_id}`)."
SLACK_INTERNAL_ERROR = "an internal error; the logs have the details"
SLACK_NOT_IN_CHANNEL = "I can't post in that channel yet: invite me with `/invite @kb`, then try again."
SLACK_UNKNOWN_REQUEST = "I no longer have request `{request_id}`; ask me again."
SLACK_FEEDBACK_THANKS = "Thanks! Your feedback on request `{request_id}` is recorded."
SLACK_FEEDBACK_MODAL_THANKS = "Thanks, that helps us fix the knowledge base."

BUTTON_HELPFUL = "👍 Helpful"
BUTTON_NOT_HELPFUL = "👎 Not helpful"
BUTTON_ESCALATE = "🚨 Escalate"
BUTTON_SHARE = "Share in channel"
BUTTON_CLAIM = "✋ Claim"

SLACK_HELP = (
    "*kb answers support tickets from the help center.*\n"
    "• `/kb draft <ticket>`: confidence, data to collect, a draft reply and sources (only you see it; "
    "*Share in channel* posts it)\n"
    "• `/kb required <ticket>`: only the data to collect from the customer\n"
    "• `/kb search <words>`: the best matching articles\n"
    "• `/kb help`: this message\n"
    "Slash commands don't work inside threads: there, mention *@kb* (it reads the thread's earlier "
    "messages as the ticket) or use the message shortcut *Draft reply from KB* on the customer's message. "
    "You can also send me a direct message."
)

FEEDBACK_MODAL_TITLE = "What was wrong?"
FEEDBACK_MODAL_SUBMIT = "Send"
FEEDBACK_MODAL_CLOSE = "Cancel"
FEEDBACK_MODAL_INTRO = "Tell us what was wrong with the answer to request `{request_id}`."
FEEDBACK_MODAL_PROBLEMS = "Problems"
FEEDBACK_MODAL_COMMENT = "Details"
FEEDBACK_PROBLEMS = {
    "wrong_sources": "Wrong or outdated articles",
    "wrong_data": "Asks for the wrong data",
    "bad_draft": "The draft is wrong or unclear",
    "should_escalate": "It should have escalated",
}

ESCALATION_HEADER = "🚨 Escalation: the KB could not answer confidently"
ESCALATION_INTRO = "{mention} a ticket needs a human."
ESCALATION_INTRO_NOBODY = "A ticket needs a human."
ESCALATION_TICKET = "*Ticket*\n{summary}"
ESCALATION_FROM_THREAD = "*From* <@{user}> in <#{channel}> · {trigger} · <{permalink}|open the thread>"
ESCALATION_FROM_PRIVATE = "*From* <@{user}> (asked privately) · {trigger} · reply to them directly"
ESCALATION_TRIGGER_AUTO = "low confidence"
ESCALATION_TRIGGER_BUTTON = "escalated by <@{user}>"
ESCALATION_CONFIDENCE = "*What the KB had*: {badge}\n{reasons}"
ESCALATION_SOURCES = "*Sources tried*\n{sources}"
ESCALATION_MISSING = "*Missing data*\n{items}"
ESCALATION_TEXT = "Escalation: a ticket from <@{user}> needs a human (request {request_id})"
ESCALATION_CLAIMED = "✋ Claimed by <@{user}>"
ESCALATION_ALREADY_CLAIMED = "Already claimed by <@{user}>."
ESCALATION_ALREADY = "This request was already escalated."
THREAD_ESCALATED = "🚨 Escalated to {who} in <#{channel}>."
THREAD_ESCALATED_NOBODY = "the escalation team"
THREAD_ESCALATION_OFF = (
    "🚨 This needs a human, but no escalation channel is configured (KB_ESCALATION_CHANNEL), "
    "so nobody was notified: please escalate it by hand."
)
THREAD_CLAIMED = "✋ <@{user}> took this escalation."

HOME_TITLE = "kb: answers from the help center"
HOME_USAGE = (
    "*How to use me*\n"
    "• In a channel: `@kb <ticket text>`, or mention me in the thread of a pasted ticket\n"
    "• On any message: ⋯ → *Draft reply from KB*\n"
    "• Privately: `/kb draft|required|search <text>` or a direct message here\n"
    "Every answer shows a confidence badge, the data to collect, a draft reply and its sources. "
    "👍 / 👎 tell us how it went; *Escalate* hands the ticket to the escalation team."
)
HOME_STATS_HEADING = "*Last {days} days*"
HOME_STATS = (
    "Answers: {answers} (🟢 {high} · 🟡 {medium} · 🔴 {low})\n"
    "Escalations: {escalations} ({claimed} claimed)\n"
    "Feedback: 👍 {helpful} · 👎 {not_helpful}"
)

HOME_GAPS_HEADING = "*Top gaps this week*"
HOME_GAPS_NONE = "Nothing escalated, low in confidence or rated 👎 this week."
HOME_GAPS_TOPIC = "• *{label}*: {count} ticket(s), {escalated} escalated, {rated_down} 👎{closest}"
HOME_GAPS_CLOSEST = " · closest article: <{url}|{title}> ({similarity:.2f})"
HOME_GAPS_MORE = "`kb gaps --html gaps.html` writes the full report ({topics} topic(s), {total} ticket(s))."
HOME_GAPS_UNAVAILABLE = "The gap report is unavailable right now (the logs say why)."

# --- records: `kb feedback`, `kb gaps`, POST /api/v1/feedback ---------------------------------
FEEDBACK_REPORT_TITLE = "Answers and feedback from every door, last {days} days ({since} to now)"
FEEDBACK_REPORT_EMPTY = "No answers recorded in {path} yet."
RECORDS_DB_UNREACHABLE = "cannot use the records database {location} (KB_DATABASE_URL): {reason}"
RECORDS_DB_BAD_URL = (
    "KB_DATABASE_URL is not a PostgreSQL URL: write it as postgresql://USER:PASSWORD@HOST:5432/DATABASE"
)
FEEDBACK_REPORT_COMMENTS = "latest 'not helpful' comments:"
FEEDBACK_REPORT_GAPS_HINT = "What the KB is missing, grouped by topic: `kb gaps` (--html FILE for a report to share)."
HTTP_UNKNOWN_REQUEST = (
    "No answer with request_id {request_id!r} was recorded: send the request_id of an answer from "
    "/api/v1/generate-response, /api/v1/required-data, Slack or `kb ask`."
)
GAPS_NONE = "No gaps in the last {days} days: nothing was escalated, low in confidence or rated down."
GAPS_TITLE = "Gaps in the KB, last {days} days ({since} to {until})"
GAPS_SUMMARY = (
    "{total} answer(s) escalated, low in confidence or rated down ({escalated} escalated, {low} low confidence, "
    "{rated_down} rated down), in {topics} topic(s)"
)
GAPS_TOPIC = "{id:>2}. {label}: {count} ({flags}) · {doors}"
GAPS_CLOSEST = "    closest article: {title} ({similarity:.2f}) {url}"
GAPS_CLOSEST_NONE = "    closest article: none"
GAPS_EXAMPLE = '    · "{ticket}" ({level}, {decision})'
GAPS_TRUNCATED = "Only the newest {count} answers of the period were grouped."
GAPS_NO_KB = "The knowledge base is empty, so no topic has a closest article."
GAPS_STORE_DOWN = "Closest articles unavailable: {error}"
GAPS_NO_LABEL = "(no words)"
GAPS_WROTE_HTML = "wrote {path}: {topics} topic(s), {total} answer(s)"
GAPS_HTML_TITLE = "Gaps in the KB, last {days} days"
GAPS_DESCRIPTION = (
    "The answers of the last --days days (every door: Slack, HTTP, kb ask) that were escalated, low in "
    "confidence or rated down, grouped into topics by meaning with the KB's embedder: each topic with a label "
    "from its most telling words, its count, example tickets (redacted), the closest KB article and whether it "
    "was escalated or rated down. --html writes one self-contained file with a chart of topics over time."
)
GAPS_BAD_DAYS = "kb gaps: --days takes a whole number of days from 1 to 365 (not {value!r})"
GAPS_BAD_SIMILARITY = "kb gaps: --min-similarity takes a number between 0 and 1 (not {value!r})"

# --- Slack in the server log -----------------------------------------------------------------
SLACK_OFF_LOG = "Slack is off: set SLACK_BOT_TOKEN (and SLACK_APP_TOKEN or SLACK_SIGNING_SECRET) to turn it on"
SLACK_SOCKET_LOG = "Slack: Socket Mode connected (Web API %s)"
SLACK_HTTP_LOG = "Slack: HTTP mode, events, commands and interactivity at POST %s"
SLACK_NEEDS_SECRET = (
    "SLACK_BOT_TOKEN is set but neither SLACK_APP_TOKEN (Socket Mode) nor SLACK_SIGNING_SECRET (HTTP mode at "
    "/slack/events) is: set one of them"
)

# --- shared state of the replicas (bot/shared, KB_REDIS_URL) ------------------------------------
SHARED_REDIS_LOG = "shared state: redis at %s"
SHARED_BAD_URL = "KB_REDIS_URL {url} is not a Redis URL (redis://, rediss:// or unix://): {error}"
SHARED_DOWN_LOG = (
    "shared state: Redis at %s is unreachable (%s: %s); until it is back, Slack dedup and rate limits "
    "fail open, circuit breakers are per replica, and requests with an Idempotency-Key get 503"
)
SHARED_BACK_LOG = "shared state: Redis at %s is reachable again after %.1f s"
SHARED_DOWN_REASON = "shared state unavailable (redis): dedup and rate limits fail open"
HTTP_IDEMPOTENCY_UNAVAILABLE = (
    "The Idempotency-Key store (Redis) is unreachable, so this request cannot be made safe to repeat; "
    "retry in a few seconds, or send it without Idempotency-Key."
)
HTTP_IDEMPOTENCY_IN_FLIGHT = (
    "A request with this Idempotency-Key is still running after {seconds:.0f} s; retry later to get its response."
)
