"""One settings object for every process, read from the environment (prefix RADSTACK_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RADSTACK_", extra="ignore")

    # Where the embedded defaults keep their files: SQLite, the broker folders, the blob store.
    data_dir: Path = Path(".radstack")
    database_url: str | None = None
    broker_url: str | None = None
    blob_dir: Path | None = None

    # Pseudonymous patient references are HMACs of the DICOM PatientID under this key.
    # The default is fine for a laptop demo; production refuses it (see _check_secrets).
    secret_key: str = "radstack-dev-only-key"
    environment: str = Field(default="development", pattern="^(development|test|production)$")

    # Classify stage.
    model: str = "demo"
    weights_dir: Path | None = None
    device: str = "cpu"
    default_threshold: float = 0.5
    # Pin the weights: loading refuses a file whose SHA-256 differs.
    model_sha256: str | None = None
    # Per-label overrides as JSON, e.g. RADSTACK_THRESHOLDS='{"Pneumothorax": 0.3}'. They win
    # over the calibration file that `radstack eval --calibrate` writes (default
    # <data_dir>/thresholds.json), which wins over default_threshold.
    thresholds: dict[str, float] = Field(default_factory=dict)
    thresholds_file: Path | None = None
    # Grad-CAM heat maps for positive findings; the layer is found automatically unless named.
    heatmaps: bool = True
    gradcam_layer: str | None = None
    torch_threads: int = 0  # 0: one per CPU this process may use (its affinity mask)
    precision: str = Field(default="fp32", pattern="^(fp32|bf16|fp16)$")
    channels_last: bool = False
    torch_compile: bool = False
    # Micro-batching in the classify pool: gather up to this many studies, or wait at most
    # this long for more, then run one forward pass. 1 turns batching off (prefetch 1).
    classify_batch_size: int = Field(default=8, ge=1, le=256)
    classify_batch_wait_ms: int = Field(default=10, ge=1, le=60_000)

    # Retrieve / generate stages.
    retrieval_top_k: int = 5
    index_dir: Path | None = None
    retrieval_backend: str = Field(default="tfidf", pattern="^(tfidf|dense|hybrid)$")
    # composer: the embedded grounded writer; openai: any OpenAI-compatible chat endpoint (vLLM,
    # Ollama, llama.cpp server, Gemini's); local: a transformers causal LM from llm_model_dir.
    # An LLM writer that fails falls back to the composer, recorded on the audit trail.
    draft_writer: str = Field(default="composer", pattern="^(composer|openai|local)$")
    llm_base_url: str | None = None
    llm_model: str = ""
    llm_api_key: SecretStr | None = None
    llm_timeout_s: float = 30.0
    llm_retries: int = 2
    llm_max_tokens: int = 512
    llm_model_dir: Path | None = None
    llm_device: str = "cpu"

    # Upload limits: bytes per file, files per study, decoded pixels per image.
    max_upload_bytes: int = 64 * 1024 * 1024
    max_files_per_study: int = 16
    max_image_pixels: int = 50_000_000

    # Sweeper: how often it runs, how long a study may sit in one pipeline status before it is
    # re-enqueued, and how many times before it is marked FAILED.
    sweep_interval_s: float = 30.0
    stage_deadline_s: float = 300.0
    max_attempts: int = 3

    # Back-pressure: submissions are refused (503) while the classify queue holds this many
    # messages, and each API key may submit at most this many studies a minute (429).
    max_queue_depth: int = 5000
    submit_rate_per_minute: int = 600

    # Review UI sessions (signed cookies, path /ui).
    session_max_age_s: int = 8 * 3600  # one reading shift
    # None: Secure in production only (a laptop demo runs on plain http://127.0.0.1).
    session_cookie_secure: bool | None = None
    session_same_site: Literal["lax", "strict"] = "lax"

    # Broker tuning for the embedded filesystem transport (seconds between polls).
    filesystem_poll_interval: float = 0.05

    @model_validator(mode="after")
    def _check_secrets(self) -> "Settings":
        if self.environment == "production" and (
            self.secret_key in _PLACEHOLDER_SECRETS or self.secret_key.startswith("radstack-dev")
        ):
            raise ValueError("RADSTACK_SECRET_KEY must be set to a real secret in production")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'radstack.db').resolve()}"

    @property
    def resolved_broker_url(self) -> str:
        return self.broker_url or "filesystem://"

    @property
    def uses_filesystem_broker(self) -> bool:
        return self.resolved_broker_url.startswith("filesystem://")

    @property
    def broker_dir(self) -> Path:
        return (self.data_dir / "broker").resolve()

    @property
    def resolved_blob_dir(self) -> Path:
        return (self.blob_dir or self.data_dir / "blobs").resolve()

    @property
    def resolved_weights_dir(self) -> Path:
        return (self.weights_dir or self.data_dir / "weights").resolve()

    @property
    def resolved_index_dir(self) -> Path:
        return (self.index_dir or self.data_dir / "index").resolve()

    @property
    def cookie_secure(self) -> bool:
        if self.session_cookie_secure is not None:
            return self.session_cookie_secure
        return self.environment == "production"

    def threshold_for(self, label: str) -> float:
        return self.thresholds.get(label, self.default_threshold)


@lru_cache
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    """Tests and the CLI change the environment, then call this to re-read it."""
    get_settings.cache_clear()
