"""The process's one settings object: the core's sections plus the Telegram ones."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field, SecretStr

from index.settings import CoreSettings


class TelegramSettings(BaseModel):
    # Env: BOT_TOKEN. Without one, `python -m bot run` starts the offline console chat.
    token: SecretStr | None = None
    # Env: TELEGRAM_API_BASE. The Bot API server (a local stand-in in tests).
    api_base: str = "https://api.telegram.org"


class Settings(CoreSettings):
    FLAT_ENV: ClassVar[dict[str, tuple[str, str]]] = {
        **CoreSettings.FLAT_ENV,
        "BOT_TOKEN": ("telegram", "token"),
        "TELEGRAM_API_BASE": ("telegram", "api_base"),
    }

    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
