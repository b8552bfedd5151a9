"""Where the output goes: the checks ffmpeg makes before writing, and atomic byte writes.

A .dinr is produced whole in memory, so it is written to a temporary file beside the target
and renamed over it: an interrupted or failed run never leaves a partial or clobbered file.
"""

from __future__ import annotations

import os
import sys
import tempfile

from exvc.media.image_names import is_image_pattern, pattern_regex

from .errors import CliError
from .info import format_name
from .options import GlobalOptions, InputSpec, OutputSpec


def stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _is_local(url: str) -> bool:
    return "://" not in url


def check_output_target(out: OutputSpec, inp: InputSpec, opts: GlobalOptions) -> None:
    """Refuse an output that cannot or may not be written, before any work is done.

    An existing file is overwritten with ``-y``, kept with ``-n``, and otherwise only after a
    "y" on an interactive stdin that is not also the input; a non-interactive run never waits.
    """
    if out.is_stdout or out.is_null or not _is_local(out.url):
        return
    path = out.url
    if os.path.isdir(path):
        raise CliError(f"{path}: Is a directory")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CliError(f"{path}: No such file or directory (folder '{folder}' does not exist)")
    if not os.path.exists(path) or os.path.isfile(path):
        # The output is created beside the target and renamed: the folder must be writable.
        # Checked now, not after a long encode (root passes this check; the write then fails).
        if not os.access(folder, os.W_OK | os.X_OK):
            raise CliError(f"{path}: Permission denied (cannot write in folder '{folder}')")
    if is_image_pattern(path):
        _check_sequence(path, opts, inp)
        return
    if not os.path.exists(path):
        return
    if not inp.is_stdin and _is_local(inp.url) and os.path.exists(inp.url):
        if os.path.samefile(inp.url, path):
            raise CliError(f"Output {path} same as Input #0 - exiting "
                           "(exvc cannot edit files in place)")
    if not os.path.isfile(path) or opts.overwrite:
        return  # devices such as /dev/null are written in place, never asked about
    _ask_overwrite(path, opts, inp)


def _ask_overwrite(path: str, opts: GlobalOptions, inp: InputSpec) -> None:
    """Return if the user says yes on a terminal; otherwise refuse to touch ``path``."""
    if (not opts.no_overwrite and opts.stdin_interaction and not inp.is_stdin
            and stdin_is_terminal()):
        sys.stderr.write(f"File '{path}' already exists. Overwrite? [y/N] ")
        sys.stderr.flush()
        answer = sys.stdin.readline()
        if answer.strip().lower() in ("y", "yes"):
            return
        raise CliError("Not overwriting - exiting")
    raise CliError(f"File '{path}' already exists. Exiting.")


def _check_sequence(path: str, opts: GlobalOptions, inp: InputSpec) -> None:
    """An image-sequence pattern: any file it could write that exists counts as the output
    existing (ffmpeg only looks at the pattern's own name, and overwrites silently)."""
    if opts.overwrite:
        return
    folder = os.path.dirname(os.path.abspath(path))
    names = pattern_regex(path)
    existing = sorted(n for n in os.listdir(folder) if names.fullmatch(n))
    if existing:
        _ask_overwrite(os.path.join(os.path.dirname(path), existing[0]), opts, inp)


def is_single_image(out: OutputSpec) -> bool:
    """Whether an output is one image file (image2, no ``%d`` pattern): it takes one frame."""
    if out.is_stdout or out.is_null or out.fmt not in (None, "image2"):
        return False
    return format_name(out.url, out.fmt) == "image2" and not is_image_pattern(out.url)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_output_bytes(out: OutputSpec, data: bytes) -> None:
    """Write ``data`` to stdout, in place to a device, or atomically to a file."""
    if out.is_stdout:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    path = out.url
    if os.path.exists(path) and not os.path.isfile(path):
        try:
            with open(path, "wb") as f:
                f.write(data)
        except OSError as exc:
            raise CliError(f"{path}: {exc.strerror or exc}") from None
        return
    folder, name = os.path.split(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".exvc-tmp")
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise CliError(f"{path}: {exc.strerror or exc}") from None
        raise
