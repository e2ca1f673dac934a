"""The one error family of news-monitor.

Every expected failure is a ``MonitorError``; anything else that escapes a stage is a bug. Errors never log
in ``__init__`` and never carry page bodies or secrets: ``str(err)`` is safe to print, store and send.
"""

from __future__ import annotations

from pathlib import Path


class MonitorError(Exception):
    """Base class. ``str()`` joins message, subject and cause as ``message: subject: CauseType: cause``."""

    message: str = "error"

    def __init__(self, message: str | None = None, *, subject: str | None = None) -> None:
        self.message = message or type(self).message
        self.subject = subject
        super().__init__(self.message)

    def __str__(self) -> str:
        parts = [self.message]
        if self.subject:
            parts.append(self.subject)
        cause = self.__cause__
        if cause is not None and not isinstance(cause, MonitorError):
            text = str(cause)
            parts.append(f"{type(cause).__name__}: {text}" if text else type(cause).__name__)
        return ": ".join(parts)


class ConfigError(MonitorError):
    """Invalid configuration; names the file, line and key."""

    message = "invalid configuration"

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.line = line
        self.key = key
        super().__init__(message)

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line else f"{self.path}: "
        key = f"{self.key}: " if self.key else ""
        return f"{where}{key}{self.message}"


class FeedError(MonitorError):
    """A feed (or a page linked from it) could not be used; ``subject`` is its URL."""

    message = "feed error"

    def __init__(self, message: str | None = None, *, url: str = "", subject: str | None = None) -> None:
        self.url = url
        super().__init__(message, subject=subject if subject is not None else url or None)


class FetchError(FeedError):
    """HTTP or network failure. ``status`` is the HTTP status when there was one.

    ``retry_after`` (seconds) is set when the server asked us to wait; ``permanent`` marks failures that will
    not go away by retrying soon (404, 410, refused address)."""

    message = "fetch failed"

    def __init__(
        self,
        message: str | None = None,
        *,
        url: str = "",
        status: int | None = None,
        retry_after: float | None = None,
        permanent: bool = False,
    ) -> None:
        self.status = status
        self.retry_after = retry_after
        self.permanent = permanent
        super().__init__(message, url=url)


class BlockedAddressError(FetchError):
    """An untrusted link pointed at an address we never fetch (loopback, private, metadata...)."""

    message = "address not allowed"

    def __init__(self, message: str | None = None, *, url: str = "") -> None:
        super().__init__(message, url=url, permanent=True)


class ParseError(FeedError):
    """The bytes are not a usable feed (includes "not a feed": an HTML page where a feed was expected)."""

    message = "cannot parse feed"


class ExtractError(MonitorError):
    """The article page gave no usable text; the pipeline falls back to the feed's summary."""

    message = "cannot extract article"


class BudgetExceeded(MonitorError):
    """A worker ran past its CPU or wall-time budget and was killed."""

    message = "time budget exceeded"


class MatchError(MonitorError):
    """A watch rule could not be compiled (also reported as ConfigError with file and line).

    ``column`` is 1-based; ``caret`` is the query with a ``^`` line under that column."""

    message = "invalid rule"

    def __init__(
        self,
        message: str | None = None,
        *,
        rule: str = "",
        query: str = "",
        column: int | None = None,
        expected: str | None = None,
    ) -> None:
        self.rule = rule
        self.query = query
        self.column = column
        self.expected = expected
        super().__init__(message)

    @property
    def caret(self) -> str:
        if self.column is None:
            return ""
        return f"{self.query}\n{' ' * (self.column - 1)}^"

    def __str__(self) -> str:
        where = f"rule {self.rule!r}" if self.rule else "rule"
        if self.column is not None:
            where += f", column {self.column}"
        text = f"{where}: {self.message}"
        if self.expected:
            text += f"; expected {self.expected}"
        if self.column is not None:
            text += "\n" + "\n".join("    " + line for line in self.caret.split("\n"))
        return text


class NotifyError(MonitorError):
    """A notification could not be sent. ``subject`` is the target name or its privacy-masked URL."""

    message = "notification failed"

    def __init__(
        self,
        message: str | None = None,
        *,
        target: str = "",
        permanent: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.target = target
        self.permanent = permanent
        self.retry_after = retry_after
        super().__init__(message, subject=target or None)


class StorageError(MonitorError):
    """The database could not be read or written."""

    message = "storage error"
