"""Progress while frames are coded: a rich bar on a terminal, else ffmpeg's stats line, plus
``-progress`` key=value blocks for programs.

The stats line (``frame=   64 fps= 12 q=-0.0 size=       4kB time=00:00:02.13
bitrate=  15.2kbits/s speed= 0.5x elapsed=0:00:05.12``) and the ``-progress`` keys follow
ffmpeg's formats so that scripts written for ffmpeg can read them; while encoding, the line
ends with the stage the encoder is in (``[segment 0 adapter 120/400]``). Both are refreshed
at most every ``PERIOD`` seconds (ffmpeg's ``-stats_period``) and once more, complete, at
the end.

An encoder codes a whole segment before any of its frames is final, so ``frame=`` moves by
segments. Between, the bar moves through the segment's stages (``STAGE_SHARES``), never
backwards, and never reaches its end before the work does (a finished rich task stops its
clock). The remaining time is measured, not guessed: the time per frame of the segments
already coded, all their stages (base search, fit, adapters, checks) included; before the
first segment is coded, and whenever the work has overrun that estimate, it shows as unknown.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, TextIO

PERIOD = 0.5
# Where each encoder stage starts and ends within its segment, for the bar only (the
# remaining time never comes from these): a base search, then an INR fit (of the residual,
# or of the frames themselves), then adapter training.
STAGE_SHARES = {"base": (0.0, 0.35), "fit": (0.35, 0.75), "adapter": (0.75, 0.98)}
UNFINISHED = 0.999  # the bar's most before ``finish``


@dataclass
class Snapshot:
    """Where the work stands. ``frame`` frames of ``fps`` media time are final; ``size`` is
    the output's byte count so far (None when unknown); ``fraction`` (0..1) refines the bar
    between frames (the encoder fits a whole segment before any of its frames is done)."""

    frame: int
    fps: Fraction
    elapsed: float
    total_frames: int | None = None
    size: int | None = None
    fraction: float | None = None
    stage: str = ""
    eta: float | None = None  # seconds left, when they can be measured

    @property
    def out_time(self) -> float:
        return self.frame / float(self.fps) if self.fps else 0.0

    @property
    def frames_per_second(self) -> float:
        return self.frame / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def speed(self) -> float | None:
        return self.out_time / self.elapsed if self.elapsed > 0 and self.frame else None

    @property
    def bitrate_kbps(self) -> float | None:
        if self.size is None or self.out_time <= 0:
            return None
        return self.size * 8 / self.out_time / 1000


def _clock(seconds: float, digits: int) -> str:
    us = int(round(abs(seconds) * 1_000_000))
    secs, us = divmod(us, 1_000_000)
    mins, secs = divmod(secs, 60)
    hours, mins = divmod(mins, 60)
    frac = us // 10 ** (6 - digits)
    return f"{'-' if seconds < 0 else ''}{hours:02d}:{mins:02d}:{secs:02d}.{frac:0{digits}d}"


def _bitrate(s: Snapshot) -> str:
    kbps = s.bitrate_kbps
    return "N/A" if kbps is None else f"{kbps:6.1f}kbits/s"


def _speed(s: Snapshot) -> str:
    return "N/A" if s.speed is None else f"{s.speed:4.3g}x"


def _elapsed(seconds: float) -> str:
    """ffmpeg's ``elapsed=`` form: H:MM:SS.cc."""
    cs = int(round(seconds * 100))
    return f"{cs // 360000}:{cs // 6000 % 60:02d}:{cs // 100 % 60:02d}.{cs % 100:02d}"


UNKNOWN_ETA = "ETA -:--:--"


def format_eta(s: Snapshot) -> str:
    """``ETA 0:01:02``, or ``ETA -:--:--`` while it cannot be measured."""
    if s.eta is None:
        return UNKNOWN_ETA
    seconds = int(round(s.eta))
    return f"ETA {seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def format_stats_line(s: Snapshot, last: bool = False) -> str:
    """ffmpeg's status line; the last one says ``Lsize=`` as ffmpeg's does. While encoding
    it ends with the encoder's stage, so that a log shows progress within a segment."""
    fps = s.frames_per_second
    size = "N/A" if s.size is None else f"{s.size / 1024:8.0f}kB"
    line = (f"frame={s.frame:5d} fps={fps:3.{1 if fps < 9.95 else 0}f} q=-0.0 "
            f"{'L' if last else ''}size={size} time={_clock(s.out_time, 2)} "
            f"bitrate={_bitrate(s)} speed={_speed(s)} elapsed={_elapsed(s.elapsed)}")
    if s.stage and not last:
        line += f" [{s.stage}, {format_eta(s)}]"
    return line


def format_progress_block(s: Snapshot, end: bool = False) -> str:
    """One ``-progress`` block: ffmpeg's keys, one per line, closed by ``progress=``."""
    out_us = int(round(s.out_time * 1_000_000))
    lines = [
        f"frame={s.frame}",
        f"fps={s.frames_per_second:.2f}",
        "stream_0_0_q=-0.0",
        f"bitrate={_bitrate(s)}",
        f"total_size={'N/A' if s.size is None else s.size}",
        f"out_time_us={out_us}",
        f"out_time_ms={out_us}",  # (sic) microseconds, as in ffmpeg
        f"out_time={_clock(s.out_time, 6)}",
        "dup_frames=0",
        "drop_frames=0",
        f"speed={_speed(s)}",
        f"progress={'end' if end else 'continue'}",
    ]
    return "\n".join(lines) + "\n"


class StatsLines:
    """The stats line on stderr, rewritten in place with ``\\r``; the last ends the line."""

    throttled = True

    def __init__(self, stream: Callable[[], TextIO] = lambda: sys.stderr) -> None:
        self._stream = stream

    def show(self, s: Snapshot) -> None:
        out = self._stream()
        out.write(format_stats_line(s) + "\r")
        out.flush()

    def close(self, s: Snapshot, ok: bool) -> None:
        out = self._stream()
        out.write(format_stats_line(s, last=True) + "\n")
        out.flush()


class ProgressBlocks:
    """``-progress URL``: blocks appended to a file or written to a pipe."""

    throttled = True

    def __init__(self, stream: TextIO, owned: bool) -> None:
        self._stream = stream
        self._owned = owned

    def show(self, s: Snapshot) -> None:
        self._write(format_progress_block(s))

    def close(self, s: Snapshot, ok: bool) -> None:
        self._write(format_progress_block(s, end=True))
        if self._owned:
            self._stream.close()

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (BrokenPipeError, ValueError):
            pass  # the progress reader went away; the work itself goes on


class RichBar:
    """A live bar on a terminal's stderr (never stdout: that may carry the media)."""

    throttled = False

    def __init__(self, label: str, total: int | None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        # the clock comes from rich and moves on its own; the remaining time is ours
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(),
            TextColumn("{task.fields[frames]}"), TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(), TextColumn("{task.fields[eta]}"),
            console=Console(file=sys.stderr), redirect_stdout=False, redirect_stderr=True,
        )
        self._total = total
        self._task = self._progress.add_task(label, total=total, frames="", stats="",
                                             eta=UNKNOWN_ETA)
        self._progress.start()

    def show(self, s: Snapshot, final: bool = False) -> None:
        total = s.total_frames if s.total_frames is not None else self._total
        done = s.frame
        if s.fraction is not None and total:
            done = s.fraction * total
        if total and not final:
            done = min(done, UNFINISHED * total)  # a finished task's clock stops
        frames = f"{s.frame}/{total}" if total else f"{s.frame}"
        stats = [f"{s.frames_per_second:.1f} fps"]
        if s.bitrate_kbps is not None:
            stats.append(f"{s.bitrate_kbps:.1f} kb/s")
        if s.stage:
            stats.append(s.stage)
        self._progress.update(self._task, total=total, completed=done, frames=frames,
                              stats="  ".join(stats), eta="" if final else format_eta(s))

    def close(self, s: Snapshot, ok: bool) -> None:
        if ok:
            self.show(s, final=True)
        self._progress.stop()


class Reporter:
    """Turns frame counts or encoder reports into snapshots for every display."""

    def __init__(self, displays: Sequence[Any], fps: Fraction, total_frames: int | None = None,
                 clock: Callable[[], float] = time.monotonic, period: float = PERIOD) -> None:
        self._displays = list(displays)
        self._clock = clock
        self._period = period
        self._t0 = clock()
        self._last_shown: float | None = None
        self.snapshot = Snapshot(0, Fraction(fps), 0.0, total_frames)
        self._closed = False
        self._segment: int | None = None
        self._within = 0.0  # how far the current segment is, 0..1, never backwards
        self._per_frame: float | None = None  # seconds a final frame has cost so far

    def frames(self, count: int = 1, size: int | None = None) -> None:
        """``count`` more frames written (decode and transcode report per frame)."""
        s = self.snapshot
        s.frame += count
        s.size = size if size is not None else s.size
        self._per_frame = (self._clock() - self._t0) / s.frame if s.frame else None
        self._emit()

    def encoder(self, p: Any) -> None:
        """Callback for the encoder's ``EncodeProgress`` reports."""
        s = self.snapshot
        if p.frames_done > s.frame:
            self._per_frame = (self._clock() - self._t0) / p.frames_done
        s.frame = p.frames_done
        s.size = p.bytes_written
        if p.total_frames is not None:
            s.total_frames = p.total_frames
        if p.segment != self._segment:
            self._segment, self._within = p.segment, 0.0
        share = STAGE_SHARES.get(p.stage)
        if share is not None and p.steps:
            lo, hi = share
            self._within = max(self._within, lo + (hi - lo) * min(1.0, p.step / p.steps))
        partial = max(0, p.frames_read - p.frames_done) * self._within
        fraction = None
        if s.total_frames:
            fraction = min(1.0, (p.frames_done + partial) / s.total_frames)
            fraction = max(fraction, s.fraction or 0.0)
        s.fraction = fraction
        stage = f"segment {p.segment}"
        if p.stage:
            stage += f" {p.stage}"
        if p.steps:
            stage += f" {p.step}/{p.steps}"
        s.stage = stage
        self._emit()

    def finish(self, ok: bool = True, size: int | None = None) -> None:
        """Final reports (``progress=end``, the last stats line); safe to call twice."""
        if self._closed:
            return
        self._closed = True
        s = self.snapshot
        s.elapsed = self._clock() - self._t0
        if size is not None:
            s.size = size
        if ok:
            s.fraction, s.stage = None, ""
            if s.total_frames is None:
                s.total_frames = s.frame
        for d in self._displays:
            d.close(s, ok)

    def _emit(self) -> None:
        now = self._clock()
        s = self.snapshot
        s.elapsed = now - self._t0
        s.eta = None
        if self._per_frame is not None and s.total_frames:
            left = self._per_frame * s.total_frames - s.elapsed
            s.eta = left if left > 0 else None  # overrun, or finishing after the last frame
        due = self._last_shown is None or now - self._last_shown >= self._period
        if due:
            self._last_shown = now
        for d in self._displays:
            if due or not d.throttled:
                d.show(s)


def open_progress_url(url: str) -> tuple[TextIO, bool]:
    """The stream for ``-progress URL`` and whether we must close it."""
    if url in ("-", "pipe:1", "pipe:"):
        return sys.stdout, False
    if url == "pipe:2":
        return sys.stderr, False
    return open(url, "w", encoding="utf-8"), True  # noqa: SIM115 - closed by ProgressBlocks


def make_reporter(label: str, fps: Fraction, total_frames: int | None, *, stats: bool,
                  bar: bool, progress_url: str | None) -> Reporter:
    """The displays the options ask for: ``bar`` (stderr is a terminal) picks rich over the
    stats line; ``stats`` False (-nostats, or a quiet log level) shows neither."""
    displays: list[Any] = []
    if progress_url is not None:
        try:
            displays.append(ProgressBlocks(*open_progress_url(progress_url)))
        except OSError as exc:
            from .errors import CliError

            raise CliError(f"Failed to open progress URL \"{progress_url}\": "
                           f"{exc.strerror or exc}") from None
    if stats:
        displays.append(RichBar(label, total_frames) if bar else StatsLines())
    return Reporter(displays, fps, total_frames)
