"""Errors the command line turns into one stderr line and an exit status.

Exit statuses (the same for every command):

* 0 - success.
* 1 - an error the user can fix: bad option or value, unreadable or invalid input, output that
  cannot be written or may not be overwritten, a closed output pipe.
* 2 - an internal error (an unexpected exception: a bug). ``-v debug`` shows the traceback.
* 255 - interrupted by SIGINT (Ctrl-C) or SIGTERM, as ffmpeg does.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INTERNAL = 2
EXIT_INTERRUPTED = 255


class CliError(Exception):
    """A failure to report as one line; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


class UsageError(CliError):
    """The command line itself is wrong (unknown option, bad value, misplaced option)."""


class Terminated(KeyboardInterrupt):
    """Raised from the SIGTERM handler so cleanup runs exactly as for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
