"""Torch's thread count for one call, not for the whole process.

``encode_video`` and ``decode_video`` take a ``threads`` setting (the CLI's ``-threads``), but
torch keeps its intra-op thread count process-wide: set inside a library call and left set, it
changed every later call in the process (the rest of a test session, an encode after a decode
with ``-threads 1``). ``torch_threads`` holds it for a ``with`` block and then restores what was
there; ``confined`` does the same for each step of a lazy generator, so whoever consumes it
(an encoder reading a decoder's frames, at its own thread count) runs with its own setting
between two frames.

It lives in the lowest layer that runs torch, so that prior, encode and decode can all use it;
torch is imported on first use, which keeps importing this module cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TypeVar

T = TypeVar("T")


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with torch's intra-op thread count at ``n`` (None or 0: leave it as it
    is) and restore the previous count on the way out, also when the block raises."""
    if not n:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    if n == previous:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def confined(gen: Generator[T, None, None],
             scope: Callable[[], AbstractContextManager[object]]) -> Iterator[T]:
    """The items of ``gen``, each of its steps (and its closing) run inside a fresh
    ``scope()``. What the scope sets (thread count, inference mode) holds while ``gen`` works
    and never while it is suspended, whatever the consumer does between two items; it is undone
    at every yield, so a generator consumed in part, closed early or dropped leaves nothing
    set behind it. (A ``with`` block around a generator's own ``yield`` would leave it set in
    the consumer for as long as the generator is suspended.)"""
    try:
        while True:
            with scope():
                try:
                    item = next(gen)
                except StopIteration:
                    return
            yield item
    finally:
        with scope():
            gen.close()
