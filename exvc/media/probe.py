"""Sniffing the first bytes of an input without losing them.

The CLI must tell a ``.dinr`` from a video by its magic bytes, and on stdin it cannot read
them twice; ``peek_input`` hands back both the bytes and an object that replays them.
"""

from __future__ import annotations

import io
import sys
from typing import BinaryIO

from .errors import MediaError, from_av_error

DINR_MAGIC = b"DINR"
STDIN_NAMES = ("-", "pipe:0", "pipe:")


def is_dinr_bytes(prefix: bytes) -> bool:
    """True when ``prefix`` starts like a .dinr file."""
    return prefix[:4] == DINR_MAGIC


def is_stdin(url: object) -> bool:
    return isinstance(url, str) and url in STDIN_NAMES


class PrefixedReader(io.RawIOBase):
    """A non-seekable binary stream: ``prefix`` first, then whatever ``raw`` still holds.

    ``peek(n)`` reads ahead into the prefix so sniffing never consumes data.
    """

    def __init__(self, raw: BinaryIO, prefix: bytes = b"") -> None:
        super().__init__()
        self._raw = raw
        self._buf = bytearray(prefix)
        self._eof = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def _read_raw(self, n: int) -> bytes:
        if self._eof:
            return b""
        read1 = getattr(self._raw, "read1", None)
        data = read1(n) if read1 is not None else self._raw.read(n)
        if not data:
            self._eof = True
        return bytes(data or b"")

    def peek(self, n: int) -> bytes:  # type: ignore[override]
        """Return up to ``n`` leading bytes (fewer only at end of stream), consuming none."""
        while len(self._buf) < n and not self._eof:
            self._buf += self._read_raw(n - len(self._buf))
        return bytes(self._buf[:n])

    def readinto(self, b) -> int:  # type: ignore[override]
        view = memoryview(b).cast("B")
        if self._buf:
            n = min(len(view), len(self._buf))
            view[:n] = self._buf[:n]
            del self._buf[:n]
            return n
        data = self._read_raw(len(view))
        view[: len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        """Read up to ``size`` bytes with at most one read of the underlying stream."""
        if size is None or size < 0:
            return self.readall()
        out = bytearray(size)
        n = self.readinto(out)
        return bytes(out[:n])


def as_prefixed(stream: BinaryIO) -> PrefixedReader:
    """Wrap a binary stream (idempotent) so it can be peeked."""
    return stream if isinstance(stream, PrefixedReader) else PrefixedReader(stream)


_stdin: PrefixedReader | None = None


def stdin_reader() -> PrefixedReader:
    """The one peekable wrapper around ``sys.stdin.buffer``, shared by every caller, so bytes
    peeked by the CLI are still there when the video reader opens ``-``."""
    global _stdin
    if _stdin is None or _stdin._raw is not sys.stdin.buffer:
        _stdin = PrefixedReader(sys.stdin.buffer)
    return _stdin


def peek_input(url: str | BinaryIO, n: int = 4) -> tuple[bytes, str | BinaryIO]:
    """Read the first ``n`` bytes of an input; return them and what to open it with.

    For a file path the path itself comes back (it can be reopened); for stdin (``-``,
    ``pipe:0``) or a binary file object, a ``PrefixedReader`` that still yields those bytes.
    Pass the second value to ``open_input`` (or read the .dinr from it).
    """
    if is_stdin(url):
        url = stdin_reader()
    if not isinstance(url, str):
        reader = as_prefixed(url)
        return reader.peek(n), reader
    if "://" in url:
        return b"", url  # a network URL: nothing to sniff without consuming it
    try:
        with open(url, "rb") as f:
            return f.read(n), url
    except OSError as exc:
        raise from_av_error(exc, url) from None


__all__ = [
    "DINR_MAGIC",
    "MediaError",
    "PrefixedReader",
    "as_prefixed",
    "is_dinr_bytes",
    "is_stdin",
    "peek_input",
    "stdin_reader",
]
