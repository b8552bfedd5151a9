"""Peak memory and time of parsing the entropy-table amplifier against a normal file.

    python scripts/hostile_tables.py

Each file is parsed (``parse_stream``: container, header, prior record, ADAPTER and SEGMENT
payloads, entropy decoding) in a fresh process after the imports, and the script prints the
process's peak RSS, the allocations traced during the parse and the time. ``many_tables(n)``
(tests/hostile.py) is a dinr file whose ADAPTER holds n one-value tensors, each with the
largest LAPLACE table; bitstream_spec.md 7.1's table budget refuses 256 of them in 4.3 KB.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, resource, sys, time, tracemalloc
sys.path[:0] = [sys.argv[1] + "/tests", sys.argv[1]]
import hostile
from exvc.bitstream.bytesio import DinrError
from exvc.decode.decoder import parse_stream
name, n = sys.argv[2], int(sys.argv[3])
data = hostile.normal() if name == "normal" else hostile.many_tables(n)
parse_stream(hostile.normal())  # imports and caches first
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
t0 = time.perf_counter()
try:
    parse_stream(data)
    result = "parsed"
except DinrError as exc:
    result = str(exc)
seconds = time.perf_counter() - t0
traced = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"bytes": len(data), "result": result, "seconds": seconds,
                  "traced_mb": traced / 2**20, "peak_rss_mb": after / 1024,
                  "rss_growth_mb": (after - before) / 1024}))
"""


def main() -> None:
    cases = [("normal", 0), ("many_tables", 10), ("many_tables", 256)]
    print(f"{'file':<18}{'bytes':>7}{'peak RSS':>10}{'growth':>9}{'traced':>9}{'time':>8}"
          "  result")
    for name, n in cases:
        out = subprocess.run([sys.executable, "-c", CHILD, str(REPO), name, str(n)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        label = name if name == "normal" else f"{name}({n})"
        print(f"{label:<18}{r['bytes']:>7}{r['peak_rss_mb']:>8.0f}MB{r['rss_growth_mb']:>7.1f}MB"
              f"{r['traced_mb']:>7.1f}MB{r['seconds']:>7.2f}s  {r['result'][:70]}")


if __name__ == "__main__":
    main()
