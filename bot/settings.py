"""The process's one settings object: the core's sections plus Telegram, admins, database."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

from index import CoreSettings


class TelegramSettings(BaseModel):
    # Env: BOT_TOKEN. Without one, `python -m bot run` starts the offline console chat.
    token: SecretStr | None = None
    # Env: TELEGRAM_API_BASE. The Bot API server (a local stand-in in tests).
    api_base: str = "https://api.telegram.org"
    mode: Literal["polling", "webhook"] = "polling"
    polling_timeout: int = Field(default=10, ge=0, le=50)
    # Webhook mode: where our aiohttp server listens, and what Telegram must send.
    webhook_host: str = "127.0.0.1"
    webhook_port: int = Field(default=8080, ge=1, le=65535)
    webhook_path: str = "/telegram/webhook"
    # Telegram sends it with every webhook call; required (at least 16 characters) unless
    # webhook_url is set, in which case one is generated and registered at start.
    webhook_secret: SecretStr | None = None
    # The public https URL registered with setWebhook; unset = registered elsewhere.
    webhook_url: str | None = None
    # Questions per user: a burst, then this many per second.
    throttle_burst: int = Field(default=10, ge=1)
    throttle_rate: float = Field(default=1.0, gt=0)
    # Seconds to finish questions in flight and store them on SIGTERM/SIGINT.
    shutdown_grace_s: float = Field(default=20.0, ge=0)
    # Seconds one Bot API request may take before it counts as failed (then retried).
    request_timeout_s: float = Field(default=30.0, gt=0)
    # Seconds a reply is retried for (5xx, timeouts, flood control) before it counts as failed.
    send_retry_s: float = Field(default=90.0, ge=0)
    # Env: REDIS_URL. Conversation state (the 👎 comment prompt) in Redis, shared by instances;
    # unset = in this process's memory.
    redis_url: SecretStr | None = None
    # Minutes a chat's last answered question is kept, so a follow-up is read with it.
    dialogue_minutes: float = Field(default=10.0, ge=0)


class AdminSettings(BaseModel):
    # Env: ADMINS (comma-separated Telegram user ids).
    ids: list[int] = Field(default_factory=list)
    # Largest document an admin may upload (Telegram's own limit for bots is 20 MB).
    max_upload_mb: float = Field(default=20.0, gt=0)
    # How often every instance checks the database for a new serving index version.
    version_poll_s: float = Field(default=2.0, gt=0)

    @field_validator("ids", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [int(part) for part in value.replace(" ", "").split(",") if part]
        return value


class DatabaseSettings(BaseModel):
    # Env: DATABASE_URL, e.g. postgresql+asyncpg://user@127.0.0.1:5432/test.
    # Unset: a SQLite file in the data directory.
    url: SecretStr | None = None
    retention_days: int = Field(default=365, ge=1)


class OpsSettings(BaseModel):
    # /healthz, /livez and /metrics: on the webhook server in webhook mode; in polling mode on
    # this host and port when enabled (the console chat serves none).
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=1, le=65535)


class Settings(CoreSettings):
    FLAT_ENV: ClassVar[dict[str, tuple[str, str]]] = {
        **CoreSettings.FLAT_ENV,
        "BOT_TOKEN": ("telegram", "token"),
        "TELEGRAM_API_BASE": ("telegram", "api_base"),
        "ADMINS": ("admin", "ids"),
        "DATABASE_URL": ("database", "url"),
        "REDIS_URL": ("telegram", "redis_url"),
    }

    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    admin: AdminSettings = Field(default_factory=AdminSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    ops: OpsSettings = Field(default_factory=OpsSettings)

    def database_url(self) -> str:
        """``DATABASE_URL`` if set, else a SQLite file in the data directory."""
        if self.database.url is not None:
            return self.database.url.get_secret_value()
        return f"sqlite+aiosqlite:///{(self.paths.data_dir / 'bot.sqlite3').resolve()}"
