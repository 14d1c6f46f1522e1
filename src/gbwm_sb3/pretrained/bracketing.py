"""Actions for many wealths at once: exact at anchors, bisection where they change.

Scoring a policy on 100,000 paths asks for its action at 100,000 wealths a year, but a
year's actions are piecewise constant in wealth: they change at the affordability
thresholds (where a decision becomes affordable, a jump in the observation) and at a
few points where the network's preference crosses over. :func:`bracketed_actions`
sorts the distinct wealths, computes the exact action at every ``stride``-th one and on
both sides of every threshold, and bisects each gap whose two ends disagree until the
change is pinned between two neighbouring wealths; a gap whose ends agree takes their
action. Where the wealths are sparse (a year's tails) ``stride`` distinct wealths can span
a wide range, so there is also an anchor at least every :data:`MAX_LOG_SPAN` of
log-wealth. The result equals the exact action at every wealth unless a different action
holds on a stretch narrower than both, lying wholly inside a gap (both ends agreeing,
between two thresholds). That happens where two choices are nearly tied and swap back
and forth: portfolios whose logits differ by 1e-4, or the lookahead's ``Q`` values, which
jump where a next-year wealth crosses an affordability threshold. Measured on 100,000
paths of seven problems (``pytest -m slow tests/test_pretrained_bracketing.py``): up to
1.2 in 10,000 actions differ, and the mean utility is the same to 1e-7 or to the last
digit. ``exact=True`` on the pretrained
policies computes every action.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["bracketed_actions", "anchor_stride", "MIN_BRACKETED", "MIN_STRIDE", "MAX_LOG_SPAN"]

#: Fewer distinct wealths than this are all computed exactly.
MIN_BRACKETED = 4096
#: The fewest distinct wealths between two anchors; a batch of ``n`` has about
#: ``n / ANCHORS`` of them, so a gap spans a similar range of wealth in any batch.
MIN_STRIDE = 16
ANCHORS = 256
#: The widest stretch of log-wealth between two anchors: where the wealths are sparse (the
#: tails of a year's distribution) ``stride`` distinct wealths can span a wide range, on
#: which a network's preference may cross over and back by more than a near tie.
MAX_LOG_SPAN = 0.02

ActionFunction = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def anchor_stride(count: int, max_stride: int) -> int:
    """Distinct wealths between two anchors for a batch of ``count``: ``count // ANCHORS``
    within ``MIN_STRIDE..max_stride`` (a cheap exact action affords a small cap)."""
    return int(min(max_stride, max(MIN_STRIDE, count // ANCHORS)))


def bracketed_actions(exact: ActionFunction, wealth: np.ndarray, thresholds: np.ndarray,
                      stride: int | None = None, *, max_stride: int = 128
                      ) -> tuple[np.ndarray, np.ndarray]:
    """``(decision, portfolio)`` per wealth from ``exact`` called on a subset of them.

    ``exact(w)`` returns the exact actions at the (sorted, distinct) wealths ``w``;
    ``thresholds`` are the wealths at which the actions may jump (each one starts a new
    piece: the wealths just below and at or above it are both computed exactly).
    ``stride``: distinct wealths between anchors (default: :func:`anchor_stride`).
    """
    values, inverse = np.unique(wealth, return_inverse=True)
    count = values.shape[0]
    if stride is None:
        stride = anchor_stride(count, max_stride)
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ValueError(f"stride must be an integer >= 1, got {stride!r}")
    if count < max(MIN_BRACKETED, 2 * stride) or stride == 1:
        decision, portfolio = exact(values)
        return np.asarray(decision)[inverse], np.asarray(portfolio)[inverse]
    cut = np.searchsorted(values, np.asarray(thresholds, dtype=np.float64), side="left")
    anchors = np.unique(np.concatenate([np.arange(0, count, stride), [count - 1],
                                        cut - 1, cut, _log_span_anchors(values)]
                                       ).clip(0, count - 1))
    decision = np.zeros(count, dtype=np.intp)
    portfolio = np.zeros(count, dtype=np.intp)
    known = np.zeros(count, dtype=bool)

    def compute(index: np.ndarray) -> None:
        decision[index], portfolio[index] = exact(values[index])
        known[index] = True

    compute(anchors)
    left, right = anchors[:-1], anchors[1:]
    while left.size:
        differ = (right - left > 1) & ((decision[left] != decision[right])
                                       | (portfolio[left] != portfolio[right]))
        left, right = left[differ], right[differ]
        if not left.size:
            break
        middle = (left + right) // 2
        compute(middle)
        left, right = np.concatenate([left, middle]), np.concatenate([middle, right])
    # every wealth not computed lies in a gap whose two ends agree: take the left end's
    source = np.where(known, np.arange(count), 0)
    np.maximum.accumulate(source, out=source)
    return decision[source][inverse], portfolio[source][inverse]


def _log_span_anchors(values: np.ndarray) -> np.ndarray:
    """The first of the sorted ``values`` in every bin of :data:`MAX_LOG_SPAN` in log-wealth
    (non-positive wealths share the lowest bin)."""
    bins = np.floor(np.log(np.maximum(values, 1e-300)) / MAX_LOG_SPAN)
    return np.flatnonzero(np.diff(bins, prepend=-np.inf) != 0)
