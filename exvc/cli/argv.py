"""The ffmpeg-style argument walker: options bind to the *next* file named.

``exvc [global options] {[input options] -i INPUT} {[output options] OUTPUT}``: an option
before ``-i X`` belongs to input X, one before a bare word belongs to that output file, and
global options (``-y``, ``-v``...) may stand anywhere. click cannot express that binding, so
click hands the raw arguments here.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import values
from .bitrate import parse_audio_rate, parse_rate
from .errors import UsageError
from .log import parse_loglevel
from .maps import parse_map
from .options import CommandLine, FileSpec, GlobalOptions, InputSpec, OutputSpec
from .scale import parse_video_filter

GLOBAL, INPUT, OUTPUT, FILE = "global", "input", "output", "file"
VIDEO_SPECIFIERS = ("v", "V", "0", "v:0", "V:0")


@dataclass(frozen=True)
class OptionDef:
    """One option. ``field`` is the FileSpec/GlobalOptions attribute it sets (None: no-op),
    ``parse`` turns its text into that value, ``streams`` allows ``-name:v``."""

    name: str
    scope: str
    arg: str | None
    help: str
    field: str | None = None
    parse: Callable[[str], Any] | None = None
    streams: bool = False


def _flag(value: bool) -> Callable[[str], bool]:
    return lambda _text: value


OPTIONS: tuple[OptionDef, ...] = (
    # global
    OptionDef("h", GLOBAL, None, "show this help and exit (also -help, --help)", "show_help",
              _flag(True)),
    OptionDef("version", GLOBAL, None, "show the version and exit", "show_version",
              _flag(True)),
    OptionDef("y", GLOBAL, None, "overwrite output files without asking", "overwrite",
              _flag(True)),
    OptionDef("n", GLOBAL, None, "never overwrite output files (exit instead)",
              "no_overwrite", _flag(True)),
    OptionDef("loglevel", GLOBAL, "LEVEL", "quiet, panic, fatal, error, warning, info, "
              "verbose, debug, or a number (also -v LEVEL)", "loglevel", parse_loglevel),
    OptionDef("hide_banner", GLOBAL, None, "do not print the version banner", "hide_banner",
              _flag(True)),
    OptionDef("nostats", GLOBAL, None, "do not print progress statistics", "stats",
              _flag(False)),
    OptionDef("stats", GLOBAL, None, "print progress statistics (the default at log level "
              "info; with -v error it shows only them)", "stats", _flag(True)),
    OptionDef("progress", GLOBAL, "URL", "write key=value progress blocks to a file, - or "
              "pipe:1 (stdout), pipe:2 (stderr)", "progress_url", str),
    OptionDef("nostdin", GLOBAL, None, "never read stdin for interaction (no prompt)",
              "stdin_interaction", _flag(False)),
    OptionDef("workers", GLOBAL, "N", "encode N segments at once as Ray tasks, on a local "
              "cluster of N workers or the one at RAY_ADDRESS (needs pip install "
              "'exvc[ray]'); the file does not depend on N", "workers", values.parse_workers),
    OptionDef("hwaccel", GLOBAL, "DEVICE", "where fitting, adapter training and sampling run: "
              "cuda, cpu or auto (default: cuda when there is one)", "hwaccel",
              values.parse_hwaccel),
    # per file
    OptionDef("f", FILE, "FMT", "force the format (input demuxer, output muxer, or dinr)",
              "fmt", str),
    OptionDef("ss", FILE, "TIME", "start at TIME (input: seek; output: drop frames before)",
              "start", values.parse_time),
    OptionDef("t", FILE, "TIME", "limit the duration to TIME", "duration", values.parse_time),
    OptionDef("to", FILE, "TIME", "stop at position TIME", "end", values.parse_time),
    OptionDef("s", FILE, "WxH", "frame size (input: rawvideo size; output: scale to)", "size",
              values.parse_size, streams=True),
    OptionDef("pix_fmt", FILE, "FMT", "pixel format (input: rawvideo; output: encoder's)",
              "pix_fmt", str, streams=True),
    OptionDef("r", FILE, "RATE", "frame rate (input: force; output: convert to) e.g. 25, "
              "30000/1001, 29.97, ntsc", "rate", values.parse_frame_rate, streams=True),
    OptionDef("threads", FILE, "N", "threads for this file's codec (0 or auto = automatic)",
              "threads", values.parse_threads),
    OptionDef("prior", FILE, "DIR|ID", "diffusion prior of the dinr codec (input: to decode "
              "a .dinr with; output: to encode with): a diffusers folder, a hub id or a bundled "
              "prior's name; default: the bundled exvc-default-2 (decoding: the bundled prior "
              "the file names)", "prior", str),
    # output only
    OptionDef("c", OUTPUT, "CODEC", "video encoder: dinr (diffusion, default) or inr (INR "
              "only) for .dinr, any FFmpeg encoder for video, copy for .dinr to .dinr "
              "(also -c, -vcodec, -codec:v)",
              "codec", str, streams=True),
    OptionDef("b", OUTPUT, "RATE", "target rate: 0.02bpp (bits per pixel per frame) or bits/s "
              "64k, 1.5M, 20000 (also -b)", "bitrate", parse_rate, streams=True),
    OptionDef("crf", OUTPUT, "N", "constant quality for FFmpeg video encoders", "crf",
              values.parse_crf, streams=True),
    OptionDef("preset", OUTPUT, "NAME", "ultrafast ... veryslow (encoder effort)", "preset",
              str, streams=True),
    OptionDef("frames", OUTPUT, "N", "stop after N frames (also -frames, -vframes)",
              "max_frames", values.parse_count, streams=True),
    OptionDef("filter", OUTPUT, "GRAPH", "video filter graph, as ffmpeg's (libavfilter); a "
              "plain scale=W:H resizes with area filtering, -1/-2 keep the aspect (also -vf, "
              "-filter:v)", "vf", parse_video_filter, streams=True),
    OptionDef("metadata", OUTPUT, "KEY=VALUE", "set a metadata tag (repeatable)", "metadata",
              values.parse_metadata),
    OptionDef("seed", OUTPUT, "N", "random seed of the encoder (and of dinr's sampler noise)",
              "seed",
              values.parse_count),
    OptionDef("sc_threshold", OUTPUT, "N", "scene-cut threshold: a .dinr starts a new INR "
              "segment where the picture changes by more than N 8-bit levels on average "
              "(default 24, 0 = off); FFmpeg encoders get it as their sc_threshold",
              "sc_threshold", values.parse_count, streams=True),
    OptionDef("rc_lookahead", OUTPUT, "N", "frames read ahead to share a .dinr's bytes "
              "between its segments by how much each needs at one quantiser of the base "
              "codec (default 256; 0 = by frame count); FFmpeg encoders get it as their "
              "rc_lookahead", "rc_lookahead", values.parse_count, streams=True),
    OptionDef("g", OUTPUT, "N", "frames per .dinr segment (default 64; a segment is coded "
              "alone, like a GOP: -workers codes segments at once); FFmpeg encoders get it as "
              "their GOP size", "gop", values.parse_gop),
    OptionDef("base", OUTPUT, "CODEC", "base layer of the dinr codec: vvc, av1, hevc, or none "
              "(the INR alone, as in exvc 1); default: measured per segment among the "
              "strongest available", "base", values.parse_base_codec),
    OptionDef("base_scale", OUTPUT, "N", "code the base at 1/N of the output width and height "
              "(1, 2 or 4); default: measured", "base_scale", values.parse_count),
    OptionDef("base_framestep", OUTPUT, "N", "code every Nth frame of the base (1, 2, 4, 8, "
              "16 or 32; the decoder predicts the others); default: measured", "base_framestep",
              values.parse_count),
    OptionDef("base_motion", OUTPUT, "0|1", "predict the frames between the base's pictures "
              "by global motion and blend masks where that measures better (1) or blend them "
              "by time (0); default: 1 at -preset slow and slower", "base_motion",
              values.parse_count),
    OptionDef("refresh_threshold", OUTPUT, "X", "place the base's pictures by a perceptual "
              "threshold: a new one where a predicted frame is more than X (a share, e.g. "
              "0.5) further from the source than the coded ones are, none where prediction "
              "holds; kept where it measures better; 0 = off; default: 0.5",
              "refresh_threshold", values.parse_refresh_threshold),
    OptionDef("an", OUTPUT, None, "no audio: the input's first audio stream is kept "
              "otherwise (Opus in a .dinr)", "no_audio", _flag(True)),
    OptionDef("map", OUTPUT, "SPEC", "streams to keep: 0, 0:v, 0:v:0, 0:a, 0:a:0, with ? for "
              "optional (repeatable; default: the first video and audio)", "maps", parse_map),
    OptionDef("ac", OUTPUT, "N", "audio channels, 1 or 2 (default: 1 in a .dinr, else the "
              "input's, at most 2)", "audio_channels", values.parse_count),
    OptionDef("sn", OUTPUT, None, "no subtitles"),
    OptionDef("dn", OUTPUT, None, "no data streams"),
    # the input itself
    OptionDef("i", INPUT, "URL", "input file, - or pipe:0 for stdin"),
)
BY_NAME = {o.name: o for o in OPTIONS}
# -b:a and -c:a: the audio forms of -b and -c
AUDIO_FORMS = {
    "b": OptionDef("b:a", OUTPUT, "RATE", "audio bitrate (default 12k in a .dinr)",
                   "audio_bitrate", parse_audio_rate),
    "c": OptionDef("c:a", OUTPUT, "CODEC", "audio encoder (default: the muxer's; Opus in a "
                   ".dinr)", "audio_codec", str),
}
# alias -> (canonical name, implied stream specifier)
ALIASES = {
    "help": ("h", ""), "-help": ("h", ""), "?": ("h", ""), "v": ("loglevel", ""),
    "codec": ("c", ""), "vcodec": ("c", "v"), "vframes": ("frames", "v"),
    "vf": ("filter", "v"),
}
HIDDEN = {"sn", "dn"}
SHOWN_AS = {"c": "c:v", "b": "b:v", "frames": "frames:v", "filter": "vf"}


@dataclass
class _Pending:
    typed: str  # as on the command line, without the dash: "c:v"
    option: OptionDef
    value: Any


def _lookup(arg: str) -> tuple[str, OptionDef, str]:
    typed = arg[1:]
    base, _, spec = typed.partition(":")
    if base in ALIASES:
        base, implied = ALIASES[base]
        spec = spec or implied
    option = BY_NAME.get(base)
    if option is None or (spec and not option.streams):
        raise UsageError(f"Unrecognized option '{typed}'.")
    return typed, option, spec


def _parse_value(typed: str, option: OptionDef, text: str | None) -> Any:
    if option.parse is None:
        return None
    try:
        return option.parse(text if text is not None else "")
    except ValueError as exc:
        if option.name == "loglevel":
            raise UsageError(str(exc)) from None
        raise UsageError(f"Invalid value '{text}' for option '-{typed}': {exc}") from None


def parse_args(argv: Sequence[str]) -> CommandLine:
    """Walk ``argv`` (without the program name) the way ffmpeg does; raise UsageError."""
    opts = GlobalOptions()
    cmd = CommandLine(opts, [], [])
    pending: list[_Pending] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not (arg.startswith("-") and len(arg) > 1):
            cmd.outputs.append(_bind(OutputSpec(arg), pending, cmd))
            pending = []
            continue
        typed, option, spec = _lookup(arg)
        text = None
        if option.arg is not None:
            if i >= len(argv):
                raise UsageError(f"Missing argument for option '{typed}'.")
            text = argv[i]
            i += 1
        value = _parse_value(typed, option, text)
        if option.scope == GLOBAL:
            setattr(opts, option.field, value)
            if opts.show_help or opts.show_version:
                break  # like ffmpeg: print and exit, whatever follows
        elif option.name == "i":
            cmd.inputs.append(_bind(InputSpec(text), pending, cmd))
            pending = []
        elif spec and spec[0] == "a" and option.name in AUDIO_FORMS:
            audio = AUDIO_FORMS[option.name]
            pending.append(_Pending(typed, audio, _parse_value(typed, audio, text)))
        elif spec and spec not in VIDEO_SPECIFIERS:
            if spec[0] in "asdt":
                cmd.warnings.append(f"exvc handles video only; ignoring option '-{typed}'.")
            else:
                raise UsageError(f"Invalid stream specifier: {spec}.")
        else:
            pending.append(_Pending(typed, option, value))
    if pending and not (opts.show_help or opts.show_version):
        raise UsageError("Trailing option(s) found in the command: "
                         f"'{' '.join('-' + p.typed for p in pending)}' after the last "
                         "output file; options go before the file they apply to")
    return cmd


def _bind(spec: FileSpec, pending: list[_Pending], cmd: CommandLine) -> FileSpec:
    """Apply the options read since the previous file to ``spec``; check they fit it."""
    is_input = isinstance(spec, InputSpec)
    kind, other = ("input", "an output") if is_input else ("output", "an input")
    for p in pending:
        if p.option.scope not in (FILE, INPUT if is_input else OUTPUT):
            raise UsageError(
                f"Option {p.typed} cannot be applied to {kind} url {spec.url} -- you are "
                f"trying to apply {other} option to an {kind} file or vice versa. Move this "
                "option before the file it belongs to.")
        spec.given.append(p.typed)
        if p.option.field == "metadata":
            key, value = p.value
            spec.metadata[key] = value
        elif p.option.field == "maps":
            spec.maps.append(p.value)
        elif p.option.field is not None:
            setattr(spec, p.option.field, p.value)
    if spec.duration is not None and spec.end is not None:
        cmd.warnings.append("-t and -to cannot be used together; using -t.")
        spec.end = None
    if spec.end is not None and spec.end <= (spec.start or 0):
        raise UsageError("-to value smaller than -ss; aborting.")
    if isinstance(spec, OutputSpec):
        spec.metadata = {k: v for k, v in spec.metadata.items() if v != ""}
    return spec


def help_text() -> str:
    """ffmpeg-like option list, built from the option table so it cannot drift."""
    sections = (("Global options", GLOBAL), ("Per-file options (input or output)", FILE),
                ("Output options", OUTPUT))
    lines = [
        "usage: exvc [options] [[infile options] -i infile] {[outfile options] outfile}",
        "",
        "Options apply to the next file on the command line, as in ffmpeg: put input options",
        "before -i, output options before the output file name.",
        "",
        "  exvc -i in.mp4 -b 0.02bpp out.dinr          encode (or -b 64k: bits/s)",
        "  exvc -i out.dinr decoded.mp4                decode",
        "  exvc -i out.dinr                            show what a .dinr holds",
        "  exvc -i in.y4m -vf scale=-2:144 -r 15 small.mkv   plain transcode",
    ]
    for title, scope in sections:
        lines += ["", f"{title}:"]
        for o in (*OPTIONS, *AUDIO_FORMS.values()):
            if o.scope != scope or o.name in HIDDEN:
                continue
            left = f"-{SHOWN_AS.get(o.name, o.name)}" + (f" {o.arg}" if o.arg else "")
            lines += textwrap.wrap(o.help, 98, initial_indent=f"  {left:<20} ",
                                   subsequent_indent=" " * 23)
    return "\n".join(lines) + "\n"
