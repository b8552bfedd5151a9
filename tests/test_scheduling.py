"""In-process encoders leave the caller's CPU scheduling as it was (exvc.media.scheduling).

SVT-AV1 run as root raises its caller to SCHED_FIFO 99; an ffmpeg started afterwards
inherited it, and libvvenc's spinning threads then starved the machine (the suite hung).
"""

import os
from fractions import Fraction

import numpy as np
import pytest

from exvc.media import base_codecs
from exvc.media.scheduling import kept_scheduling, normal_scheduling


def _policy() -> tuple[int, int]:
    return os.sched_getscheduler(0), os.sched_getparam(0).sched_priority


def test_an_av1_base_encode_leaves_the_scheduling_as_it_was():
    before = _policy()
    pictures = np.full((3, 64 * 3 // 2, 64), 512, np.uint16)
    base_codecs.encode("av1", pictures, Fraction(25), base_codecs.RateSetting("qp", 50),
                       "ultrafast")
    assert _policy() == before


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may set real-time scheduling")
def test_kept_scheduling_undoes_a_real_time_raise():
    before = _policy()
    with kept_scheduling():
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
        assert _policy() == (os.SCHED_FIFO, 10)
    assert _policy() == before


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may set real-time scheduling")
def test_normal_scheduling_drops_real_time():
    with kept_scheduling():
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
        normal_scheduling()
        assert _policy() == (os.SCHED_OTHER, 0)
