"""Errors of the media layer: one human-readable line each, so the CLI can print them as is."""

from __future__ import annotations

import errno


class MediaError(Exception):
    """Input or output that FFmpeg cannot handle; ``str(exc)`` is a one-line message."""


class OutputClosed(MediaError):
    """The reader of our output pipe went away (EPIPE); the CLI should exit quietly."""


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def from_av_error(exc: BaseException, label: str, *, reading: bool = True) -> MediaError:
    """Translate a PyAV/OS exception into a MediaError that names ``label`` (file or pipe).

    PyAV raises ``av.error.*`` (which subclass OSError) with FFmpeg's strerror text, or
    re-raises Python exceptions stashed in its I/O callbacks; both become one line here.
    PyAV is imported here, not at module level, so sniffing a .dinr never loads FFmpeg.
    """
    import av
    if isinstance(exc, MediaError):
        return exc
    if isinstance(exc, BrokenPipeError) or getattr(exc, "errno", None) == errno.EPIPE:
        return OutputClosed(f"output pipe '{label}' was closed by the reader")
    if isinstance(exc, FileNotFoundError):
        return MediaError(f"'{label}': no such file or directory")
    if isinstance(exc, PermissionError):
        return MediaError(f"'{label}': permission denied")
    if isinstance(exc, IsADirectoryError):
        return MediaError(f"'{label}' is a directory")
    if isinstance(exc, av.error.InvalidDataError):
        if reading:
            return MediaError(f"'{label}' is not a video FFmpeg can read (corrupt or truncated?)")
        return MediaError(f"cannot write '{label}': invalid data ({_first_line(str(exc))})")
    if isinstance(exc, (av.error.EOFError, EOFError)):
        return MediaError(f"'{label}' ended unexpectedly (truncated?)")
    if isinstance(exc, av.error.FFmpegError):
        what = "reading" if reading else "writing"
        msg = getattr(exc, "strerror", None) or str(exc)
        return MediaError(f"error {what} '{label}': {_first_line(msg)}")
    if isinstance(exc, OSError):
        what = "reading" if reading else "writing"
        return MediaError(f"error {what} '{label}': {exc.strerror or exc}")
    return MediaError(f"'{label}': {_first_line(str(exc)) or type(exc).__name__}")
