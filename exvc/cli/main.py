"""``exvc``: the ffmpeg-style entry point (console script and ``python -m exvc``).

click provides the entry point, ``--help`` and ``--version``; the arguments themselves go
unparsed to ``argv.parse_args`` because ffmpeg binds options to the file that follows them.

Exit statuses:

* 0 - success (also ``-h``, ``-version``).
* 1 - any error the user can act on, reported as one line on stderr: bad option or value,
  missing or invalid input (``x.mp4: No such file or directory``), an output that may not be
  overwritten or cannot be written, no output given ("At least one output file must be
  specified"), an encoder/decoder refusal. A closed output pipe (EPIPE: the reader went
  away) also exits 1, silently unless ``-v verbose``, because the output is incomplete.
* 2 - internal error (an unexpected exception, i.e. a bug); ``-v debug`` adds the traceback.
* 255 - interrupted by Ctrl-C (SIGINT) or SIGTERM, as ffmpeg; no partial output file is left.

Nothing but media is written to stdout while converting, so ``-`` can be a pipe. This module
imports neither torch nor PyAV: ``--help`` and argument errors stay fast.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import threading
import traceback
from collections.abc import Sequence

import click

from .argv import help_text, parse_args
from .banner import banner, version_text
from .errors import (
    EXIT_ERROR,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    CliError,
    Terminated,
    UsageError,
)
from .log import INFO, VERBOSE, Log, parse_loglevel


def _guess_loglevel(args: Sequence[str]) -> int:
    """The -v/-loglevel value, found without a full parse (for reporting parse errors)."""
    level = INFO
    for flag, value in zip(args, args[1:], strict=False):
        if flag in ("-v", "-loglevel"):
            try:
                level = parse_loglevel(value)
            except ValueError:
                pass
    return level


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _is_broken_pipe(exc: BaseException) -> bool:
    media = sys.modules.get("exvc.media.errors")
    if media is not None and isinstance(exc, media.OutputClosed):
        return True
    return isinstance(exc, BrokenPipeError) or getattr(exc, "errno", None) == errno.EPIPE


def _describe(exc: BaseException) -> tuple[int, str]:
    """(exit status, one line) for an exception that escaped the command."""
    media = sys.modules.get("exvc.media.errors")
    if media is not None and isinstance(exc, media.MediaError):
        return EXIT_ERROR, str(exc)
    bitstream = sys.modules.get("exvc.bitstream.bytesio")
    if bitstream is not None and isinstance(exc, bitstream.DinrError):
        return EXIT_ERROR, f"Error: {exc}"
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else "Error: "
        return EXIT_ERROR, f"{where}{exc.strerror}"
    if isinstance(exc, MemoryError):
        return EXIT_ERROR, "Error: out of memory"
    first = (str(exc).strip().splitlines() or [""])[0]
    return EXIT_INTERNAL, (f"Error: internal error: {type(exc).__name__}: {first} "
                           "(run with -v debug for the traceback)")


def _silence_stdout() -> None:
    """After EPIPE on stdout, point it at /dev/null so the exit-time flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def execute(args: Sequence[str]) -> int:
    """Run one command line; return the exit status (never raises, except SystemExit)."""
    try:
        cmd = parse_args(args)
    except UsageError as exc:
        Log(_guess_loglevel(args)).error(str(exc))
        return exc.code
    opts = cmd.options
    log = Log(opts.loglevel)
    if opts.show_help:
        click.echo(help_text(), nl=False)
        return EXIT_OK
    if opts.show_version:
        click.echo(version_text(), nl=False)
        return EXIT_OK
    if not opts.hide_banner:
        log.info(banner())
    if not cmd.inputs and not cmd.outputs:
        log.info("usage: exvc [options] [[infile options] -i infile] "
                 "{[outfile options] outfile}")
        log.info("Use -h to get full help.")
        return EXIT_ERROR
    for warning in cmd.warnings:
        log.warning(warning)
    from .run import run  # after the parse: keeps argument errors fast

    try:
        run(cmd, log, stderr_is_tty=_stderr_is_tty())
        return EXIT_OK
    except CliError as exc:
        log.debug(traceback.format_exc().rstrip())
        log.error(str(exc))
        return exc.code
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Terminated) else signal.SIGINT
        log.debug(traceback.format_exc().rstrip())
        log.error(f"Exiting, received signal {int(signum)}.")
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the one place that turns errors into statuses
        log.debug(traceback.format_exc().rstrip())
        if _is_broken_pipe(exc):
            _silence_stdout()
            log.write(VERBOSE, "Output pipe closed by the reader; stopping.")
            return EXIT_ERROR
        code, message = _describe(exc)
        log.error(message)
        return code


class _FfmpegStyleCommand(click.Command):
    """Prints exvc's own option list for ``--help`` (click's would show one ARGS...)."""

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write(help_text())


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(version_text(), nl=False)
        ctx.exit(EXIT_OK)


@click.command(
    cls=_FfmpegStyleCommand,
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                      "help_option_names": ["--help"]},
)
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_version, help="Show the version and exit.")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def cli(ctx: click.Context, args: tuple[str, ...]) -> None:
    """exvc: an ffmpeg-compatible transcoder for extreme low-bitrate video."""
    ctx.exit(execute(list(args)))


def _on_sigterm(signum: int, _frame: object) -> None:
    raise Terminated(signum)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
    cli.main(args=list(argv) if argv is not None else None, prog_name="exvc")
