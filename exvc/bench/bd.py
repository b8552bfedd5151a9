"""Bjøntegaard deltas (G. Bjøntegaard, VCEG-M33, 2001): average gaps between two RD curves.

Both curves are fitted with a polynomial of degree ``min(3, points - 1)`` (the original cubic
fit, by least squares) and the fits are integrated over the interval where the curves overlap:

* ``bd_metric``: the mean difference of a quality metric over the common log10-rate range
  (test minus anchor; for PSNR or VMAF positive is better, for LPIPS negative is better);
* ``bd_rate``: the mean rate difference in percent at equal quality, over the common metric
  range (negative: the test needs fewer bits). Only defined where the metric ranges overlap.

Each returns None where it is not defined: fewer than two distinct points on a curve, or no
overlap.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _fit_integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """Integral over [lo, hi] of the least-squares polynomial through (x, y)."""
    poly = np.polynomial.Polynomial.fit(x, y, deg=min(3, len(np.unique(x)) - 1))
    antiderivative = poly.integ()
    return float(antiderivative(hi) - antiderivative(lo))


def _clean(rates: Sequence[float], values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    r, v = np.asarray(rates, dtype=np.float64), np.asarray(values, dtype=np.float64)
    keep = np.isfinite(r) & np.isfinite(v) & (r > 0)
    return np.log10(r[keep]), v[keep]


def _overlap(a: np.ndarray, b: np.ndarray) -> tuple[float, float] | None:
    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    return (float(lo), float(hi)) if hi > lo else None


def _mean_gap(xa: np.ndarray, ya: np.ndarray, xt: np.ndarray, yt: np.ndarray
              ) -> float | None:
    """Mean of (test fit - anchor fit) of y over the common x interval, or None."""
    if len(np.unique(xa)) < 2 or len(np.unique(xt)) < 2:
        return None
    span = _overlap(xa, xt)
    if span is None:
        return None
    lo, hi = span
    return (_fit_integral(xt, yt, lo, hi) - _fit_integral(xa, ya, lo, hi)) / (hi - lo)


def bd_metric(anchor_rates: Sequence[float], anchor_values: Sequence[float],
              test_rates: Sequence[float], test_values: Sequence[float]) -> float | None:
    """Mean metric difference (test - anchor) over the common log-rate interval."""
    ra, va = _clean(anchor_rates, anchor_values)
    rt, vt = _clean(test_rates, test_values)
    return _mean_gap(ra, va, rt, vt)


def bd_rate(anchor_rates: Sequence[float], anchor_values: Sequence[float],
            test_rates: Sequence[float], test_values: Sequence[float]) -> float | None:
    """Mean rate difference in percent (test vs anchor) at equal metric, where they overlap."""
    ra, va = _clean(anchor_rates, anchor_values)
    rt, vt = _clean(test_rates, test_values)
    gap = _mean_gap(va, ra, vt, rt)
    return None if gap is None else (10.0**gap - 1.0) * 100.0
