"""``lookahead="auto"``: per client, the network's own decisions or its critic's lookahead,
and how far along the frontier to move its portfolios, whichever does better on simulated
markets.

Neither way of acting is better for every client: on the independent problem families
the critic's lookahead (:class:`~gbwm_sb3.pretrained.lookahead.LookaheadPolicy`) gains up
to 0.03 of the optimum on some problems and loses as much on others, and which one wins
varies with the weights (docs/pretrained.md, "Choosing the lookahead per client"). The
network's portfolios are off in a consistent direction on some clients too (one or two
places too cautious on plans whose near-tied options or steep frontiers it misreads), so
the check also moves them (``portfolio_shift``). All of it can be scored on the client's
own problem without the DP: :func:`self_checked` simulates

1. the network's own decisions and the lookahead, and keeps the one with the higher mean
   utility (the network's own decisions on a tie: they are cheaper);
2. the kept policy with each portfolio shift of ``shifts`` (:data:`SELF_CHECK_SHIFTS`:
   one place safer, one to three riskier), and keeps the best (no shift on a tie),

all on the same :data:`SELF_CHECK_PATHS` markets (seed :data:`SELF_CHECK_SEED`, a stream
of its own, so a later evaluation on other seeds is not the one that chose). The choices
and every score are kept on the returned policy (``self_check``). It costs the
simulations when the policy is bound (2 + ``len(shifts)`` of them: 3.6-11.5 s on the
problems of ``benchmarks/bench_self_check.py`` on a 2-core machine, 1.6-4.9 times the
two simulations without shifts, against milliseconds without a check); advice afterwards
costs what the chosen policy costs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gbwm_sb3.common.limits import MAX_PATHS, check_int
from gbwm_sb3.evaluation.evaluator import evaluate
from gbwm_sb3.pretrained.advisor import MAX_PORTFOLIO_SHIFT, PretrainedPolicy
from gbwm_sb3.pretrained.lookahead import greedy_or_lookahead
from gbwm_sb3.pretrained.policy import UniversalGBWMPolicy
from gbwm_sb3.problem.model import GBWMProblem

__all__ = ["AUTO", "SELF_CHECK_PATHS", "SELF_CHECK_SEED", "SELF_CHECK_SHIFTS", "SelfCheck",
           "self_checked"]

#: The ``lookahead`` value that asks for the per-client choice.
AUTO = "auto"
#: Markets each candidate is simulated on.
SELF_CHECK_PATHS = 4000
#: Seed of those markets (not a seed the benchmarks evaluate on).
SELF_CHECK_SEED = 20_261_207
#: Portfolio shifts compared after the lookahead is chosen (positive: riskier).
SELF_CHECK_SHIFTS = (-1, 1, 2, 3)


@dataclass(frozen=True)
class SelfCheck:
    """The choice :func:`self_checked` made for one client.

    ``own`` and ``lookahead``: mean utility over the same ``paths`` simulated markets of
    the network's own decisions and of the critic comparing ``candidates`` decisions a
    year; ``chosen``: the decisions compared a year by the policy kept (1 or
    ``candidates``); ``shift``: the portfolio shift kept; ``shift_utilities``: ``(shift,
    mean utility)`` of the kept way of acting for every shift compared, 0 first.
    """

    own: float
    lookahead: float
    candidates: int
    chosen: int
    paths: int
    shift: int = 0
    shift_utilities: tuple[tuple[int, float], ...] = ()


def self_checked(network: UniversalGBWMPolicy, problem: GBWMProblem, candidates: int, *,
                 paths: int = SELF_CHECK_PATHS, exact: bool = False,
                 shifts: Sequence[int] = SELF_CHECK_SHIFTS) -> PretrainedPolicy:
    """``network`` bound to ``problem`` with its own decisions or with the critic's lookahead
    over ``candidates`` (2-64) decisions, then with the best portfolio shift of ``shifts``
    (each -3..3; empty: no shift), each choice the higher mean utility on ``paths``
    simulated markets (the module docstring); the choices are in ``self_check``."""
    candidates = check_int(candidates, "candidates", 2, 64, style="dots")
    paths = check_int(paths, "paths", 2, MAX_PATHS, style="dots")
    if isinstance(shifts, (str, bytes)) or not isinstance(shifts, Sequence):
        raise ValueError(f"shifts must be a sequence of integers, got {shifts!r}")
    shifts = tuple(check_int(s, "shifts", -MAX_PORTFOLIO_SHIFT, MAX_PORTFOLIO_SHIFT,
                             style="dots") for s in shifts)

    def bound(count: int, shift: int = 0) -> PretrainedPolicy:
        return greedy_or_lookahead(network, problem, count, exact=exact, portfolio_shift=shift)

    report = evaluate({"own": bound(1), "lookahead": bound(candidates)}, problem,
                      n_paths=paths, seed=SELF_CHECK_SEED, reference=None)
    own_utility = report["own"].mean_utility
    ahead_utility = report["lookahead"].mean_utility
    chosen = candidates if ahead_utility > own_utility else 1
    scores = {0: max(own_utility, ahead_utility)}
    others = [s for s in dict.fromkeys(shifts) if s != 0]
    if others:
        shifted = evaluate({str(s): bound(chosen, s) for s in others}, problem,
                           n_paths=paths, seed=SELF_CHECK_SEED, reference=None)
        scores.update((s, shifted[str(s)].mean_utility) for s in others)
    shift = max(scores, key=scores.__getitem__)  # a tie: the first, no shift
    policy = bound(chosen, shift)
    policy.self_check = SelfCheck(own=own_utility, lookahead=ahead_utility,
                                  candidates=candidates, chosen=chosen, paths=paths,
                                  shift=shift, shift_utilities=tuple(scores.items()))
    return policy
