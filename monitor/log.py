"""Logging: one event name and key=value pairs per line, readable in journald, secrets masked.

Modules log with ``event(log, "feed_polled", feed=name, status="ok", new=3)``; the formatter writes
``feed_polled feed=name status=ok new=3``. Values with spaces are quoted. A filter on the root handler
replaces every configured secret string before anything is written.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any

_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def _quote(value: object) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' ="\n\t'):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event with key=value context."""
    if logger.isEnabledFor(level):
        logger.log(level, name, extra={"kv": fields})


class KeyValueFormatter(logging.Formatter):
    def __init__(self, timestamps: bool = True) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s" if timestamps else "%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        kv: dict[str, Any] = getattr(record, "kv", {}) or {}
        if kv:
            base += " " + " ".join(f"{k}={_quote(v)}" for k, v in kv.items() if v is not None)
        return base


class SecretFilter(logging.Filter):
    """Replaces secret strings in the formatted message and its fields (also in tracebacks)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: tuple[str, ...] = ()
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        self.secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "****")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        record.msg = self.mask(record.getMessage())
        record.args = None
        kv = getattr(record, "kv", None)
        if kv:
            record.kv = {k: self.mask(str(v)) if v is not None else None for k, v in kv.items()}
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.mask(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


_secret_filter = SecretFilter()


def setup_logging(level: str = "INFO", secrets: Iterable[str] = (), timestamps: bool = True) -> None:
    """Configure the root logger once; later calls update the level and the secrets to mask."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    _secret_filter.update(secrets)
    if not any(getattr(h, "_news_monitor", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(KeyValueFormatter(timestamps))
        handler.addFilter(_secret_filter)
        handler._news_monitor = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    # Third-party libraries have logged credentials at DEBUG (apprise); keep them at WARNING at most.
    for noisy in ("apprise", "urllib3", "trafilatura", "htmldate", "courlan", "apscheduler", "aiohttp"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def mask_secrets(text: str) -> str:
    """Mask configured secrets in text bound for somewhere other than the log (DB, error replies)."""
    return _secret_filter.mask(text)
