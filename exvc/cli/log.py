"""ffmpeg's log levels, and a tiny logger that only ever writes to stderr.

Everything except media goes to stderr so that ``-`` (stdout) can carry the output stream.
"""

from __future__ import annotations

import sys

LEVELS = {
    "quiet": -8, "panic": 0, "fatal": 8, "error": 16, "warning": 24, "info": 32,
    "verbose": 40, "debug": 48, "trace": 56,
}
QUIET, PANIC, FATAL, ERROR, WARNING, INFO, VERBOSE, DEBUG, TRACE = LEVELS.values()


def parse_loglevel(text: str) -> int:
    """``-loglevel`` value: a level name or number; ffmpeg's ``repeat+``/``level+`` flags are
    accepted and ignored."""
    parts = [p for p in text.replace("+", " ").split() if p not in ("repeat", "level")]
    if len(parts) == 1:
        name = parts[0]
        if name in LEVELS:
            return LEVELS[name]
        try:
            return int(name)
        except ValueError:
            pass
    raise ValueError(f'Invalid loglevel "{text}". Possible levels are numbers or: '
                     + ", ".join(LEVELS))


class Log:
    """Writes lines at or below ``level`` to the *current* ``sys.stderr`` (so that test runners
    and rich's live display, which swap it, see them)."""

    def __init__(self, level: int = INFO) -> None:
        self.level = level

    def enabled(self, level: int) -> bool:
        return self.level >= level

    def write(self, level: int, message: str) -> None:
        if self.enabled(level):
            stream = sys.stderr
            stream.write(message + "\n")
            stream.flush()

    def error(self, message: str) -> None:
        self.write(ERROR, message)

    def warning(self, message: str) -> None:
        self.write(WARNING, message)

    def info(self, message: str) -> None:
        self.write(INFO, message)

    def verbose(self, message: str) -> None:
        self.write(VERBOSE, message)

    def debug(self, message: str) -> None:
        self.write(DEBUG, message)
