"""Segment-parallel encoding (issue 25): budgets planned before any coding, the Ray runner's
order and bounds (with a stand-in for Ray), and real Ray runs: ``-workers 1`` and
``-workers 2`` write the same bytes as each other and as an in-process encode at the same
threads per segment, also when a worker is killed mid-task; ``-hwaccel``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

from exvc.encode import runners
from exvc.encode.budget_plan import BudgetPlan
from exvc.encode.segment_task import SegmentJob, SegmentResult
from exvc.models.device import DeviceError, compute_device, on_device, resolve_device

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "bbb_192x108_48f.mp4"
# 12 frames of 48x32 in 3 segments of 4 (no scene cuts): the smallest real multi-segment file
CLIP = ["-i", str(SAMPLE), "-vf", "scale=48:32", "-frames:v", "12", "-g", "4",
        "-sc_threshold", "0", "-preset", "ultrafast", "-b", "0.3bpp"]


# --- the budget plan ------------------------------------------------------------------------

@pytest.mark.parametrize("cuts", [[10], [3, 7, 10], [1, 2, 3, 9, 10], [64, 128, 150]])
def test_planned_budgets_add_up_to_the_file_exactly(cuts):
    plan = BudgetPlan(bpp=0.0173, pixels=176 * 144, overhead=61)
    starts = [0, *cuts[:-1]]
    budgets = [plan.budget(a, b) for a, b in zip(starts, cuts, strict=True)]
    assert sum(budgets) + plan.overhead == plan.allowed(cuts[-1])
    # each budget is a function of its own frames only: the same whatever came before
    assert plan.budget(starts[-1], cuts[-1]) == plan.allowed(cuts[-1]) - plan.allowed(
        starts[-1]) - (plan.overhead if starts[-1] == 0 else 0)


# --- the Ray runner, with a stand-in for Ray ----------------------------------------------

class _Ref:
    def __init__(self, run, part):
        self.run, self.part = run, part


class _FakeRay(types.ModuleType):
    """Ray's API as the runner uses it. Tasks run when their result is fetched, so the
    number of tasks submitted and not fetched is what Ray would hold in flight."""

    class exceptions:  # noqa: N801 - mirrors ray.exceptions
        class RayTaskError(Exception):
            def __init__(self, cause):
                super().__init__(str(cause))
                self.cause = cause

    def __init__(self):
        super().__init__("ray")
        self.started = self.stopped = False
        self.in_flight = self.most_in_flight = 0
        self.cancelled = 0

    def is_initialized(self):
        return self.started

    def init(self, **_kw):
        self.started = True

    def shutdown(self):
        self.stopped, self.started = True, False

    def put(self, value):
        return _Ref(lambda: (value,), 0)

    def cancel(self, _ref, force=False):
        self.cancelled += 1

    def get(self, ref):
        try:
            return ref.run()[ref.part]
        except Exception as exc:  # as Ray: wrapped
            raise self.exceptions.RayTaskError(exc) from None

    def remote(self, fn):
        fake = self

        class Task:
            def options(self, **_kw):
                return self

            def remote(self, *args):
                fake.in_flight += 1
                fake.most_in_flight = max(fake.most_in_flight, fake.in_flight)
                done = []

                def run():
                    if not done:
                        fake.in_flight -= 1
                        resolved = [fake.get(a) if isinstance(a, _Ref) else a for a in args]
                        done.append(fn(*resolved))
                    return done[0]
                return _Ref(run, 0), _Ref(run, 1), _Ref(run, 2)
        return Task()


class _Coder:
    threads, hwaccel, dinr = 1, "cpu", None

    def __init__(self, fail_at: int | None = None):
        self.fail_at = fail_at

    def code(self, job: SegmentJob, report=None) -> SegmentResult:
        if job.index == self.fail_at:
            raise ValueError(f"segment {job.index} cannot be coded")
        return SegmentResult(job.index, len(job.frames), [], f"refined {job.index}", None)


def _on_ray(coder, jobs, workers):
    """As the encoder runs it: start, run, close."""
    runner = runners.RayRunner.start(workers, coder.threads, coder.hwaccel)
    try:
        yield from runner.run(coder, jobs)
    finally:
        runner.close()


def _jobs(n: int):
    return (SegmentJob(i, np.zeros((2, 3, 4, 4), np.float32), 100) for i in range(n))


@pytest.fixture
def fake_ray(monkeypatch):
    fake = _FakeRay()
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setattr(runners, "ray_available", lambda: True)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return fake


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_the_ray_runner_keeps_order_and_a_bounded_number_in_flight(fake_ray, workers):
    results = list(_on_ray(_Coder(), _jobs(9), workers))
    assert [r.index for r in results] == list(range(9))
    # only the last segment's refined state comes back (the top-up's)
    assert [r.refined for r in results] == [None] * 8 + ["refined 8"]
    assert fake_ray.most_in_flight == workers + 1
    assert fake_ray.stopped  # the local cluster it started is shut down


def test_a_task_error_surfaces_as_itself_and_the_rest_is_cancelled(fake_ray):
    got = []
    with pytest.raises(ValueError, match="segment 2 cannot be coded"):
        for result in _on_ray(_Coder(fail_at=2), _jobs(9), 2):
            got.append(result.index)
    assert got == [0, 1] and fake_ray.cancelled > 0 and fake_ray.stopped


def test_a_cluster_that_was_running_is_left_running(fake_ray):
    fake_ray.started = True
    list(_on_ray(_Coder(), _jobs(3), 2))
    assert not fake_ray.stopped


def test_without_ray_workers_is_one_line_that_says_what_to_install(tmp_path):
    code = ("import sys; sys.modules['ray'] = None; from exvc.cli.main import main; "
            "sys.argv = ['exvc'] + sys.argv[1:]; main()")
    out = tmp_path / "o.dinr"
    proc = subprocess.run([sys.executable, "-c", code, "-hide_banner", "-nostats",
                           "-v", "error", "-workers", "2", *CLIP, str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        f"Error encoding '{out}': {runners.RAY_MISSING}"]
    assert not out.exists()


def test_the_object_store_holds_the_segments_in_flight_and_no_more():
    segment = 2 * 64 * 3 * 96 * 160 * 4  # the longest segment of 160x96 at -g 64
    assert runners.store_bytes(2, segment) == 4 * segment + runners.STORE_MARGIN
    assert runners.store_bytes(1, 1000) > 75 << 20  # Ray's least
    assert runners.store_bytes(2, 1 << 40) < 1 << 40  # at most Ray's default share
    assert runners.store_bytes(2, 0) is None


# --- -hwaccel ------------------------------------------------------------------------------

def test_hwaccel_cpu_and_auto_here_and_cuda_refused_without_it():
    import torch

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="-hwaccel cuda: .*use -hwaccel auto or cpu"):
            resolve_device("cuda")
    with pytest.raises(DeviceError, match="unknown -hwaccel"):
        resolve_device("opencl")


def test_the_device_scope_is_restored():
    assert compute_device() == "cpu"
    with on_device("cuda"):
        assert compute_device() == "cuda"
        with on_device("cpu"):
            assert compute_device() == "cpu"
        assert compute_device() == "cuda"
    assert compute_device() == "cpu"


def test_hwaccel_cuda_without_cuda_is_one_line_and_no_output(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = tmp_path / "o.dinr"
    proc = subprocess.run([sys.executable, "-m", "exvc", "-hide_banner", "-hwaccel", "cuda",
                           *CLIP, str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.startswith("-hwaccel cuda: ")
    assert not out.exists()


# --- real Ray --------------------------------------------------------------------------------

def _encode(out: Path, *options: str, wait=None) -> subprocess.CompletedProcess:
    proc = subprocess.Popen([sys.executable, "-m", "exvc", "-hide_banner", "-nostats", "-y",
                             *options, *CLIP, str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    if wait is not None:
        wait(proc)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def in_process(tmp_path_factory) -> bytes:
    """The clip coded here, one segment after another, one thread per segment."""
    out = tmp_path_factory.mktemp("workers") / "here.dinr"
    _encode(out, "-threads", "1")
    return out.read_bytes()


@pytest.mark.slow
def test_one_worker_writes_the_file_coded_here(tmp_path, in_process):
    """(Two workers: the next test, which also kills one of them.)"""
    out = tmp_path / "w.dinr"
    proc = _encode(out, "-workers", "1")
    assert out.read_bytes() == in_process
    assert "ray" not in proc.stderr.lower()  # Ray's own logging stays out of exvc's stderr


def _ray_task_pids() -> list[int]:
    """Ray workers running a segment now (Ray titles them after the task's function)."""
    ps = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in ps.splitlines() if "ray::_code_segment" in line]


@pytest.mark.slow
def test_two_workers_write_the_same_file_also_when_one_is_killed_mid_segment(
        tmp_path, in_process):
    killed = []

    def kill_one(proc):
        deadline = time.monotonic() + 300
        while not killed and proc.poll() is None and time.monotonic() < deadline:
            pids = _ray_task_pids()
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.05)

    out = tmp_path / "w.dinr"
    _encode(out, "-workers", "2", wait=kill_one)
    assert killed, "no Ray task was seen running: nothing was tested"
    assert out.read_bytes() == in_process
