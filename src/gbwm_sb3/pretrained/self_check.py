"""``lookahead="auto"``: per client, the network's own decisions or its critic's lookahead,
whichever does better on simulated markets.

Neither way of acting is better for every client: on the independent problem families
the critic's lookahead (:class:`~gbwm_sb3.pretrained.lookahead.LookaheadPolicy`) gains up
to 0.03 of the optimum on some problems and loses as much on others, and which one wins
varies with the weights (docs/pretrained.md, "Choosing the lookahead per client"). Both
can be scored on the client's own problem without the DP: :func:`self_checked` simulates
both policies on the same :data:`SELF_CHECK_PATHS` markets (seed :data:`SELF_CHECK_SEED`,
a stream of its own, so a later evaluation on other seeds is not the one that chose) and
keeps the one with the higher mean utility (the network's own decisions on a tie: they
are cheaper). The choice and both scores are kept on the returned policy
(``self_check``). It costs two simulations when the policy is bound (0.25-8.5 s per
problem on a 2-core machine, median about 2 s, against milliseconds without); advice
afterwards costs what the chosen policy costs.
"""

from __future__ import annotations

from dataclasses import dataclass

from gbwm_sb3.common.limits import MAX_PATHS, check_int
from gbwm_sb3.evaluation.evaluator import evaluate
from gbwm_sb3.pretrained.advisor import PretrainedPolicy
from gbwm_sb3.pretrained.lookahead import LookaheadPolicy
from gbwm_sb3.pretrained.policy import UniversalGBWMPolicy
from gbwm_sb3.problem.model import GBWMProblem

__all__ = ["AUTO", "SELF_CHECK_PATHS", "SELF_CHECK_SEED", "SelfCheck", "self_checked"]

#: The ``lookahead`` value that asks for the per-client choice.
AUTO = "auto"
#: Markets each candidate is simulated on.
SELF_CHECK_PATHS = 4000
#: Seed of those markets (not a seed the benchmarks evaluate on).
SELF_CHECK_SEED = 20_261_207


@dataclass(frozen=True)
class SelfCheck:
    """The choice :func:`self_checked` made for one client.

    ``own`` and ``lookahead``: mean utility over the same ``paths`` simulated markets of
    the network's own decisions and of the critic comparing ``candidates`` decisions a
    year; ``chosen``: the decisions compared a year by the policy kept (1 or
    ``candidates``).
    """

    own: float
    lookahead: float
    candidates: int
    chosen: int
    paths: int


def self_checked(network: UniversalGBWMPolicy, problem: GBWMProblem, candidates: int, *,
                 paths: int = SELF_CHECK_PATHS, exact: bool = False) -> PretrainedPolicy:
    """``network`` bound to ``problem`` with its own decisions or with the critic's lookahead
    over ``candidates`` (2-64) decisions, whichever has the higher mean utility on
    ``paths`` simulated markets (the module docstring); the choice is in ``self_check``."""
    candidates = check_int(candidates, "candidates", 2, 64, style="dots")
    paths = check_int(paths, "paths", 2, MAX_PATHS, style="dots")
    own = PretrainedPolicy(network, problem, exact=exact)
    ahead = LookaheadPolicy(network, problem, candidates=candidates, exact=exact)
    report = evaluate({"own": own, "lookahead": ahead}, problem, n_paths=paths,
                      seed=SELF_CHECK_SEED, reference=None)
    own_utility = report["own"].mean_utility
    ahead_utility = report["lookahead"].mean_utility
    chosen: PretrainedPolicy = ahead if ahead_utility > own_utility else own
    chosen.self_check = SelfCheck(own=own_utility, lookahead=ahead_utility,
                                  candidates=candidates,
                                  chosen=candidates if chosen is ahead else 1, paths=paths)
    return chosen
