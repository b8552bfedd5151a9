"""Scale benchmark (issue 25): wall time and peak memory of long encodes, with and without Ray
workers, and encode/decode frames/s at 1080p on a GPU.

    python scripts/scale_bench.py memory [--frames 250 1000] [--workers 0 1 2]
    python scripts/scale_bench.py gpu [--hwaccel cuda] [--frames 32]

``memory`` codes testsrc2 at 160x96 (ultrafast, 0.02 bpp) for each frame count and worker
count (0: in this process, no Ray) and prints the wall time, the largest peak RSS of any one
process (the exvc driver, Ray's own processes and its workers: every descendant, read from
/proc/PID/status VmHWM) and the driver's, and the largest private RSS (RssAnon, sampled:
without the shared pages of Ray's object store that a process maps). It then decodes the
first worker count's file of each length (``-f null``) and prints the same figures. ``gpu``
makes a 1080p testsrc2 clip, encodes it (preset ultrafast) and decodes it with ``-hwaccel``
and prints frames/s for each; it is the script to run when the device tool lends a GPU
(docs/scale.md).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def make_clip(path: Path, frames: int, size: str) -> None:
    """testsrc2 (FFmpeg's synthetic pattern, moving) as raw YUV4MPEG."""
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi",
                    "-i", f"testsrc2=size={size}:rate=25", "-frames:v", str(frames),
                    "-pix_fmt", "yuv420p", str(path)], check=True)


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def _memory_mb(pid: int) -> tuple[float, float] | None:
    """(peak RSS, current private RSS) in MB: VmHWM, and RssAnon (RSS less file and shared
    pages, such as Ray's object store mapped into the process)."""
    found = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key = line.split(":")[0]
                if key in ("VmHWM", "RssAnon"):
                    found[key] = int(line.split()[1]) / 1024
    except OSError:
        return None
    return (found["VmHWM"], found["RssAnon"]) if len(found) == 2 else None


PRIVATE: dict[int, float] = {}  # pid -> largest private RSS sampled, MB (of the last run)


def run_measured(cmd: list[str]) -> tuple[float, float, float, int]:
    """(wall s, largest per-process peak RSS MB, driver's peak RSS MB, processes seen);
    the private (anonymous) RSS sampled every 0.25 s is left in PRIVATE."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peaks: dict[int, float] = {}
    PRIVATE.clear()
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for pid in _descendants(proc.pid):
                mb = _memory_mb(pid)
                if mb is not None:
                    peaks[pid] = max(peaks.get(pid, 0.0), mb[0])
                    PRIVATE[pid] = max(PRIVATE.get(pid, 0.0), mb[1])
            stop.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    wall = time.monotonic() - start
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{err}")
    return wall, max(peaks.values()), peaks.get(proc.pid, 0.0), len(peaks)


def exvc(*args: str) -> list[str]:
    return [sys.executable, "-m", "exvc", "-hide_banner", "-nostats", "-y", *args]


def memory(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "testsrc2_160x96.y4m"
        make_clip(clip, max(args.frames), "160x96")
        print(f"{'frames':>6} {'workers':>7} {'wall s':>7} {'fps':>5} {'max RSS/proc':>12} "
              f"{'driver RSS':>10} {'max private':>11} {'procs':>5} {'bytes':>6}")
        for frames in args.frames:
            for workers in args.workers:
                out = Path(tmp) / f"o{frames}_{workers}.dinr"
                extra = ["-workers", str(workers)] if workers else []
                wall, peak, driver, procs = run_measured(exvc(
                    *extra, "-i", str(clip), "-frames:v", str(frames), "-preset", "ultrafast",
                    "-b", "0.02bpp", str(out)))
                print(f"{frames:>6} {workers or '-':>7} {wall:>7.1f} {frames / wall:>5.2f} "
                      f"{peak:>10.0f}MB {driver:>8.0f}MB {max(PRIVATE.values()):>9.0f}MB "
                      f"{procs:>5} {out.stat().st_size:>6}", flush=True)
        for frames in args.frames:
            coded = Path(tmp) / f"o{frames}_{args.workers[0]}.dinr"
            wall, peak, driver, procs = run_measured(exvc("-i", str(coded), "-f", "null", "-"))
            print(f"{frames:>6} {'decode':>7} {wall:>7.1f} {frames / wall:>5.2f} "
                  f"{peak:>10.0f}MB {driver:>8.0f}MB {max(PRIVATE.values()):>9.0f}MB "
                  f"{procs:>5}", flush=True)


def gpu(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "testsrc2_1080p.y4m"
        make_clip(clip, args.frames[0], "1920x1080")
        coded, back = Path(tmp) / "o.dinr", Path(tmp) / "o.y4m"
        for name, cmd, frames in (
                ("encode", exvc("-hwaccel", args.hwaccel, "-i", str(clip), "-preset",
                                "ultrafast", "-b", "0.02bpp", str(coded)), args.frames[0]),
                ("decode", exvc("-hwaccel", args.hwaccel, "-i", str(coded), str(back)),
                 args.frames[0])):
            wall, peak, _, _ = run_measured(cmd)
            print(f"1080p {name} ({args.hwaccel}): {frames} frames in {wall:.1f} s = "
                  f"{frames / wall:.2f} frames/s, peak RSS {peak:.0f} MB", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=("memory", "gpu"))
    ap.add_argument("--frames", type=int, nargs="+", default=None)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--hwaccel", default="cuda")
    args = ap.parse_args()
    if args.what == "memory":
        args.frames = args.frames or [250, 1000]
        memory(args)
    else:
        args.frames = args.frames or [32]
        gpu(args)


if __name__ == "__main__":
    main()
