"""Where segments are coded: in this process, one after another, or as tasks on Ray.

Both runners take ``SegmentJob``s as the encoder reads them and give back ``SegmentResult``s
in the same order. The Ray runner keeps at most ``workers + 1`` segments in flight, so the
frames held (by the reader, in Ray's object store and in the workers) stay a few segments
whatever the video's length, and only the last segment's refined state (what the top-up
recodes) comes back to this process. Ray is imported only here, and only when ``-workers``
asks for it; it is an optional extra (``pip install 'exvc[ray]'``).

A local cluster of ``workers`` CPUs is started for the run and shut down after it; with
``RAY_ADDRESS`` set, the run uses that cluster instead (exvc must be installed on its
nodes) and leaves it running. A task whose worker dies is retried (``MAX_RETRIES``); an
error raised by the coding itself (a budget too small, say) is not, since it would recur.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator

from exvc.encode.segment_task import Report, SegmentCoder, SegmentJob, SegmentResult

MAX_RETRIES = 3
RAY_MISSING = "-workers needs Ray, which is not installed: pip install 'exvc[ray]'"


class RunnerError(ValueError):
    """The engine cannot run here (Ray missing, or its cluster unreachable)."""


def in_process(coder: SegmentCoder, jobs: Iterable[SegmentJob],
               report_for: Callable[[SegmentJob], Report | None]) -> Iterator[SegmentResult]:
    """Code ``jobs`` one after another in this process, reporting each one's steps."""
    for job in jobs:
        yield coder.code(job, report_for(job))


def ray_available() -> bool:
    """Whether Ray can be imported (checked without importing it: that takes seconds)."""
    try:
        return importlib.util.find_spec("ray") is not None
    except ValueError:  # a module set to None in sys.modules: blocked
        return False


class RayRunner:
    """A Ray cluster for one encode: ``start`` it first, so that its workers start and
    import torch and diffusers (15 s on 2 cores) while this process loads the prior and
    reads frames; then ``run`` the segments and ``close``."""

    def __init__(self, ray, workers: int, threads: int, gpus: float, started: bool) -> None:
        self.ray, self.workers, self.threads, self.gpus = ray, workers, threads, gpus
        self.started = started

    @classmethod
    def start(cls, workers: int, threads: int | None, hwaccel: str,
              warm: tuple[str, ...] = (), segment_bytes: int = 0) -> RayRunner:
        """Join or start the cluster; each worker then imports the modules in ``warm``.
        ``segment_bytes``: the frames of the longest segment, which sizes a local cluster's
        object store (``store_bytes``)."""
        if not ray_available():
            raise RunnerError(RAY_MISSING)
        import ray

        from exvc.models.device import resolve_device

        threads = threads or 1
        # A worker sees a GPU only when its task asks for one: with CUDA here, they share it.
        gpus = 1 / workers if resolve_device(hwaccel) == "cuda" else 0
        store = store_bytes(workers, segment_bytes)
        runner = cls(ray, workers, threads, gpus, _connect(ray, workers, threads, store))
        if warm:
            warming = ray.remote(_import).options(num_cpus=threads, num_gpus=gpus)
            for _ in range(workers):
                warming.remote(warm)  # nothing waits for these: Ray runs them first
        return runner

    def run(self, coder: SegmentCoder, jobs: Iterable[SegmentJob],
            on_submit: Callable[[SegmentJob], None] | None = None
            ) -> Iterator[SegmentResult]:
        """Code ``jobs`` as Ray tasks, ``workers`` at a time, and yield the results in
        order. ``on_submit`` hears of each job as it is handed to Ray."""
        ray = self.ray
        pending: deque = deque()
        try:
            task = ray.remote(_code_segment).options(
                num_cpus=self.threads, num_gpus=self.gpus, num_returns=3,
                max_retries=MAX_RETRIES)
            shared = ray.put(coder)
            first_sampler = None  # the sampler the first segment chose, as a reference
            for job in jobs:
                result, sampler, refined = task.remote(shared, job, [first_sampler])
                if first_sampler is None:
                    first_sampler = sampler
                pending.append((result, refined))
                if on_submit is not None:
                    on_submit(job)
                if len(pending) > self.workers:
                    yield _get(ray, pending.popleft()[0])
            while pending:
                result, refined = pending.popleft()
                done = _get(ray, result)
                if not pending:  # the file's last segment: the top-up starts from it
                    done.refined = _get(ray, refined)
                yield done
        finally:
            for ref, _ in pending:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        """Shut the cluster down if this run started it (one at RAY_ADDRESS stays up)."""
        if self.started:
            self.ray.shutdown()
            self.started = False


def _import(modules: tuple[str, ...]) -> None:
    import importlib

    for name in modules:
        importlib.import_module(name)


def _code_segment(coder: SegmentCoder, job: SegmentJob, first_sampler: list):
    """The Ray task: one segment, with the sampler of the first segment when it has one.
    The reference sits in a list so that Ray does not wait for it before the task starts:
    the segment's condition is coded first, and the sampler is asked for only after.
    Returns the result without its refined segment, the sampler, and the refined segment
    apart (frames and models: tens of MB), which only the file's last segment fetches."""
    ref = first_sampler[0]
    if coder.dinr is not None and ref is not None:
        import ray

        coder.dinr.sampler_source = lambda: ray.get(ref)
    result = coder.code(job)
    refined, result.refined = result.refined, None
    return result, result.sampler, refined


def _get(ray, ref) -> SegmentResult:
    """The task's result, or the error the coding raised (as itself, not wrapped by Ray)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause
        if isinstance(cause, Exception):
            raise cause from None
        raise


# the shared coder (prior, noise: about 14 MB) and the results; also keeps the store above
# the 75 MB that Ray requires
STORE_MARGIN = 128 << 20


def store_bytes(workers: int, segment_bytes: int) -> int | None:
    """The object store of a local cluster: the frames of the segments in flight (at most
    ``workers + 1``, and one being read) plus a margin, at most Ray's own default (30 % of
    the memory). Ray spills what does not fit to disk, so a small store costs time, never
    a failure; a bounded one keeps the pages of it that exvc writes (and so its RSS) from
    growing with the video's length. None: Ray's default."""
    if segment_bytes <= 0:
        return None
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return min((workers + 2) * segment_bytes + STORE_MARGIN, int(0.3 * memory))


def _connect(ray, workers: int, threads: int, store: int | None = None) -> bool:
    """Join the cluster at RAY_ADDRESS, or start a local one of ``workers`` x ``threads``
    CPUs and a ``store``-byte object store; True when this run started it (and so shuts it
    down)."""
    if ray.is_initialized():
        return False
    quiet = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                 configure_logging=True)
    try:
        if os.environ.get("RAY_ADDRESS"):
            ray.init(**quiet)
        else:
            ray.init(num_cpus=workers * threads, object_store_memory=store, **quiet)
    except Exception as exc:  # Ray raises many kinds (ConnectionError, RuntimeError...)
        where = os.environ.get("RAY_ADDRESS") or "a local Ray cluster"
        raise RunnerError(f"cannot start {where}: {str(exc).splitlines()[0]}") from None
    return True
