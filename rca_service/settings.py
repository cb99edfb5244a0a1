"""Service settings: command-line flags and `RCA_`-prefixed environment variables.

Component configs (ingest limits, store retention, policy...) sit next to their components;
this object only carries what the operator sets, and hands each component its part.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator can set. Environment: RCA_<FIELD>, e.g. RCA_QDRANT_URL."""

    model_config = SettingsConfigDict(env_prefix="RCA_", extra="ignore")

    # transport
    host: str = "127.0.0.1"
    http_port: int = Field(4318, ge=0, le=65535)
    grpc_port: int = Field(4317, ge=0, le=65535)
    data_dir: Path = Path("./data")
    public_url: str = ""  # base URL for links in notifications; default http://host:http_port

    # ingest
    max_body_bytes: int = Field(16 * 1024 * 1024, gt=0)
    ingest_queue_size: int = Field(256, gt=0)  # batches (requests) waiting for the store
    ingest_token: str = ""  # when set, OTLP requests must carry `Authorization: Bearer <token>`

    # store
    step_seconds: int = Field(60, ge=1)
    retention_hours: float = Field(24.0, gt=0)
    qdrant_url: str = ""  # empty: embedded local mode under data_dir/qdrant
    qdrant_api_key: str = ""
    embeddings: bool = True  # embed log templates / span signatures / incidents in the background

    # models
    models_dir: Path = Path(__file__).resolve().parent.parent / "models"
    detector_version: str = "latest"
    localizer_version: str = "latest"

    # respond
    dry_run: bool = True
    allowed_namespaces: list[str] = Field(default_factory=lambda: ["default"])
    allowed_services: list[str] = Field(default_factory=list)  # empty: any service in an allowed namespace
    min_confidence: float = Field(0.6, ge=0, le=1)
    two_person_approval: bool = False
    executor: str = "dry-run"  # "dry-run" | "kubernetes" | "webhook" | "simulator"
    webhook_url: str = ""
    webhook_secret: str = ""  # HMAC key the webhook executor signs requests with (required for "webhook")
    kubeconfig: str = ""  # "kubernetes" executor: kubeconfig file (empty: $KUBECONFIG / ~/.kube/config)
    kube_context: str = ""
    kube_host: str = ""  # or an API server URL (+ kube_token) instead of a kubeconfig
    kube_token: str = ""
    verify_seconds: float = Field(300.0, gt=0)

    # interfaces
    api_tokens: str = ""  # "token:role[:name],token:role[:name]"; roles viewer|operator|admin
    slack_signing_secret: str = ""
    slack_webhook_url: str = ""
    slack_roles: str = ""  # "slack_user_id:role,..."; who may approve/reject from chat (others: viewer)
    llm_url: str = ""  # optional OpenAI-compatible endpoint to rephrase answers
    llm_model: str = ""

    @field_validator("allowed_namespaces", "allowed_services", mode="before")
    @classmethod
    def _split_csv(cls, v):
        if isinstance(v, str):
            return [s.strip() for s in v.split(",") if s.strip()]
        return v

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.http_port}"
