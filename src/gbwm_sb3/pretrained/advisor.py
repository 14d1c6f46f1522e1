"""``PretrainedPolicy``: a universal network bound to one client's problem.

The network (:class:`~gbwm_sb3.pretrained.policy.UniversalGBWMPolicy`) knows nothing
about a particular client; this adapter encodes the client's year and wealth as the
universal observation and turns the network's actions back into the evaluator's
protocol, ``act(t, wealth) -> (decision, portfolio)`` (see
:mod:`gbwm_sb3.evaluation.strategies`), so it can be scored against the DP optimum
on common random numbers like any other policy.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch as th

from gbwm_sb3.common.limits import check_int
from gbwm_sb3.envs.dynamics import ProblemTable, affordability_thresholds
from gbwm_sb3.envs.universal_observation import UniversalObservation
from gbwm_sb3.pretrained.bracketing import bracketed_actions
from gbwm_sb3.pretrained.fast import GreedyScorer, parameter_fingerprint
from gbwm_sb3.pretrained.policy import UniversalGBWMPolicy
from gbwm_sb3.problem.model import GBWMProblem

if TYPE_CHECKING:  # pragma: no cover
    from gbwm_sb3.evaluation.critic_lookahead import CriticLookahead
    from gbwm_sb3.pretrained.critic import PretrainedCritic
    from gbwm_sb3.pretrained.self_check import SelfCheck

__all__ = ["PretrainedPolicy", "Advice", "MAX_PORTFOLIO_SHIFT"]

#: The largest ``portfolio_shift`` either way (places along the frontier).
MAX_PORTFOLIO_SHIFT = 3

_CHUNK = 2048


@dataclass(frozen=True)
class Advice:
    """Today's advice for one client: the decision, the portfolio and their odds.

    ``decision`` indexes ``problem.decisions(t)`` (0: fund nothing); ``goals_funded``
    names the goals (and levels) it pays for; ``decision_probabilities`` and
    ``portfolio_probabilities`` are the network's probabilities (the plain policy advises
    the most likely of each, the portfolio moved by the policy's ``portfolio_shift``; a
    lookahead can choose another decision, as it acts);
    ``goal_probabilities`` maps each goal due this year to the probability that the
    network funds it (at any level).
    """

    year: int
    wealth: float
    decision: int
    portfolio: int
    goals_funded: tuple[str, ...]
    decision_probabilities: tuple[float, ...]
    portfolio_probabilities: tuple[float, ...]
    goal_probabilities: dict[str, float]


class PretrainedPolicy:
    """A universal policy network acting for ``problem`` (greedy by default).

    ``act(t, wealth)`` is vectorised over wealth values. Greedy actions come from
    :class:`~gbwm_sb3.pretrained.fast.GreedyScorer` (the network's layers without the full
    observation; rebuilt when the network's weights change); for many wealths at once
    (scoring thousands of paths) they are computed exactly at anchors and bisected
    between them (:func:`~gbwm_sb3.pretrained.bracketing.bracketed_actions`), unless
    ``exact=True``. ``deterministic=False`` samples actions with torch's global
    generator through the network's ``_predict`` (evaluation uses the greedy policy, as
    for per-client models). :meth:`with_critic_lookahead` gives a copy whose actions come
    from :class:`~gbwm_sb3.evaluation.CriticLookahead` over the network's critic (what
    :func:`~gbwm_sb3.pretrained.fine_tune` returns where that scores better).

    ``portfolio_shift`` (-3..3, deterministic policies only): every portfolio the network
    picks is moved that many places along the frontier (positive: riskier), clipped to
    its ends. It is the per-client risk dial ``lookahead="auto"`` sets by simulation
    (:mod:`gbwm_sb3.pretrained.self_check`); 0 (default) acts as the network does.
    """

    #: Largest gap between bracketing anchors (the greedy action is cheap: keep gaps short).
    _max_stride = 32

    def __init__(self, network: UniversalGBWMPolicy, problem: GBWMProblem,
                 deterministic: bool = True, *, exact: bool = False,
                 portfolio_shift: int = 0) -> None:
        if not isinstance(network, UniversalGBWMPolicy):
            raise ValueError(f"network must be a UniversalGBWMPolicy, got "
                             f"{type(network).__name__}")
        if not isinstance(problem, GBWMProblem):
            raise ValueError(f"problem must be a GBWMProblem, got {type(problem).__name__}")
        if problem.market.regime_count > 1:
            raise ValueError(f"the pretrained policy cannot act in a market with regimes (the "
                             f"problem's has {problem.market.regime_count}): its universal "
                             "observation does not show the regime; train a model for the "
                             "problem (GBWMVecEnv) or use its DP solution")
        if problem.inflation is not None:
            raise ValueError("the pretrained policy cannot act in a problem with stochastic "
                             "inflation: its universal observation does not show the inflation "
                             "rate; train a model for the problem (GBWMVecEnv) or use its DP "
                             "solution")
        shift = check_int(portfolio_shift, "portfolio_shift", -MAX_PORTFOLIO_SHIFT,
                          MAX_PORTFOLIO_SHIFT, style="dots")
        if shift and not deterministic:
            raise ValueError("portfolio_shift must be 0 for a sampling policy "
                             "(deterministic=False): it moves the greedy portfolio")
        self.network = network
        self.problem = problem
        self.deterministic = bool(deterministic)
        #: Places each chosen portfolio moves along the frontier (positive: riskier).
        self.portfolio_shift = shift
        self.exact = bool(exact)
        self._general = not problem.in_paper_family
        self._encoder = UniversalObservation(
            ProblemTable.from_problems([problem], max_decisions=None))
        self._scorer: GreedyScorer | None = None
        self._parameters = tuple(network.parameters())
        #: (environment steps, held-out mean utility, adopted) of the networks
        #: ``fine_tune`` compared.
        self.fine_tune_scores: list[tuple[int, float, bool]] = []
        #: (held-out mean utility with the network's own portfolios, with the critic's
        #: lookahead, adopted) of ``fine_tune``'s last comparison; None: not compared.
        self.fine_tune_critic_check: tuple[float, float, bool] | None = None
        #: What ``fine_tune`` was given and did (weights, budget, seed, trajectories,
        #: seconds); None for a policy that was not fine-tuned.
        self.fine_tune_record: dict[str, Any] | None = None
        #: Set by :meth:`with_critic_lookahead`: the rule the greedy actions come from.
        self.critic_lookahead: CriticLookahead | None = None
        #: Set where ``lookahead="auto"`` chose this policy: the two scores and the choice
        #: (:class:`~gbwm_sb3.pretrained.self_check.SelfCheck`).
        self.self_check: SelfCheck | None = None

    def observe(self, t: int, wealth: np.ndarray) -> np.ndarray:
        """Universal observations at year ``t``, shape (n, ``UNIVERSAL_OBSERVATION_SIZE``)."""
        wealth = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
        _check_year(t, self.problem.horizon)
        n = wealth.shape[0]
        return self._encoder.encode(np.zeros(n, dtype=np.intp), np.full(n, int(t)), wealth)

    def act(self, t: int, wealth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(decision, portfolio)`` per wealth at year ``t`` (a bool take for the paper family)."""
        if self.deterministic and self.critic_lookahead is not None:
            _check_year(t, self.problem.horizon)
            return self.critic_lookahead.act(int(t), wealth)
        if self.deterministic:
            wealth = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
            _check_year(t, self.problem.horizon)
            year = int(t)
            if self.exact:
                decision, portfolio = self._exact_actions(year, wealth)
            else:
                decision, portfolio = bracketed_actions(
                    lambda values: self._exact_actions(year, values), wealth,
                    self.thresholds(year), max_stride=self._max_stride)
        else:
            decision, portfolio = self._sample(t, wealth)
        return (decision if self._general else decision != 0), portfolio

    def critic_source(self) -> PretrainedCritic:
        """What :class:`~gbwm_sb3.evaluation.CriticLookahead` reads of this network: its
        greedy actions, likeliest decisions and value network
        (:class:`~gbwm_sb3.pretrained.critic.PretrainedCritic`)."""
        from gbwm_sb3.pretrained.critic import PretrainedCritic as Critic

        return Critic(self)

    def with_critic_lookahead(self, decisions: int | None = None) -> PretrainedPolicy:
        """A copy of this (deterministic) policy acting through
        :class:`~gbwm_sb3.evaluation.CriticLookahead` with its own critic: each year the
        best of ``decisions`` likeliest goal decisions and every portfolio by one step of
        lookahead (None: the policy's own lookahead breadth, ``candidates``, else 1: its
        own decision). This policy is unchanged; the copy shares the network."""
        from gbwm_sb3.evaluation.critic_lookahead import CriticLookahead

        if not self.deterministic:
            raise ValueError("with_critic_lookahead needs a deterministic policy (the "
                             "lookahead's actions are greedy)")
        improved = copy.copy(self)
        improved.fine_tune_scores = list(self.fine_tune_scores)
        count = int(getattr(self, "candidates", 1)) if decisions is None else decisions
        improved.critic_lookahead = CriticLookahead(improved, self.problem, decisions=count)
        return improved

    def thresholds(self, t: int) -> np.ndarray:
        """The wealths at year ``t`` at which a decision becomes affordable (sorted)."""
        return affordability_thresholds(self._encoder.table, 0, t)

    def _exact_actions(self, t: int, wealth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The greedy ``(decision, portfolio)`` computed at every wealth."""
        return self._greedy_actions(t, wealth)

    def _greedy_actions(self, t: int, wealth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The network's most likely ``(decision, portfolio)``, the portfolio shifted."""
        decision, portfolio = self.scorer().actions(t, wealth)
        return decision, self.shifted(portfolio)

    def shifted(self, portfolio: np.ndarray) -> np.ndarray:
        """``portfolio`` (indices) moved ``portfolio_shift`` places, kept on the frontier."""
        if not self.portfolio_shift:
            return portfolio
        return np.clip(portfolio + self.portfolio_shift, 0, self.problem.num_portfolios - 1)

    def scorer(self) -> GreedyScorer:
        """The greedy fast path for this problem, rebuilt if the network's weights changed."""
        if self._scorer is None \
                or self._scorer.fingerprint != parameter_fingerprint(self._parameters):
            self._scorer = GreedyScorer(self.network, self._encoder)
        return self._scorer

    def _advised_decision(self, t: int, wealth: float, goal: th.Tensor) -> int:
        """The decision ``advise`` gives, from the goal head's probabilities ``goal`` (1, K)."""
        return int(goal[0].argmax())

    def _sample(self, t: int, wealth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sampled actions from the network on the full observations."""
        obs = th.as_tensor(self.observe(t, wealth), device=self.network.device)
        with th.no_grad():  # in chunks: the per-portfolio hidden layer stays in cache
            actions = th.cat([self.network._predict(chunk, deterministic=self.deterministic)
                              for chunk in th.split(obs, _CHUNK)])
        chosen = actions.cpu().numpy().astype(np.intp)
        return chosen[:, 0], chosen[:, 1]

    def advise(self, t: int, wealth: float) -> Advice:
        """The most likely decision and portfolio at year ``t`` with ``wealth``, with odds."""
        wealth_value = float(wealth)
        if not np.isfinite(wealth_value) or wealth_value < 0:
            raise ValueError(f"wealth must be a finite number >= 0, got {wealth!r}")
        obs = th.as_tensor(self.observe(t, np.array([wealth_value])), device=self.network.device)
        chosen_portfolio: int | None = None
        with th.no_grad():  # the portfolio odds are those given the advised decision
            goal, portfolio = self.network.action_probabilities(obs)
            if self.critic_lookahead is not None and self.deterministic:
                taken, held = self.critic_lookahead.act(int(t), np.array([wealth_value]))
                decision, chosen_portfolio = int(taken[0]), int(held[0])
            else:
                decision = self._advised_decision(int(t), wealth_value, goal)
            if decision != int(goal[0].argmax()):
                _, portfolio = self.network.action_probabilities(
                    obs, th.tensor([decision], device=obs.device))
        decisions = self.problem.decisions(int(t))
        goal_p = goal[0, : len(decisions)].cpu().numpy().astype(float)
        goal_probabilities: dict[str, float] = {}
        labels = _goals_of_year(self.problem, int(t))
        for index, (name, _) in enumerate(labels):
            goal_probabilities[name] = float(sum(
                p for p, d in zip(goal_p, decisions, strict=True) if d.levels[index] > 0))
        funded = tuple(_funded_labels(labels, decisions[decision].levels))
        port_p = portfolio[0, : self.problem.num_portfolios].cpu().numpy().astype(float)
        if chosen_portfolio is None:
            chosen_portfolio = int(self.shifted(np.array([port_p.argmax()]))[0])
        return Advice(year=int(t), wealth=wealth_value, decision=decision,
                      portfolio=chosen_portfolio, goals_funded=funded,
                      decision_probabilities=tuple(goal_p.tolist()),
                      portfolio_probabilities=tuple(port_p.tolist()),
                      goal_probabilities=goal_probabilities)


def _check_year(t: int, horizon: int) -> None:
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= t < horizon:
        raise ValueError(f"t must be an integer year in 0..{horizon - 1}, got {t!r}")


def _goals_of_year(problem: GBWMProblem, t: int) -> list[tuple[str, int]]:
    """``(label, number of levels)`` of the goals due at ``t``, in decision order."""
    out = []
    for goal, label in zip(problem.goals, problem.goal_labels, strict=True):
        if goal.time == t:
            out.append((label, len(goal.levels)))
    return out


def _funded_labels(labels: list[tuple[str, int]], levels: tuple[int, ...]) -> list[str]:
    out = []
    for (name, count), level in zip(labels, levels, strict=True):
        if level > 0:
            out.append(name if count == 1 else f"{name} (level {level} of {count})")
    return out
