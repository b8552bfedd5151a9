"""The benchmark's child processes: a killed benchmark leaves no encode running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

CHILD = textwrap.dedent("""
    import os, sys, time
    from exvc.bench.isolate import isolated

    def report_and_sleep(path):
        with open(path, "w") as f:
            f.write(str(os.getpid()))
        time.sleep(120)

    if __name__ == "__main__":
        isolated(report_and_sleep, sys.argv[1])
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_a_killed_benchmark_takes_its_child_with_it(tmp_path):
    script, pid_file = tmp_path / "parent.py", tmp_path / "child.pid"
    script.write_text(CHILD)
    parent = subprocess.Popen([sys.executable, str(script), str(pid_file)])
    try:
        for _ in range(600):
            if pid_file.exists() and pid_file.read_text():
                break
            time.sleep(0.1)
        child = int(pid_file.read_text())
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        for _ in range(100):
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        os.kill(child, signal.SIGKILL)
        pytest.fail("the child outlived its benchmark")
    finally:
        parent.kill()
