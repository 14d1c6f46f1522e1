"""The DP's sums over (point, knot) pairs, in blocks of bounded memory."""

from __future__ import annotations

import numpy as np
import pytest

from gbwm_sb3.dp import transitions


def test_pair_sums_in_blocks_equal_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """The DP's knot sums are bounded in memory by blocks of rows, with the same sums."""
    rng = np.random.default_rng(0)
    low = rng.integers(0, 50, 300)
    high = low + rng.integers(0, 40, 300)
    values = rng.standard_normal(200)

    def term(rows: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, ...]:
        return values[index] * rows, values[index] ** 2

    whole = transitions.pair_sums(low, high, term)
    monkeypatch.setattr(transitions, "MAX_PAIRS", 17)
    blocks = transitions.pair_sums(low, high, term)
    for a, b in zip(whole, blocks, strict=True):
        np.testing.assert_array_equal(a, b)
    expected = np.array([sum(values[k] * r for k in range(lo, hi))
                         for r, (lo, hi) in enumerate(zip(low, high, strict=True))])
    np.testing.assert_allclose(whole[0], expected, rtol=1e-12, atol=1e-12)
    empty = transitions.pair_sums(low[:0], high[:0], term)
    assert len(empty) == 2 and empty[0].shape == (0,)
