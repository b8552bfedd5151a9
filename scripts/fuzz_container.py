"""Long fuzz run of the .dinr parse path (container, header, entropy decoding, segment
payloads, INR construction); the test suite runs a short one (tests/test_fuzz.py).

    python scripts/fuzz_container.py --seconds 600 [--seed N] [--out fuzz-findings]

Every input must be parsed or refused with DinrError. Another exception, an input taking more
than ``--hang`` seconds, or the process address space exceeding ``--memory-mb`` (set with
RLIMIT_AS, so an unbounded allocation fails as MemoryError) is a finding: the input is saved
under ``--out`` and the run goes on. The summary gives the counts and the exit status is 1 if
anything was found.
"""

from __future__ import annotations

import argparse
import random
import resource
import signal
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from fuzz_target import fuzz_one, generate, seed_files  # noqa: E402


class Hang(Exception):
    pass


def _alarm(_signum: int, _frame: object) -> None:
    raise Hang()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--hang", type=int, default=10, help="seconds one input may take")
    ap.add_argument("--memory-mb", type=int, default=6144, help="address-space limit")
    ap.add_argument("--out", default="fuzz-findings")
    args = ap.parse_args()

    import torch  # noqa: F401 - loaded before the memory limit: it maps a lot of address space

    torch.set_num_threads(1)
    soft = args.memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (soft, resource.getrlimit(resource.RLIMIT_AS)[1]))
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    seeds = seed_files()
    signal.signal(signal.SIGALRM, _alarm)
    out = Path(args.out)
    stats: Counter[str] = Counter()
    slowest = 0.0
    start = time.monotonic()
    while time.monotonic() - start < args.seconds:
        data = generate(rng, seeds)
        t0 = time.monotonic()
        signal.alarm(args.hang)
        try:
            fuzz_one(data)
            stats["ok"] += 1
        except Hang:
            stats["hang"] += 1
            _save(out, "hang", data, f"took more than {args.hang} s")
        except MemoryError:
            stats["memory"] += 1
            _save(out, "memory", data, traceback.format_exc())
        except Exception:  # noqa: BLE001 - every other exception is a finding
            stats["crash"] += 1
            _save(out, "crash", data, traceback.format_exc())
        finally:
            signal.alarm(0)
        slowest = max(slowest, time.monotonic() - t0)
        stats["inputs"] += 1
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    found = stats["crash"] + stats["hang"] + stats["memory"]
    print(f"seed {seed}: {stats['inputs']} inputs in {time.monotonic() - start:.0f} s "
          f"(returned normally or refused with DinrError: {stats['ok']}); findings: "
          f"{stats['crash']} crashes, {stats['hang']} hangs, {stats['memory']} memory; "
          f"slowest input {slowest:.2f} s; peak RSS {rss_mb:.0f} MB")
    return 1 if found else 0


def _save(out: Path, kind: str, data: bytes, why: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    name = out / f"{kind}-{len(list(out.glob(kind + '-*.bin'))):04d}.bin"
    name.write_bytes(data)
    name.with_suffix(".txt").write_text(why)
    print(f"{kind}: {name}\n{why}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
