"""Keeps secrets (the bot token) out of every log line, tracebacks included, and personal data
(phone, ID and bank-card numbers, e-mail addresses) out of what is stored."""

from __future__ import annotations

import logging
import re
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


# --- personal data in what is stored -------------------------------------------------------------

_NOT_DIGIT_BEFORE, _NOT_DIGIT_AFTER = r"(?<![0-9A-Za-z])", r"(?![0-9A-Za-z])"
_PERSONAL_DATA = (
    # e-mail addresses
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"), "[email]"),
    # mainland resident ID numbers: 17 digits and a digit or X
    (re.compile(_NOT_DIGIT_BEFORE + r"\d{17}[\dXx]" + _NOT_DIGIT_AFTER), "[ID number]"),
    # bank card numbers: 16-19 digits, maybe in groups of four
    (
        re.compile(
            _NOT_DIGIT_BEFORE + r"\d{4}(?:[ -]?\d{4}){3}(?:[ -]?\d{1,3})?" + _NOT_DIGIT_AFTER
        ),
        "[card number]",
    ),
    # phone numbers: mobile (+86 optional), or landline with an area code
    (
        re.compile(
            _NOT_DIGIT_BEFORE + r"(?:(?:\+|00)86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}" + _NOT_DIGIT_AFTER
        ),
        "[phone]",
    ),
    (re.compile(_NOT_DIGIT_BEFORE + r"0\d{2,3}-\d{7,8}" + _NOT_DIGIT_AFTER), "[phone]"),
)
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def redact_personal(text: str) -> str:
    """``text`` with phone, ID-card and bank-card numbers and e-mail addresses replaced by
    placeholders: what is stored of a question or comment (the answer used the full text)."""
    for pattern, placeholder in _PERSONAL_DATA:
        text = pattern.sub(placeholder, text)
    return text


def storable(text: str) -> str:
    """``text`` as every database can hold it: no NUL characters, no lone surrogates."""
    return _SURROGATE.sub("\ufffd", text.replace("\x00", ""))
