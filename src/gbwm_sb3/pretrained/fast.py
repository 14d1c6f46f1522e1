"""Greedy actions of the universal network for one problem, without the full universal observation.

:class:`GreedyScorer` returns what ``network._predict(obs, deterministic=True)`` returns on
the universal observations of one problem (:class:`~gbwm_sb3.pretrained.advisor.
PretrainedPolicy` scores paths with it). For one problem and one year, everything but the
client's cash is fixed: the portfolio block, the frontier summary, the decisions of the
year, their utilities and the upcoming goal years. Those are encoded and read once per
year; for each wealth only the features that depend on it are computed, by the encoder's
float64 formulas rounded to float32 as the observation is. The network's own layers then
run on the same float32 inputs, in the same order of operations, but only over the
portfolios the problem has, the decisions that exist and the upcoming goal years there
are (the padding adds nothing to any result). :meth:`GreedyScorer.candidates` and
:meth:`GreedyScorer.values` do the same for the likeliest decisions (with the greedy
portfolio given each) and for the value network, which the lookahead policy reads.

The results are the generic path's to the last bit wherever the generic path's own are
independent of how its batch is split: a BLAS may sum the rows of a matrix product
differently when there are fewer than 4 of them or in the last ``rows % 4`` rows (MKL
does, for a one-column product), so every product here gets a multiple of 4 rows (the
generic path's goal head may differ from it in its last 1-3 decisions, by about 1e-6).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch as th
from torch import nn

from gbwm_sb3.envs.observation import LOG_CLIP, WEALTH_FLOOR
from gbwm_sb3.envs.universal_observation import (
    COST_RATIO_CAP,
    DECISION_BLOCK,
    DECISION_FEATURES,
    HORIZON_SCALE,
    UPCOMING_BLOCK,
    UPCOMING_FEATURES,
    UPCOMING_GOAL_YEARS,
    UniversalObservation,
    cash_trajectory_feature,
    clipped_log_cost_to_cash,
    varying_cash_columns,
)
from gbwm_sb3.pretrained.policy import (
    DEC_COL,
    ENTRY_COLUMNS,
    MASKED_LOGIT,
    TRAJ_COL,
    Z_CLIP,
    UniversalGBWMPolicy,
    decision_margins,
    decision_reach,
    next_goal_share,
    normal_cdf,
    weighted_reach,
)

__all__ = ["GreedyScorer"]

#: Rows per pass of the features, the embedding and the reach probabilities (a multiple of 4).
ROWS = 4096
#: Rows per pass of the per-portfolio hidden layer (a multiple of 4; in cache).
BLOCK = 1024


@dataclass(frozen=True, eq=False)
class _Reach:
    """A reach target's constants for one year: ``z = (L + shift) / scale`` per portfolio."""

    shift: th.Tensor  # (P,) drift x tau
    scale: th.Tensor  # (P,) volatility x sqrt(tau)
    none: bool  # no target: z = Z_CLIP


@dataclass(frozen=True, eq=False)
class _Pairs:
    """The (row, decision) pairs whose decision inputs are computed for a chunk of rows.

    First the pairs the goal head scores (rows with several available decisions; their
    count ``scored``, repeated up to ``padded``, a multiple of 4), then ``(row, 0)`` for
    every row with only decision 0 available. ``position[row, k]`` is the index of pair
    ``(row, k)``; ``None`` when pair ``i`` is ``(i, 0)`` for every row.
    """

    rows: np.ndarray
    columns: np.ndarray
    scored: int
    padded: int
    several: np.ndarray  # (n,) bool
    position: np.ndarray | None
    shape: tuple[int, int]  # (n, K)

    @property
    def identity(self) -> bool:
        return self.position is None


#: Decision inputs (m, 9), then (z (m, P), probability (m, P), best probability (m,)) of
#: reaching the next goal and of reaching all goals.
_Context = tuple[th.Tensor, tuple[th.Tensor, ...], tuple[th.Tensor, ...]]


@dataclass(frozen=True, eq=False)
class _Year:
    """What year ``t`` of the problem fixes, computed once."""

    quantities: dict[str, float | np.ndarray]  # float64, see UniversalObservation
    trajectory: np.ndarray  # (16,) float32; the cash columns are overwritten per wealth
    cash_columns: tuple[int, ...]
    summary: th.Tensor  # (1, 6)
    upcoming: np.ndarray  # (U, F) float32 for the upcoming goal years that exist
    costs: np.ndarray  # (K,) float64 cost of each decision of the year
    decision_constants: th.Tensor  # (K, 2) utility share, cost / PVC
    margins: th.Tensor | None  # (K, 3) the goal head's margin inputs (decision_margins)
    next_goal: _Reach
    all_goals: _Reach
    entry: _Reach  # the next goal year's cheapest and best-value decisions
    share: th.Tensor  # (1, 1) the next goal year's share of the later utility


class GreedyScorer:
    """Greedy ``(decision, portfolio)`` of ``network`` for the problem of ``encoder`` (row 0),
    its likeliest decisions and its values.

    Holds per-year constants and work buffers: build a new one when the network's weights
    change (:func:`parameter_fingerprint` tells).
    """

    def __init__(self, network: UniversalGBWMPolicy, encoder: UniversalObservation) -> None:
        if not isinstance(network.portfolio_scorer[1], nn.ReLU):
            raise ValueError("the portfolio scorer's hidden activation must be a ReLU")
        self.network = network
        self.encoder = encoder
        self.device = network.device
        self.portfolios = int(encoder.table.num_portfolios[0])
        self.fingerprint = parameter_fingerprint(network)
        self._years: dict[int, _Year] = {}
        self._features: th.Tensor | None = None  # (ROWS, P, inputs) portfolio scorer inputs
        self._hidden: th.Tensor | None = None  # (BLOCK * P, head)
        self._scores: th.Tensor | None = None  # (BLOCK * P, 1)

    # ----- per year -----
    def year(self, t: int) -> _Year:
        """The constants of year ``t`` (cached)."""
        if t not in self._years:
            with th.no_grad():
                self._years[t] = self._build_year(t)
        return self._years[t]

    def _build_year(self, t: int) -> _Year:
        q = self.encoder.year_quantities(0, t)
        raw = self.encoder.encode(np.zeros(1, dtype=np.intp), np.array([t]),
                                  np.array([q["initial_wealth"]]))
        parts = self.network.observation_parts(th.as_tensor(raw, device=self.device))
        frontier = parts["frontier"]
        p = self.portfolios
        if self._features is None:
            self._allocate(th.stack([10 * frontier.mean, 10 * frontier.vol,
                                     10 * frontier.drift, frontier.position], dim=2)[0, :p])
        decisions = raw[0, DECISION_BLOCK].reshape(-1, len(DECISION_FEATURES))
        k = int(self.encoder.table.decisions_per_year[0, t])
        traj = parts["trajectory"]
        next_years = traj[:, TRAJ_COL["years_to_next_goal"]] * HORIZON_SCALE
        all_years = th.where(next_years > 0,
                             (traj[:, TRAJ_COL["cost_weighted_years_to_goals"]] * HORIZON_SCALE)
                             .clamp_min(1.0), th.zeros_like(next_years))
        upcoming = raw[0, UPCOMING_BLOCK].reshape(UPCOMING_GOAL_YEARS, len(UPCOMING_FEATURES))
        entry_years = parts["upcoming"][:, 0, UPCOMING_FEATURES.index("years_ahead")] \
            * HORIZON_SCALE
        constants = th.as_tensor(decisions[:k, [DEC_COL["utility_to_remaining_utility"],
                                                DEC_COL["cost_to_discounted_cost"]]],
                                 device=self.device)
        margins = None
        if self.network.decision_margins:  # fixed for the year: they do not read the cash
            margins = decision_margins(constants[None, :, 0], constants[None, :, 1],
                                       th.ones((1, k), dtype=th.bool, device=self.device))[0]
        return _Year(
            quantities=q, trajectory=raw[0, : traj.shape[1]].copy(),
            cash_columns=varying_cash_columns(q), summary=parts["summary"],
            upcoming=upcoming[: len(_ahead(q, "ahead"))].copy(),
            costs=self.encoder.table.decision_cost[0, t, :k].copy(),
            decision_constants=constants, margins=margins,
            next_goal=_reach_constants(frontier.drift[0, :p], frontier.vol[0, :p], next_years),
            all_goals=_reach_constants((frontier.drift - frontier.rate)[0, :p],
                                       frontier.vol[0, :p], all_years),
            entry=_reach_constants(frontier.drift[0, :p], frontier.vol[0, :p], entry_years),
            share=next_goal_share(traj, parts["upcoming"]))

    def _allocate(self, static: th.Tensor) -> None:
        """Work buffers; the portfolio scorer's 4 fixed inputs are written once."""
        p, head = self.portfolios, cast(nn.Linear, self.network.portfolio_scorer[0]).out_features
        self._features = th.empty((ROWS, p, self.network.portfolio_inputs), device=self.device)
        self._features[..., :4] = static
        self._hidden = th.empty((BLOCK * p, head), device=self.device)
        self._scores = th.empty((BLOCK * p, 1), device=self.device)

    # ----- per wealth -----
    def actions(self, t: int, wealth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Greedy ``(decision, portfolio)`` indices for each wealth at year ``t`` (< T)."""
        wealth = np.asarray(wealth, dtype=np.float64)
        n = wealth.shape[0]
        if n > 1 and wealth.min() == wealth.max():  # e.g. every path at year 0: one row
            decision, portfolio = self.actions(t, wealth[:1])
            return np.repeat(decision, n), np.repeat(portfolio, n)
        decision = np.empty(n, dtype=np.intp)
        portfolio = np.empty(n, dtype=np.intp)
        year = self.year(t)
        with th.no_grad():
            for start in range(0, n, ROWS):
                stop = min(start + ROWS, n)
                _, port_logits, chosen = self._logits(year, wealth[start:stop])
                decision[start:stop] = chosen
                portfolio[start:stop] = port_logits.argmax(dim=1).cpu().numpy()
        return decision, portfolio

    def logits(self, t: int, wealth: np.ndarray) -> tuple[th.Tensor, th.Tensor, np.ndarray]:
        """``(decision logits (n, K), portfolio logits (n, P), greedy decision (n,))``.

        As the generic path computes them for the decisions of year ``t`` and the
        problem's portfolios; the portfolio logits are those given the greedy decision.
        Decisions that are not available get ``MASKED_LOGIT`` (a year with one available
        decision: logit 0).
        """
        wealth = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
        year = self.year(t)
        with th.no_grad():
            chunks = [self._logits(year, wealth[start:start + ROWS])
                      for start in range(0, wealth.shape[0], ROWS)]
        return (th.cat([c[0] for c in chunks]), th.cat([c[1] for c in chunks]),
                np.concatenate([c[2] for c in chunks]))

    def _logits(self, year: _Year, wealth: np.ndarray) -> tuple[th.Tensor, th.Tensor, np.ndarray]:
        n = wealth.shape[0]
        goal, portfolio, decision = self._padded_logits(year, _pad_rows(wealth))
        return goal[:n], portfolio[:n], decision[:n]

    def _padded_logits(self, year: _Year, wealth: np.ndarray
                       ) -> tuple[th.Tensor, th.Tensor, np.ndarray]:
        embedding, pairs, context, goal, upcoming = self._goal_head(year, wealth)
        decision = goal.argmax(dim=1).cpu().numpy().astype(np.intp)
        portfolio = self._portfolio_logits(year, embedding, context,
                                           self._chosen(pairs, decision), upcoming)
        return goal, portfolio, decision

    def _goal_head(self, year: _Year, wealth: np.ndarray
                   ) -> tuple[th.Tensor, _Pairs, _Context, th.Tensor, th.Tensor]:
        """Embedding, decision pairs, their context, the (n, K) decision logits and the
        upcoming goal-year features."""
        cash = self.cash(year, wealth)
        trajectory = self.trajectory_features(year, cash)
        upcoming = self.upcoming_features(year, cash)
        embedding = self._embedding(year, trajectory, upcoming)
        pairs = _pairs(year.costs, cash)
        traj11 = trajectory[:, TRAJ_COL["log_cash_to_next_cost"]]
        if not pairs.identity:
            traj11 = traj11[th.as_tensor(pairs.rows, device=self.device)]
        context = self._context(year, traj11,
                                self.decision_features(year, cash[pairs.rows], pairs.columns))
        return (embedding, pairs, context,
                self._goal_logits(year, pairs, context[0], embedding, upcoming), upcoming)

    def _chosen(self, pairs: _Pairs, decision: np.ndarray) -> th.Tensor | None:
        """The pair of each row's ``decision`` (n,); None: pair i is row i's (decision 0)."""
        if pairs.position is None:  # pairs.identity
            return None
        position = pairs.position[np.arange(decision.shape[0]), decision]
        return th.as_tensor(position, device=self.device)

    # ----- the lookahead: candidate decisions and the value network -----
    def candidates(self, t: int, wealth: np.ndarray, k: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``k`` likeliest decisions at year ``t``, as ``th.topk`` orders the generic
        path's probabilities: ``(decisions, portfolios, probabilities)``, shape (n, k) each.

        ``portfolios`` are the greedy portfolios given each decision. A probability 0
        flags a decision that is not available (decision 0 beyond the year's decisions;
        the portfolio of an unavailable decision is the one given decision 0).
        """
        wealth = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
        n = wealth.shape[0]
        decisions = np.zeros((n, k), dtype=np.intp)
        portfolios = np.zeros((n, k), dtype=np.intp)
        probabilities = np.zeros((n, k), dtype=np.float32)
        year = self.year(t)
        with th.no_grad():
            for start in range(0, n, ROWS):
                stop = min(start + ROWS, n)
                d, p, q = self._candidates(year, _pad_rows(wealth[start:stop]), k)
                decisions[start:stop] = d[: stop - start]
                portfolios[start:stop] = p[: stop - start]
                probabilities[start:stop] = q[: stop - start]
        return decisions, portfolios, probabilities

    def _candidates(self, year: _Year, wealth: np.ndarray, k: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        embedding, pairs, context, goal, upcoming = self._goal_head(year, wealth)
        top = th.softmax(goal, dim=1).topk(min(k, goal.shape[1]), dim=1)
        probabilities = np.zeros((wealth.shape[0], k), dtype=np.float32)
        probabilities[:, : top.values.shape[1]] = top.values.cpu().numpy()
        decisions = np.zeros((wealth.shape[0], k), dtype=np.intp)
        decisions[:, : top.values.shape[1]] = top.indices.cpu().numpy()
        decisions[probabilities <= 0] = 0
        portfolios = np.empty_like(decisions)
        done: dict[bytes, np.ndarray] = {}
        for j in range(decisions.shape[1]):
            key = decisions[:, j].tobytes()
            if key not in done:  # e.g. every row's candidate is decision 0
                logits = self._portfolio_logits(year, embedding, context,
                                                self._chosen(pairs, decisions[:, j]), upcoming)
                done[key] = logits.argmax(dim=1).cpu().numpy()
            portfolios[:, j] = done[key]
        return decisions, portfolios, probabilities

    def values(self, t: int, wealth: np.ndarray) -> np.ndarray:
        """The value network's estimate (float64, shape (n,)) for each wealth at year ``t``."""
        wealth = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
        n = wealth.shape[0]
        out = np.empty(n)
        year = self.year(t)
        with th.no_grad():
            for start in range(0, n, ROWS):
                stop = min(start + ROWS, n)
                values = self._values(year, _pad_rows(wealth[start:stop]))
                out[start:stop] = values[: stop - start].double().cpu().numpy()
        return out

    def _values(self, year: _Year, wealth: np.ndarray) -> th.Tensor:
        """(n,) values: the value net reads the reach features of decision 0 (skip)."""
        net = self.network
        cash = self.cash(year, wealth)
        trajectory = self.trajectory_features(year, cash)
        skip = self.decision_features(year, cash, np.zeros(cash.shape[0], dtype=np.intp))
        inputs = self._context(year, trajectory[:, TRAJ_COL["log_cash_to_next_cost"]], skip)[0]
        pooled = self._pool(net.value_upcoming_net, self.upcoming_features(year, cash))
        features = th.cat([trajectory, year.summary.expand(cash.shape[0], -1), inputs[:, 6:9],
                           pooled], dim=1)
        return _forward(net.value_net, features).squeeze(1)

    @staticmethod
    def cash(year: _Year, wealth: np.ndarray) -> np.ndarray:
        """Cash at hand, floored as the encoder floors it (float64)."""
        q = year.quantities
        return np.maximum(wealth + q["infusion"], WEALTH_FLOOR * q["initial_wealth"])

    def trajectory_features(self, year: _Year, cash: np.ndarray) -> th.Tensor:
        """(n, 16) float32 trajectory features, as the encoder writes them."""
        out = np.empty((cash.shape[0], year.trajectory.shape[0]), dtype=np.float32)
        out[:] = year.trajectory
        for column in year.cash_columns:
            out[:, column] = cash_trajectory_feature(column, cash, year.quantities)
        return th.as_tensor(out, device=self.device)

    def upcoming_features(self, year: _Year, cash: np.ndarray) -> th.Tensor:
        """(n, U, len(UPCOMING_FEATURES)) float32 features of the upcoming goal years that exist."""
        q = year.quantities
        out = np.empty((cash.shape[0], *year.upcoming.shape), dtype=np.float32)
        out[:] = year.upcoming
        if year.upcoming.shape[0]:
            log_ratio = np.log(_ahead(q, "ahead_cost")[None, :] / cash[:, None])
            out[..., 2] = np.clip(log_ratio, -LOG_CLIP, LOG_CLIP)
            growth = log_ratio - q["best_drift"] * _ahead(q, "ahead")[None, :]
            out[..., 4] = np.clip(growth, -LOG_CLIP, LOG_CLIP)
            columns = cash[:, None]
            out[..., 5] = clipped_log_cost_to_cash(_ahead(q, "ahead_entry_cost")[None, :], columns)
            out[..., 7] = clipped_log_cost_to_cash(_ahead(q, "ahead_efficient_cost")[None, :],
                                                   columns)
        return th.as_tensor(out, device=self.device)

    def decision_features(self, year: _Year, cash: np.ndarray, decision: np.ndarray
                          ) -> th.Tensor:
        """(m, 5) float32: affordable, cost / cash, utility share, cost / PVC, funding after."""
        q = year.quantities
        cost = year.costs[decision]
        affordable = cost <= cash
        later = q["pv_cost_after"]
        if later > 0:
            with np.errstate(divide="ignore", invalid="ignore"):
                funding = np.clip(np.log((cash - cost + q["pv_infusions"]) / later),
                                  -LOG_CLIP, LOG_CLIP)
        else:
            funding = np.full(cash.shape, LOG_CLIP)
        own = np.empty((cash.shape[0], 3), dtype=np.float32)
        own[:, 0] = affordable
        own[:, 1] = np.minimum(cost / cash, COST_RATIO_CAP)
        own[:, 2] = np.where(affordable, funding, -LOG_CLIP)
        own_t = th.as_tensor(own, device=self.device)
        constants = year.decision_constants[th.as_tensor(decision, device=self.device)]
        return th.cat([own_t[:, :2], constants, own_t[:, 2:]], dim=1)

    # ----- the network's layers -----
    def _embedding(self, year: _Year, trajectory: th.Tensor, upcoming: th.Tensor) -> th.Tensor:
        n = trajectory.shape[0]
        pooled = self._pool(self.network.upcoming_net, upcoming)
        return _forward(self.network.trajectory_net,
                        th.cat([trajectory, year.summary.expand(n, -1), pooled], dim=1))

    @staticmethod
    def _pool(layers: nn.Sequential, upcoming: th.Tensor) -> th.Tensor:
        """(n, 2 width): mean and max of the goal years encoded by ``layers`` (0: none)."""
        n, count = upcoming.shape[:2]
        if not count:
            return upcoming.new_zeros((n, 2 * cast(nn.Linear, layers[0]).out_features))
        # the padded goal years add zeros to the sum and the max (after a ReLU)
        encoded = _forward(layers, upcoming)
        return th.cat([encoded.sum(dim=1) / float(count), encoded.amax(dim=1)], dim=1)

    def _context(self, year: _Year, traj11: th.Tensor, features: th.Tensor) -> _Context:
        """Decision inputs (m, 9); z, probability (m, P) and best probability (m,) of the
        next goal and of all goals."""
        affordable, cost_to_cash, utility, discounted, funding = features.unbind(dim=1)
        kept = th.log((1.0 - cost_to_cash).clamp_min(1e-3))
        next_z, next_p = _reach(traj11 + kept, year.next_goal)
        all_z, all_p = _reach(funding, year.all_goals)
        best_next, best_all = next_p.amax(dim=1), all_p.amax(dim=1)
        inputs = th.stack([affordable, cost_to_cash, utility, discounted, funding / 3.0, kept,
                           best_next, best_all, all_z.amax(dim=1) / 3.0], dim=1)
        return inputs, (next_z, next_p, best_next), (all_z, all_p, best_all)

    def _goal_logits(self, year: _Year, pairs: _Pairs, inputs: th.Tensor,
                     embedding: th.Tensor, upcoming: th.Tensor) -> th.Tensor:
        """(n, K) logits of the year's decisions; ``inputs`` are those of ``pairs``,
        ``upcoming`` (n, U, F) the rows' upcoming goal-year features."""
        logits = embedding.new_full(pairs.shape, MASKED_LOGIT)
        logits[th.as_tensor(~pairs.several, device=self.device), 0] = 0.0
        if pairs.scored:
            net = self.network
            rows = th.as_tensor(pairs.rows[: pairs.padded], device=self.device)
            scored = inputs[: pairs.padded]
            if year.margins is not None:
                padded = th.as_tensor(pairs.columns[: pairs.padded], device=self.device)
                scored = th.cat([scored, year.margins.index_select(0, padded)], dim=1)
            if net.decision_reach:
                scored = th.cat([scored, self._decision_reach(year, scored, rows, upcoming)],
                                dim=1)
            hidden = net.decision_scorer[0](scored)
            hidden.add_(net.decision_context(embedding).index_select(0, rows))
            score = _forward(cast(nn.Sequential, net.decision_scorer[1:]), hidden,
                             fresh=True).squeeze(1)
            columns = th.as_tensor(pairs.columns[: pairs.scored], device=self.device)
            logits[rows[: pairs.scored], columns] = score[: pairs.scored]
        return logits

    @staticmethod
    def _decision_reach(year: _Year, inputs: th.Tensor, rows: th.Tensor,
                        upcoming: th.Tensor) -> th.Tensor:
        """(m, 3) DECISION_REACH_INPUTS of the scored pairs, by the generic path's arithmetic."""
        kept = inputs[:, 5]
        if upcoming.shape[1]:
            first = upcoming[:, 0].index_select(0, rows)
            log_ratio = kept - first[:, ENTRY_COLUMNS[0]]
            next_share = first[:, UPCOMING_FEATURES.index("utility_share")]
            entry_share = first[:, UPCOMING_FEATURES.index("entry_utility_share")]
        else:
            log_ratio, next_share, entry_share = kept, th.zeros_like(kept), th.zeros_like(kept)
        _, entry_p = _reach(log_ratio, year.entry)
        return decision_reach(inputs[:, 2], inputs[:, 6], entry_p.amax(dim=1), next_share,
                              entry_share)

    def _portfolio_logits(self, year: _Year, embedding: th.Tensor, context: _Context,
                          chosen: th.Tensor | None, upcoming: th.Tensor) -> th.Tensor:
        """(n, P) logits of the problem's portfolios given each row's decision.

        ``context`` holds the decision inputs of the pairs; ``chosen`` (n,) picks each
        row's pair (None: pair i is row i's); ``upcoming`` (n, U, F) the rows' upcoming
        goal-year features.
        """
        inputs, (next_z, next_p, best_next), (all_z, all_p, best_all) = (
            context if chosen is None else _pick(context, chosen))
        assert self._features is not None
        features = self._features[: embedding.shape[0]]  # the 4 fixed inputs are in place
        th.div(next_z, 3.0, out=features[..., 4])
        features[..., 5] = next_p
        th.sub(next_p, best_next.unsqueeze(1), out=features[..., 6])
        th.div(all_z, 3.0, out=features[..., 7])
        features[..., 8] = all_p
        th.sub(all_p, best_all.unsqueeze(1), out=features[..., 9])
        if self.network.weighted_reach:
            weighted = weighted_reach(year.share, next_p, all_p)
            features[..., 10] = weighted
            th.sub(weighted, weighted.amax(dim=1, keepdim=True), out=features[..., 11])
        if self.network.entry_reach:
            first = self.network.portfolio_input_names.index("entry_z")
            _entry_reach(features, first, year.entry, inputs[:, 5], upcoming)
        context_hidden = self.network.portfolio_context(th.cat([embedding, inputs], dim=1))
        return self._score_portfolios(features, context_hidden)

    def _score_portfolios(self, features: th.Tensor, context: th.Tensor) -> th.Tensor:
        """The portfolio scorer, ``BLOCK`` rows at a time (their hidden layer stays in cache)."""
        assert self._hidden is not None and self._scores is not None
        scorer = self.network.portfolio_scorer
        first, last = cast(nn.Linear, scorer[0]), cast(nn.Linear, scorer[2])
        weight, out_weight, out_bias = first.weight.t(), last.weight.t(), last.bias
        n, p = features.shape[:2]
        logits = context.new_empty((n, p))
        for start in range(0, n, BLOCK):
            stop = min(start + BLOCK, n)
            size = (stop - start) * p
            hidden = th.mm(features[start:stop].view(size, -1), weight, out=self._hidden[:size])
            hidden.view(stop - start, p, -1).add_(context[start:stop].unsqueeze(1))
            scores = th.addmm(out_bias, hidden.relu_(), out_weight, out=self._scores[:size])
            logits[start:stop] = scores.view(stop - start, p)
        return logits


def parameter_fingerprint(network: nn.Module | Sequence[th.Tensor]
                          ) -> tuple[tuple[int, int], ...]:
    """Where each parameter lives and its in-place version: changes when training steps.

    Takes the network or its parameters (a list kept once is cheaper to walk than the
    module tree on every call)."""
    parameters = network.parameters() if isinstance(network, nn.Module) else network
    return tuple((p.data_ptr(), p._version) for p in parameters)


def _pairs(costs: np.ndarray, cash: np.ndarray) -> _Pairs:
    """The pairs for ``cash`` (n,) and a year's decision ``costs`` (K,)."""
    n, k = cash.shape[0], costs.shape[0]
    every = np.arange(n)
    if k == 1:
        return _Pairs(every, np.zeros(n, dtype=np.intp), 0, 0, np.zeros(n, dtype=bool),
                      None, (n, k))
    valid = costs[None, :] <= cash[:, None]
    valid[:, 0] = True
    several = valid.sum(axis=1) > 1
    rows, columns = np.nonzero(valid & several[:, None])
    scored = rows.size
    if not scored:
        return _Pairs(every, np.zeros(n, dtype=np.intp), 0, 0, several, None, (n, k))
    padded = _multiple_of_4(scored)
    single = every[~several]
    position = np.full((n, k), -1, dtype=np.intp)
    position[rows, columns] = np.arange(scored)
    position[single, 0] = padded + np.arange(single.size)
    return _Pairs(np.concatenate([np.resize(rows, padded), single]),
                  np.concatenate([np.resize(columns, padded), np.zeros_like(single)]),
                  scored, padded, several, position, (n, k))


def _pick(context: _Context, chosen: th.Tensor) -> _Context:
    """The rows ``chosen`` of every tensor of ``context``."""
    inputs, near, far = context
    return (inputs.index_select(0, chosen), tuple(x.index_select(0, chosen) for x in near),
            tuple(x.index_select(0, chosen) for x in far))


def _pad_rows(wealth: np.ndarray) -> np.ndarray:
    """``wealth`` (n >= 1,) with its last value repeated up to a multiple of 4 rows."""
    n = wealth.shape[0]
    padded = _multiple_of_4(n)
    return np.concatenate([wealth, np.full(padded - n, wealth[-1])]) if padded > n else wealth


def _multiple_of_4(n: int) -> int:
    """Rows to compute for ``n``: BLAS kernels may sum the last rows of a matrix product
    in another order when their number is not a multiple of 4 (or is below 4)."""
    return max(4, -(-n // 4) * 4)


def _forward(layers: nn.Sequential, x: th.Tensor, fresh: bool = False) -> th.Tensor:
    """``layers(x)``, with Tanh and ReLU applied in place to the layers' own outputs
    (and to ``x`` if ``fresh``: a tensor of the caller's own)."""
    for layer in layers:
        if fresh and isinstance(layer, nn.Tanh):
            x = x.tanh_()
        elif fresh and isinstance(layer, nn.ReLU):
            x = x.relu_()
        else:
            x, fresh = layer(x), True
    return x


def _reach_constants(drift: th.Tensor, vol: th.Tensor, years: th.Tensor) -> _Reach:
    tau = years.clamp_min(1.0).unsqueeze(1)
    return _Reach(shift=(drift * tau)[0], scale=(vol * tau.sqrt())[0],
                  none=bool((years <= 0).item()))


def _reach(log_ratio: th.Tensor, target: _Reach) -> tuple[th.Tensor, th.Tensor]:
    """z-scores and probabilities (m, P), by the generic path's arithmetic."""
    if target.none:
        z = log_ratio.new_full((log_ratio.shape[0], target.shift.shape[0]), Z_CLIP)
    else:
        z = ((log_ratio.unsqueeze(1) + target.shift) / target.scale).clamp(-Z_CLIP, Z_CLIP)
    return z, normal_cdf(z)


def _entry_reach(features: th.Tensor, first: int, target: _Reach, kept: th.Tensor,
                 upcoming: th.Tensor) -> None:
    """Write the ENTRY_REACH_INPUTS into ``features[..., first:first + 5]``: the reach of
    the next goal year's cheapest and best-value decisions, by the generic path's arithmetic."""
    at = first
    for i, column in enumerate(ENTRY_COLUMNS):
        log_ratio = kept if target.none else kept - upcoming[:, 0, column]
        z, p = _reach(log_ratio, target)
        if i == 0:  # the z-score of the cheapest decision only
            th.div(z, 3.0, out=features[..., at])
            at += 1
        features[..., at] = p
        th.sub(p, p.amax(dim=1, keepdim=True), out=features[..., at + 1])
        at += 2


def _ahead(q: dict[str, float | np.ndarray], name: str) -> np.ndarray:
    """Entry ``name`` of ``year_quantities``, one of its arrays (per upcoming goal year)."""
    return cast(np.ndarray, q[name])
