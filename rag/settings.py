"""The one place where the environment (and a `.env` file) becomes configuration.

    settings = Settings()                          # reads KB_*, SLACK_*, OPENAI_*, PINECONE_*
    settings = Settings(kb_data_dir=tmp_path)      # tests build it explicitly

Field names are the environment variable names in lower case (DESIGN.md's contracts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.errors import ConfigError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # --- storage and serving -------------------------------------------------------------
    kb_data_dir: Path = Field(Path("./kb-data"), description="Where the SQLite store and feedback live.")
    kb_host: str = Field("127.0.0.1", description="Address `kb serve` listens on.")
    kb_port: int = Field(8000, ge=0, le=65535, description="Port `kb serve` listens on.")
    kb_api_keys: SecretStr = Field(SecretStr(""), description="Comma-separated API keys for the HTTP API.")
    kb_rate_limit_per_min: int = Field(120, ge=0, description="Requests a minute per API key; 0 turns it off.")
    kb_max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest accepted HTTP request body.")
    kb_idempotency_ttl_s: int = Field(600, ge=0, description="How long an Idempotency-Key answer is kept.")
    kb_sample_kb: Path | None = Field(
        None, description="Articles `kb serve` ingests on first start into an empty data dir (default: examples/kb)."
    )
    kb_log_level: str = Field("INFO", description="Log level of `kb serve` and the CLI.")
    kb_redis_url: SecretStr | None = Field(
        None,
        description="redis:// URL shared by replicas: Slack event dedup, rate limits, idempotency, breaker state.",
    )
    kb_database_url: SecretStr | None = Field(
        None, description="postgresql:// URL of the records store (answers, feedback, escalations); default SQLite."
    )

    # --- Slack -----------------------------------------------------------------------------
    slack_bot_token: SecretStr | None = Field(None, description="xoxb- token; Slack is off without it.")
    slack_app_token: SecretStr | None = Field(None, description="xapp- token: turns on Socket Mode.")
    slack_signing_secret: SecretStr | None = Field(None, description="Verifies /slack/events in HTTP mode.")
    slack_api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL.")
    kb_escalation_channel: str | None = Field(None, description="Channel id that receives escalations.")
    kb_escalation_mention: str | None = Field(
        None, description="Who is mentioned on escalation: a user group (S…) or user (U…) id."
    )

    # --- backends --------------------------------------------------------------------------
    kb_embedder: Literal["auto", "local", "openai"] = Field(
        "auto", description="auto = openai when OPENAI_API_KEY is set, else the packaged MiniLM."
    )
    kb_store: Literal["auto", "sqlite", "pinecone"] = Field(
        "auto", description="auto = pinecone when PINECONE_API_KEY is set, else SQLite."
    )
    kb_drafter: Literal["auto", "extractive", "openai"] = Field(
        "auto", description="auto = openai when OPENAI_API_KEY is set, else extractive."
    )
    kb_local_model_dir: Path | None = Field(
        None, description="A local ONNX sentence-embedding model folder (model.onnx + tokenizer.json)."
    )
    openai_api_key: SecretStr | None = Field(None, description="Turns on the OpenAI drafter and embeddings.")
    openai_base_url: str | None = Field(None, description="Any OpenAI-compatible server.")
    kb_llm_model: str = Field("gpt-4o-mini", description="Chat model of the OpenAI drafter.")
    kb_openai_embedding_model: str = Field("text-embedding-3-small", description="OpenAI embedding model.")
    kb_openai_embedding_dimensions: int | None = Field(
        None,
        ge=1,
        description="Vector size: shortens text-embedding-3-* vectors; required for models kb-rag does not know.",
    )
    kb_redact_pii: bool = Field(True, description="Replace e-mails, phones, cards, IBANs before calling OpenAI.")
    pinecone_api_key: SecretStr | None = Field(None, description="Turns on the Pinecone store.")
    pinecone_index: str | None = Field(None, description="Pinecone index name (or set PINECONE_HOST).")
    pinecone_host: str | None = Field(None, description="Pinecone index host URL.")
    pinecone_namespace: str = Field("kb", description="Pinecone namespace of this KB.")
    kb_timeout_s: float = Field(20.0, gt=0, description="Timeout of every outside call, seconds.")
    kb_max_retries: int = Field(2, ge=0, description="Retries on 429/5xx/connection errors.")

    # --- retrieval and confidence ----------------------------------------------------------
    kb_retrieval_mode: Literal["hybrid", "dense", "keyword"] = Field(
        "hybrid", description="hybrid (semantic + keyword, reranked), dense (semantic only) or keyword (BM25 only)."
    )
    kb_top_k: int = Field(5, ge=1, le=50, description="Sources returned with an answer.")
    kb_confidence_high: float = Field(0.60, ge=0, le=1, description="Score from which confidence is high (answer).")
    kb_confidence_low: float = Field(0.35, ge=0, le=1, description="Score below which confidence is low (escalate).")

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> Settings:
        if self.kb_confidence_low > self.kb_confidence_high:
            raise ValueError("KB_CONFIDENCE_LOW must not exceed KB_CONFIDENCE_HIGH")
        return self

    # --- derived ---------------------------------------------------------------------------
    @property
    def api_keys(self) -> list[str]:
        return [k.strip() for k in self.kb_api_keys.get_secret_value().split(",") if k.strip()]

    @property
    def embedder_kind(self) -> Literal["local", "openai"]:
        if self.kb_embedder != "auto":
            return self.kb_embedder
        return "openai" if self.openai_api_key else "local"

    @property
    def store_kind(self) -> Literal["sqlite", "pinecone"]:
        if self.kb_store != "auto":
            return self.kb_store
        return "pinecone" if self.pinecone_api_key else "sqlite"

    @property
    def drafter_kind(self) -> Literal["extractive", "openai"]:
        if self.kb_drafter != "auto":
            return self.kb_drafter
        return "openai" if self.openai_api_key else "extractive"

    @property
    def db_path(self) -> Path:
        return self.kb_data_dir / "kb.sqlite3"

    @property
    def feedback_db_path(self) -> Path:
        return self.kb_data_dir / "feedback.sqlite3"

    def require(self, *names: str) -> None:
        """Raise ConfigError naming every setting in `names` that is empty."""
        missing = [n.upper() for n in names if not getattr(self, n)]
        if missing:
            raise ConfigError(f"missing setting(s): {', '.join(missing)}")
