"""Policies that the evaluator can score, behind one small protocol.

Anything with ``act(t, wealth) -> (take, portfolio)`` is a policy: ``t`` is the
year (0..T-1), ``wealth`` a 1-D array of pre-goal wealth, ``take`` a bool array
(a take where no goal is affordable is ignored by the dynamics) and
``portfolio`` an int array of 0-based portfolio indices. For a problem of the
general class ``take`` is an int array of decision indices into
``problem.decisions(t)`` (a decision that costs more than the cash takes
nothing). ``DPSolution`` is one; this module adds an adapter for trained SB3
models and the benchmark strategies of the paper's Figure 2.

For a market with regimes (:class:`~gbwm_sb3.problem.regimes.RegimeMarket`) a policy
may also take the market regime: ``act(t, wealth, regime=None)``, ``regime`` an int
array of each path's regime of year ``t`` (as wealth, one per path). The simulators call
a policy whose ``act`` has a ``regime`` parameter that way
(:func:`~gbwm_sb3.envs.dynamics.sees_regime`) and any other ``act(t, wealth)``: a
regime-blind policy (``BuyAndHold``, ``RandomPolicy``) stays a valid benchmark.
``RegimeDPSolution`` and ``SB3Policy`` take the regime; ``GreedyGoals`` and ``Hybrid``
pass it on to the policies they are built from that take it.

For a problem with stochastic inflation (:class:`~gbwm_sb3.problem.inflation.InflationModel`)
a policy may likewise take the current inflation rate: ``act(t, wealth, inflation=None)``,
``inflation`` a float array of each path's rate ``pi_t`` (wealth is then real, in today's
money; :func:`~gbwm_sb3.envs.dynamics.sees_inflation`). ``SB3Policy`` takes it (the
observation shows it), ``GreedyGoals`` and ``Hybrid`` pass it on; the others are not told.

Randomised strategies draw from their own generators, one stream per year
(``SeedSequence(seed).spawn`` keyed by the year), so their coin flips do not
touch the market's random numbers, are reproducible, and do not depend on how
the evaluator splits paths into chunks (the k-th path of year t always gets the
k-th number of that year's stream). ``reset()`` restarts the streams; the
evaluator calls it before each evaluation.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeGuard, runtime_checkable

import numpy as np

from gbwm_sb3.envs.dynamics import (
    accepted_inputs,
    apply_decisions,
    best_affordable_decision,
    call_policy,
    problem_table,
)
from gbwm_sb3.envs.observation import decision_affordable, encode_observation
from gbwm_sb3.problem.model import GBWMProblem

__all__ = [
    "GBWMPolicyLike",
    "SB3Policy",
    "GreedyGoals",
    "BuyAndHold",
    "RandomPolicy",
    "Hybrid",
    "reset_policy",
]


@runtime_checkable
class GBWMPolicyLike(Protocol):
    """The policy protocol: decisions for every wealth value at year ``t``.

    For a market with regimes a policy may declare ``act(t, wealth, regime=None)``: the
    simulators then pass ``regime``, an int array of each path's market regime of year
    ``t`` (``wealth``'s shape); a policy without that parameter is regime-blind and is
    called ``act(t, wealth)``. For a problem with stochastic inflation a policy may
    likewise declare ``act(t, wealth, inflation=None)``: ``inflation`` is then a float
    array of each path's current inflation rate ``pi_t`` (wealth is real).
    """

    def act(self, t: int, wealth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(take: bool array, portfolio: int array)``, each of ``wealth``'s shape."""
        ...


def reset_policy(policy: GBWMPolicyLike) -> None:
    """Restart a policy's random streams if it has any (``reset()``); no-op otherwise."""
    reset = getattr(policy, "reset", None)
    if callable(reset):
        reset()


def _check_policy(policy: Any, name: str) -> Any:
    if not callable(getattr(policy, "act", None)):
        raise ValueError(f"{name} must have an act(t, wealth) method, got {type(policy).__name__}")
    return policy


def _check_seed(seed: Any) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    return int(seed)


def _check_probability(value: Any, name: str) -> float:
    try:
        p = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}") from None
    if isinstance(value, bool) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return p


class _YearStreams:
    """One uniform-number stream per (year, purpose), reproducible from a seed."""

    def __init__(self, seed: int | None) -> None:
        self.seed = seed
        self._entropy = np.random.SeedSequence(seed).entropy
        self.reset()

    def reset(self) -> None:
        self._streams: dict[tuple[int, int], np.random.Generator] = {}

    def uniform(self, t: int, purpose: int, size: int) -> np.ndarray:
        key = (int(t), purpose)
        stream = self._streams.get(key)
        if stream is None:
            sequence = np.random.SeedSequence(self._entropy, spawn_key=key)
            stream = np.random.Generator(np.random.PCG64(sequence))
            self._streams[key] = stream
        return stream.random(size)


_COIN, _PORTFOLIO, _SB3_GOAL, _SB3_PORTFOLIO, _CHOICE = range(5)


def _random_affordable(problem: GBWMProblem, t: int, wealth: np.ndarray, take: np.ndarray,
                       uniforms: np.ndarray, price_level: np.ndarray | None = None
                       ) -> np.ndarray:
    """General class: where ``take``, a uniformly drawn affordable decision other than
    "take nothing" (0 where none is affordable); 0 elsewhere (``price_level``: each path's
    ``P_t``, for a problem with nominal amounts)."""
    available = decision_affordable(problem_table(problem), t, wealth, price_level)[:, 1:]
    count = available.sum(axis=1)
    pick = np.minimum((uniforms * count).astype(np.intp), np.maximum(count - 1, 0))
    position = np.cumsum(available, axis=1) - 1  # rank of each available decision
    chosen = np.argmax(available & (position == pick[:, None]), axis=1) + 1
    return np.where(take & (count > 0), chosen, 0).astype(np.intp)


def _is_general(problem: GBWMProblem | None) -> TypeGuard[GBWMProblem]:
    return problem is not None and not problem.in_paper_family


class SB3Policy:
    """A trained SB3 ``PPO`` or sb3-contrib ``MaskablePPO`` model as a GBWM policy.

    Observations come from :func:`gbwm_sb3.observation.encode_observation`, one
    batched ``torch.no_grad`` forward pass per call. ``deterministic=True``
    takes the argmax of each factor of the final stochastic policy (as the
    paper does); ``deterministic=False`` samples it with the policy's own
    ``seed``-ed streams. For a ``MaskablePPO`` model the action masks forbid
    "take" where the goal is not affordable. For a market with regimes ``act`` needs
    ``regime=`` (each path's current regime), which the observation shows as a one-hot;
    for a problem with stochastic inflation ``inflation=`` (each path's current rate
    ``pi_t``; wealth real), which the observation shows standardised; with nominal amounts
    also ``price_level=`` (each path's ``P_t``), by which the observation deflates them.
    """

    def __init__(self, model: Any, problem: GBWMProblem, deterministic: bool = True,
                 seed: int | None = 0) -> None:
        policy = getattr(model, "policy", None)
        if policy is None or not callable(getattr(policy, "get_distribution", None)):
            raise ValueError(
                f"model must be an SB3 PPO or MaskablePPO model, got {type(model).__name__}"
            )
        if not isinstance(problem, GBWMProblem):
            raise ValueError(f"problem must be a GBWMProblem, got {type(problem).__name__}")
        table = problem_table(problem)
        k = int(table.num_decisions[0])
        nvec = getattr(model.action_space, "nvec", None)
        if nvec is None or list(np.asarray(nvec)) != [k, problem.num_portfolios]:
            raise ValueError(
                f"model.action_space must be MultiDiscrete([{k}, {problem.num_portfolios}]) "
                f"for this problem, got {model.action_space}"
            )
        self.model = model
        self.problem = problem
        self.deterministic = bool(deterministic)
        self._table = table
        self._general = not problem.in_paper_family
        self._decision_features = bool(getattr(policy, "decision_features", False))
        self._streams = _YearStreams(_check_seed(seed))
        try:
            from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
        except ImportError:  # pragma: no cover - sb3-contrib is a dependency
            self._maskable = False
        else:
            self._maskable = isinstance(policy, MaskableActorCriticPolicy)

    def reset(self) -> None:
        """Restart the sampling streams (only used when ``deterministic=False``)."""
        self._streams.reset()

    def _distribution(self, t: int, wealth: np.ndarray, regime: np.ndarray | None,
                      inflation: np.ndarray | None = None,
                      price_level: np.ndarray | None = None) -> Any:
        import torch as th

        obs = encode_observation(self._table, t, wealth, self._decision_features, regime,
                                 inflation, price_level)
        policy = self.model.policy
        with th.no_grad():
            obs_tensor = th.as_tensor(obs, device=policy.device)
            if self._maskable:
                k = int(self._table.num_decisions[0])
                masks = np.ones((wealth.shape[0], k + self.problem.num_portfolios), dtype=bool)
                masks[:, :k] = decision_affordable(self._table, t, wealth, price_level)
                masks[:, 0] = True
                return policy.get_distribution(obs_tensor, action_masks=masks)
            return policy.get_distribution(obs_tensor)

    def act(self, t: int, wealth: np.ndarray, regime: np.ndarray | None = None,
            inflation: np.ndarray | None = None, price_level: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
        wealth = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
        dist = self._distribution(t, wealth, regime, inflation, price_level)
        general = self._general
        if self.deterministic:
            actions = dist.get_actions(deterministic=True).cpu().numpy().reshape(-1, 2)
            take = actions[:, 0].astype(np.intp) if general else actions[:, 0] != 0
            return take, actions[:, 1].astype(np.intp)
        goal_probs, _ = _factor_probabilities(dist)
        drawn = _inverse_cdf(goal_probs, self._streams.uniform(t, _SB3_GOAL, wealth.size))
        take = drawn if general else drawn == 1
        return take, self._portfolios(dist, t, take)

    def goal_probabilities(self, t: int, wealth: np.ndarray, regime: np.ndarray | None = None,
                           inflation: np.ndarray | None = None,
                           price_level: np.ndarray | None = None) -> np.ndarray:
        """(N, K): the final stochastic policy's probability of each goal decision (all on
        decision 0 where the goal head has no effect). Arguments as for :meth:`act`."""
        wealth = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
        dist = self._distribution(t, wealth, regime, inflation, price_level)
        return _factor_probabilities(dist)[0]

    def portfolio_for_decision(self, t: int, wealth: np.ndarray, take: np.ndarray,
                               regime: np.ndarray | None = None,
                               inflation: np.ndarray | None = None,
                               price_level: np.ndarray | None = None) -> np.ndarray:
        """The portfolio this policy holds after the goal decisions ``take`` (made elsewhere).

        For a policy whose portfolio head depends on the goal decision
        (``portfolio_given_goal``) that is the portfolio for ``take``; otherwise the
        same portfolio as ``act``. ``regime``, ``inflation``, ``price_level``: as for
        :meth:`act`.
        """
        wealth = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
        dtype = np.intp if self._general else bool
        take = np.broadcast_to(np.asarray(take, dtype=dtype), wealth.shape)
        return self._portfolios(self._distribution(t, wealth, regime, inflation, price_level),
                                t, take)

    def _portfolios(self, dist: Any, t: int, take: np.ndarray) -> np.ndarray:
        import torch as th

        if hasattr(dist, "portfolio_probs"):  # GBWMActionDistribution
            # A fresh int64 array: ``take`` may be a read-only broadcast view.
            decision = th.from_numpy(np.array(take, dtype=np.int64)).to(dist.goal.logits.device)
            probs = dist.portfolio_probs(decision).cpu().numpy().astype(np.float64)
        else:
            probs = _factor_probabilities(dist)[1]
        if self.deterministic:
            return probs.argmax(axis=1).astype(np.intp)
        return _inverse_cdf(probs, self._streams.uniform(t, _SB3_PORTFOLIO, probs.shape[0]))


def _factor_probabilities(dist: Any) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of the goal and portfolio factors of an SB3 MultiDiscrete distribution."""
    if hasattr(dist, "goal") and hasattr(dist, "portfolio"):  # GBWMActionDistribution
        goal = dist.goal.probs.cpu().numpy().astype(np.float64)
        active = dist.goal_active.cpu().numpy()
        skip_only = np.zeros(goal.shape[1])
        skip_only[0] = 1.0
        goal = np.where(active[:, None], goal, skip_only)
        return goal, dist.portfolio_probs().cpu().numpy().astype(np.float64)
    factors = getattr(dist, "distribution", None)
    if factors is None:
        factors = getattr(dist, "distributions", None)
    if factors is None or len(factors) != 2:
        raise ValueError(f"cannot sample from distribution {type(dist).__name__}")
    return (factors[0].probs.cpu().numpy().astype(np.float64),
            factors[1].probs.cpu().numpy().astype(np.float64))


def _inverse_cdf(probs: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Categorical samples (one per row of ``probs``) from uniforms."""
    cdf = np.cumsum(probs, axis=1)
    cdf /= cdf[:, -1:]
    return np.minimum((uniforms[:, None] >= cdf).sum(axis=1), probs.shape[1] - 1).astype(np.intp)


def _portfolios_after_goals(source: Any, t: int, wealth: np.ndarray, take: np.ndarray,
                            regime: np.ndarray | None = None,
                            inflation: np.ndarray | None = None,
                            price_level: np.ndarray | None = None) -> np.ndarray:
    """``source``'s portfolios, given the goal decisions ``take`` already made.

    A source with ``portfolio_given(t, post_goal_wealth)`` (``DPSolution``)
    chooses for the wealth actually left after the goal decision; a source with
    ``portfolio_for_decision(t, wealth, take)`` (``SB3Policy``) is told the decision;
    any other source is asked ``act`` at the pre-goal wealth and its portfolio is used.
    Each is told the market ``regime``, the ``inflation`` rate and the ``price_level``
    where it takes them (a parameter of that name).
    """
    given = getattr(source, "portfolio_given", None)
    problem = getattr(source, "problem", None)
    if callable(given) and isinstance(problem, GBWMProblem) and t < problem.horizon:
        post = apply_decisions(problem_table(problem), 0, t, wealth, take,
                               price_level=price_level)[0]
        # a withdrawal larger than the cash: bankrupt, nothing left to invest
        post = np.maximum(post, 0.0)
        return np.asarray(given(t, post, **_inputs_for(given, regime, inflation, price_level)),
                          dtype=np.intp)
    decided = getattr(source, "portfolio_for_decision", None)
    if callable(decided):
        return np.asarray(decided(t, wealth, take,
                                  **_inputs_for(decided, regime, inflation, price_level)),
                          dtype=np.intp)
    _, portfolio = call_policy(source, t, wealth, regime, inflation=inflation,
                               price_level=price_level)
    return np.asarray(portfolio, dtype=np.intp)


def _inputs_for(method: Any, regime: np.ndarray | None, inflation: np.ndarray | None,
                price_level: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The keyword arguments ``regime`` / ``inflation`` / ``price_level`` that are given
    and ``method`` takes."""
    if regime is None and inflation is None and price_level is None:
        return {}
    taken = accepted_inputs(method)
    given = {"regime": regime, "inflation": inflation, "price_level": price_level}
    return {name: value for name, value in given.items()
            if value is not None and name in taken}


def _check_problem(problem: Any) -> GBWMProblem | None:
    if problem is not None and not isinstance(problem, GBWMProblem):
        raise ValueError(f"problem must be a GBWMProblem or None, got {type(problem).__name__}")
    return problem


def _problem_of(source: Any) -> GBWMProblem | None:
    problem = getattr(source, "problem", None)
    return problem if isinstance(problem, GBWMProblem) else None


class GreedyGoals:
    """Take every goal as soon as it is affordable; portfolios from ``portfolios_from``.

    For a problem of the general class (``problem=``, else ``portfolios_from.problem``)
    the affordable decision with the most utility is taken (ties: the cheaper).
    """

    def __init__(self, portfolios_from: GBWMPolicyLike,
                 problem: GBWMProblem | None = None) -> None:
        self.portfolios_from = _check_policy(portfolios_from, "portfolios_from")
        self.problem = _check_problem(problem) or _problem_of(portfolios_from)

    def reset(self) -> None:
        reset_policy(self.portfolios_from)

    def act(self, t: int, wealth: np.ndarray, regime: np.ndarray | None = None,
            inflation: np.ndarray | None = None, price_level: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
        wealth = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
        if _is_general(self.problem):
            take = best_affordable_decision(problem_table(self.problem), 0, t, wealth,
                                            price_level)
        else:  # a take where nothing is affordable is a no-op in the dynamics
            take = np.ones(wealth.shape, dtype=bool)
        portfolio = _portfolios_after_goals(self.portfolios_from, t, wealth, take, regime,
                                            inflation, price_level)
        return take, portfolio


def _coin_flip_decisions(streams: _YearStreams, problem: GBWMProblem | None,
                         take_probability: float, t: int, wealth: np.ndarray,
                         price_level: np.ndarray | None = None) -> np.ndarray:
    """A coin flip per path: take (True) or not; for the general class, the decision index
    drawn uniformly among the affordable ones where the coin says take (else 0)."""
    take = streams.uniform(t, _COIN, wealth.size) < take_probability
    if _is_general(problem):
        take = _random_affordable(problem, t, wealth, take,
                                  streams.uniform(t, _CHOICE, wealth.size), price_level)
    return take


class BuyAndHold:
    """Hold one portfolio throughout (0-based index; default 7 = the paper's #8).

    Goals are taken by a coin flip with ``take_probability`` whenever affordable; for a
    problem of the general class (``problem=``) a coin flip decides whether to take
    something, and then one of the affordable decisions is drawn uniformly.
    """

    def __init__(self, portfolio: int = 7, take_probability: float = 0.5,
                 seed: int | None = 0, problem: GBWMProblem | None = None) -> None:
        if isinstance(portfolio, bool) or not isinstance(portfolio, (int, np.integer)) \
                or portfolio < 0:
            raise ValueError(f"portfolio must be a non-negative integer index, got {portfolio!r}")
        self.portfolio = int(portfolio)
        self.take_probability = _check_probability(take_probability, "take_probability")
        self._streams = _YearStreams(_check_seed(seed))
        self.problem = _check_problem(problem)

    def reset(self) -> None:
        self._streams.reset()

    def act(self, t: int, wealth: np.ndarray, price_level: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
        wealth = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
        take = _coin_flip_decisions(self._streams, self.problem, self.take_probability, t, wealth,
                                    price_level)
        return take, np.full(wealth.shape, self.portfolio, dtype=np.intp)


class RandomPolicy:
    """A uniformly random portfolio each year and coin-flip goal taking.

    Given a problem of the general class (as ``num_portfolios``), a coin flip decides
    whether to take something and one of the affordable decisions is drawn uniformly.
    """

    def __init__(self, num_portfolios: int | GBWMProblem = 15, take_probability: float = 0.5,
                 seed: int | None = 0) -> None:
        self.problem = None
        if isinstance(num_portfolios, GBWMProblem):
            self.problem = num_portfolios
            num_portfolios = num_portfolios.num_portfolios
        if isinstance(num_portfolios, bool) or not isinstance(num_portfolios, (int, np.integer)) \
                or num_portfolios < 1:
            raise ValueError(f"num_portfolios must be an integer >= 1, got {num_portfolios!r}")
        self.num_portfolios = int(num_portfolios)
        self.take_probability = _check_probability(take_probability, "take_probability")
        self._streams = _YearStreams(_check_seed(seed))

    def reset(self) -> None:
        self._streams.reset()

    def act(self, t: int, wealth: np.ndarray, price_level: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
        wealth = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
        take = _coin_flip_decisions(self._streams, self.problem, self.take_probability, t, wealth,
                                    price_level)
        u = self._streams.uniform(t, _PORTFOLIO, wealth.size)
        portfolio = np.minimum((u * self.num_portfolios).astype(np.intp), self.num_portfolios - 1)
        return take, portfolio


class Hybrid:
    """Goal decisions from ``goals_from``, portfolio choices from ``portfolios_from``.

    A ``DPSolution`` as the portfolio source picks the best portfolio for the
    wealth left after ``goals_from``'s decision (``portfolio_given``); an
    ``SB3Policy`` gives the portfolio it holds after that decision (the same as its
    own unless its portfolio head depends on the goal decision); any other source
    is asked ``act`` at the same pre-goal wealth.
    """

    def __init__(self, goals_from: GBWMPolicyLike, portfolios_from: GBWMPolicyLike) -> None:
        self.goals_from = _check_policy(goals_from, "goals_from")
        self.portfolios_from = _check_policy(portfolios_from, "portfolios_from")

    def reset(self) -> None:
        reset_policy(self.goals_from)
        reset_policy(self.portfolios_from)

    def act(self, t: int, wealth: np.ndarray, regime: np.ndarray | None = None,
            inflation: np.ndarray | None = None, price_level: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
        wealth = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
        take, _ = call_policy(self.goals_from, t, wealth, regime, inflation=inflation,
                              price_level=price_level)
        take = np.asarray(take)
        general = (_is_general(_problem_of(self.goals_from))
                   or _is_general(_problem_of(self.portfolios_from)))
        if not general:  # the paper's family: a take flag
            take = take.astype(bool)
        portfolio = _portfolios_after_goals(self.portfolios_from, t, wealth, take, regime,
                                            inflation, price_level)
        return take, portfolio
