"""``LookaheadPolicy``: the pretrained network's decisions, improved by its own critic.

The goal head's distribution over a year's decisions can be flat when there are many
of them (36 combinations of four goals with levels, say): the good decisions share the
probability mass, and the single most likely decision is not always a good one. This
policy makes one step of policy improvement with the network's value network ``V``
instead of taking that argmax: for each of the ``candidates`` most likely decisions
``d`` (with the most likely portfolio given ``d``) it estimates

    Q(d) = E[ r(d) / scale + V(t + 1, W') ],   W' = (cash - cost(d)) exp(m_p + s_p Z)

by Gauss-Hermite quadrature over ``Z`` (``nodes`` points; at ``t + 1 = T`` the automatic
final choice's utility is added and ``V`` is not needed) and takes the best. ``V``
estimates the return of the pretrained (stochastic) policy in units of the training
reward, each problem's total utility, so ``scale`` is the problem's total utility: by
the policy improvement theorem the greedy choice on ``Q`` is at least as good as the
network's own policy, up to the critic's errors. Years with a single affordable
decision need no lookahead and use the fast greedy path; the candidates and ``V`` come
from the same fast path (:meth:`~gbwm_sb3.pretrained.fast.GreedyScorer.candidates`,
:meth:`~gbwm_sb3.pretrained.fast.GreedyScorer.values`: the generic path's results, without
the full observations), once per distinct wealth and next wealth. The portfolio is the network's
(a lookahead over portfolios leans on the critic's wealth gradient, which is not
accurate enough: it lost efficiency in a trial on the validation problems).
"""

from __future__ import annotations

import numpy as np
import torch as th

from gbwm_sb3.envs.dynamics import decision_mask, step_years
from gbwm_sb3.pretrained.advisor import PretrainedPolicy
from gbwm_sb3.pretrained.policy import UniversalGBWMPolicy
from gbwm_sb3.problem.model import GBWMProblem

__all__ = ["LookaheadPolicy", "DEFAULT_CANDIDATES", "DEFAULT_NODES", "greedy_or_lookahead"]

#: Decisions compared by the critic, the most likely first.
DEFAULT_CANDIDATES = 8
#: Gauss-Hermite points of the one-year market return.
DEFAULT_NODES = 7
#: Wealths per pass of the lookahead (the generic path: of full observations).
_CHUNK = 4096
_GENERIC_CHUNK = 1024


class LookaheadPolicy(PretrainedPolicy):
    """A :class:`PretrainedPolicy` choosing among its likeliest decisions by its critic.

    ``candidates`` (1-64): decisions compared a year (1 is the plain greedy policy);
    ``nodes`` (1-32): quadrature points of the market return; ``portfolio_shift``: as for
    :class:`PretrainedPolicy` (each candidate's portfolio is shifted before its ``Q`` is
    estimated, so ``Q`` is that of the portfolio held). Deterministic: the same inputs
    give the same actions.
    """

    #: The lookahead costs about 60 times a per-problem model's action: longer gaps.
    _max_stride = 128

    def __init__(self, network: UniversalGBWMPolicy, problem: GBWMProblem,
                 candidates: int = DEFAULT_CANDIDATES, nodes: int = DEFAULT_NODES, *,
                 exact: bool = False, portfolio_shift: int = 0) -> None:
        super().__init__(network, problem, deterministic=True, exact=exact,
                         portfolio_shift=portfolio_shift)
        for name, value, high in (("candidates", candidates, 64), ("nodes", nodes, 32)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or not 1 <= value <= high:
                raise ValueError(f"{name} must be an integer in 1..{high}, got {value!r}")
        self.candidates, self.nodes = int(candidates), int(nodes)
        z, w = np.polynomial.hermite_e.hermegauss(self.nodes)
        self._z, self._w = z, w / w.sum()
        self._table = self._encoder.table
        self._scale = float(problem.total_utility)
        self._fast = True  # False: the generic path on full observations (for tests)

    def _exact_actions(self, t: int, wealth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The lookahead's ``(decision, portfolio)`` computed at every wealth (the network's
        greedy action where a single decision is affordable)."""
        if self.candidates == 1:
            return self._greedy_actions(t, wealth)
        choice = self._affordable_count(t, wealth) > 1
        decision = np.zeros(wealth.shape[0], dtype=np.intp)
        portfolio = np.zeros(wealth.shape[0], dtype=np.intp)
        single, several = np.flatnonzero(~choice), np.flatnonzero(choice)
        if single.size:
            decision[single], portfolio[single] = self._greedy_actions(t, wealth[single])
        if several.size:  # each distinct wealth once (every path at year 0: one)
            unique, inverse = np.unique(wealth[several], return_inverse=True)
            best = self._chunked_lookahead(t, unique)
            decision[several], portfolio[several] = best[0][inverse], best[1][inverse]
        return decision, portfolio

    def _advised_decision(self, t: int, wealth: float, goal: th.Tensor) -> int:
        single = np.array([wealth])
        if self.candidates > 1 and self._affordable_count(t, single)[0] > 1:
            return int(self._lookahead(t, single)[0][0])
        return int(goal[0].argmax())

    def _affordable_count(self, t: int, wealth: np.ndarray) -> np.ndarray:
        return decision_mask(self._table, 0, t, wealth).sum(axis=1)

    def decision_values(self, t: int, wealth: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(candidates, portfolios, Q)`` per wealth, shape (n, k) each (Q -inf: not one)."""
        wealth = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
        if self._fast:
            candidates, portfolios, probabilities = self.scorer().candidates(
                int(t), wealth, self.candidates)
        else:
            candidates, portfolios, probabilities = self._generic_candidates(int(t), wealth)
        portfolios = self.shifted(portfolios)  # held, so the Q values use them
        real = probabilities > 0  # fewer decisions than candidates: padding
        q = np.full(real.shape, -np.inf)
        rows, columns = np.nonzero(real)
        q[rows, columns] = self._q_values(int(t), wealth[rows], candidates[rows, columns],
                                          portfolios[rows, columns])
        return candidates, portfolios, q

    def _chunked_lookahead(self, t: int, wealth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        size = _CHUNK if self._fast else _GENERIC_CHUNK
        parts = [self._lookahead(t, wealth[start:start + size])
                 for start in range(0, wealth.shape[0], size)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _lookahead(self, t: int, wealth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        candidates, portfolios, q = self.decision_values(t, wealth)
        best = q.argmax(axis=1)  # ties: the likelier decision
        rows = np.arange(wealth.shape[0])
        return candidates[rows, best], portfolios[rows, best]

    def _q_values(self, t: int, wealth: np.ndarray, decisions: np.ndarray,
                  portfolios: np.ndarray) -> np.ndarray:
        """Q of each (wealth, decision, portfolio), shape (n,): quadrature over the return.

        ``V`` is evaluated once per distinct next wealth.
        """
        m = self.nodes
        flat = wealth.shape[0] * m
        rows = np.zeros(flat, dtype=np.intp)
        years = np.full(flat, t)
        next_wealth, reward, _, _ = step_years(
            self._table, rows, years, np.repeat(wealth, m), np.repeat(decisions, m),
            np.repeat(portfolios, m), np.tile(self._z, wealth.shape[0]))
        value = reward / self._scale
        if t + 1 < self.problem.horizon:
            value = value + self._values(t + 1, next_wealth)
        return (value.reshape(-1, m) * self._w).sum(axis=1)

    def _values(self, t: int, wealth: np.ndarray) -> np.ndarray:
        """The critic's ``V`` at year ``t`` for each wealth (once per distinct wealth)."""
        unique, inverse = np.unique(wealth, return_inverse=True)
        if self._fast:
            return self.scorer().values(t, unique)[inverse]
        obs = th.as_tensor(self.observe(t, unique), device=self.network.device)
        with th.no_grad():
            return self.network.predict_values(obs)[:, 0].double().cpu().numpy()[inverse]

    # ----- the generic path (on the full observations), for reference -----
    def _generic_candidates(self, t: int, wealth: np.ndarray
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``GreedyScorer.candidates`` computed by the network on full observations."""
        network = self.network
        obs = th.as_tensor(self.observe(t, wealth), device=network.device)
        with th.no_grad():
            top_probabilities, decisions, portfolios = network.top_decisions(obs,
                                                                             self.candidates)
        probabilities = top_probabilities.cpu().double().numpy()
        candidates = np.where(probabilities > 0, decisions.cpu().numpy(), 0).astype(np.intp)
        return candidates, portfolios.cpu().numpy().astype(np.intp), probabilities


def greedy_or_lookahead(network: UniversalGBWMPolicy, problem: GBWMProblem, candidates: int,
                        *, exact: bool = False, portfolio_shift: int = 0) -> PretrainedPolicy:
    """``network``'s deterministic policy for ``problem``: its own decisions where
    ``candidates`` is 1, else a :class:`LookaheadPolicy` comparing that many."""
    if candidates > 1:
        return LookaheadPolicy(network, problem, candidates=candidates, exact=exact,
                               portfolio_shift=portfolio_shift)
    return PretrainedPolicy(network, problem, exact=exact, portfolio_shift=portfolio_shift)
