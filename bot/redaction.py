"""Keeps secrets (the bot token) out of every log line, tracebacks included."""

from __future__ import annotations

import logging
import traceback


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: list[str]):
        super().__init__()
        # The numeric prefix of a token alone is not secret; the whole token and its key part are.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<redacted>")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = self.redact(record.getMessage())
        if record.exc_info:
            record.exc_text = self.redact("".join(traceback.format_exception(*record.exc_info)))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        record.msg, record.args = message, ()
        return True


def install(token: str | None) -> None:
    """Attach the filter to every handler of the root logger (handlers see all records)."""
    if not token:
        return
    secrets = [token, token.split(":", 1)[-1]]
    redactor = RedactSecrets(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
