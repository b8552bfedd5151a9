"""Sharing a window's bytes between segments (exvc.encode.budget_plan.split and
exvc.encode.complexity)."""

from exvc.encode.budget_plan import MAX_RATIO, MIN_RATIO, BudgetPlan
from exvc.encode.complexity import common_quantiser_weights, probe_size


def test_weights_move_bytes_to_the_busy_segment_and_the_total_is_kept():
    plan = BudgetPlan(0.035, 320 * 136, 60)
    counted = plan.split(0, [30, 34])
    weighted = plan.split(0, [30, 34], [0.28, 0.72])
    assert counted == [plan.budget(0, 30), plan.budget(30, 64)]
    assert sum(weighted) == sum(counted) == plan.budget(0, 64)
    assert weighted[0] < counted[0] and weighted[1] > counted[1]


def test_a_misjudged_segment_keeps_a_bounded_share():
    plan = BudgetPlan(0.02, 176 * 144, 50)
    counted = plan.split(64, [32, 32])
    starved = plan.split(64, [32, 32], [1e-9, 1.0])
    assert sum(starved) == sum(counted)
    assert starved[0] >= MIN_RATIO * counted[0] * 0.99
    assert starved[1] <= MAX_RATIO * counted[1]


def test_common_quantiser_weights_follow_the_probed_sizes():
    # the still segment needs a third of the busy one's bytes at both quantisers
    weights = common_quantiser_weights("vvc", [(3000, 1000), (9000, 3000)], 8000)
    assert abs(weights[1] / weights[0] - 3.0) < 1e-6
    assert abs(sum(weights) - 8000) < 1.0


def test_large_frames_are_probed_small():
    assert probe_size(320, 240) == (320, 240)
    w, h = probe_size(1920, 1080)
    assert w * h <= 640 * 360 and w % 2 == 0 and h % 2 == 0


def test_the_encoder_shares_a_lookahead_window_by_its_weights():
    import numpy as np

    from exvc.encode.encoder import _jobs, _Progress
    from exvc.encode.settings import EncodeSettings

    # a still scene of 16 frames, then a hard cut to 20 frames of noise
    rng = np.random.default_rng(0)
    still = [np.full((3, 16, 16), 0.2, np.float32)] * 16
    busy = [rng.random((3, 16, 16), dtype=np.float32) for _ in range(20)]
    plan = BudgetPlan(2.0, 16 * 16, 40)
    seen = []

    def weigh(segments, total):
        seen.append(([len(s) for s in segments], total))
        return [1.0, 3.0]

    def budgets(lookahead, weigh):
        settings = EncodeSettings(bpp=2.0, lookahead=lookahead)
        return [j.total for j in _jobs(iter(still + busy), settings, plan,
                                       _Progress(None, None), weigh)]

    counted = budgets(0, None)
    shared = budgets(64, weigh)
    assert seen == [([16, 20], plan.budget(0, 36))]
    assert counted == [plan.budget(0, 16), plan.budget(16, 36)]
    assert sum(shared) == sum(counted) and shared[1] > counted[1]
