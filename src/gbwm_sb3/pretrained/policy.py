"""``UniversalGBWMPolicy``: one actor-critic network for every problem of the envelope.

It reads the universal observation (:mod:`gbwm_sb3.envs.universal_observation`) and
acts in ``MultiDiscrete([K_MAX, N_MAX])``. Nothing in it depends on a problem's number
of decisions or portfolios:

- the **goal head** scores each decision of the year with one shared network, from
  the trajectory embedding and that decision's own features (its cost and utility as
  shares of the cash and of the utility still on offer, how funded the client stays
  after it, and the best probability a portfolio gives of reaching the next goal and
  all later goals after it); decisions that do not exist or are not affordable get
  probability 0;
- the **portfolio head** scores each portfolio with one shared network, from the
  trajectory embedding, the chosen decision's features and the portfolio's own mean,
  volatility, place on the frontier and reach probabilities (a lognormal
  approximation: ``Phi((log(cash after / cost) + (mu - sigma^2/2) tau) / (sigma
  sqrt(tau)))`` for the next goal, and the same against the discounted cost of all
  later goals) and, with ``weighted_reach=True``, those two probabilities weighted by
  what the goals are worth (:data:`WEIGHTED_REACH_INPUTS`) and, with ``entry_reach=True``,
  the probability of reaching the cost of the next goal year's cheapest and best-value
  decisions (:data:`ENTRY_REACH_INPUTS`); portfolios the problem does not have get
  probability 0. The
  portfolio is drawn *given* the decision (wealth after a goal is paid is what gets
  invested), so the action's probability is ``p(decision) p(portfolio | decision)``
  and the entropy bonus is the goal entropy plus the portfolio entropy given the
  stored decision;
- an **independent value network** reads the trajectory features, a summary of the
  frontier and its own encoding of the upcoming goal years.

The upcoming goal years (which later goals compete for the money, and when) are
encoded one by one with shared weights and pooled (mean and max over the years that
exist), so their number does not matter either.

Trained with SB3's ``PPO`` on :class:`~gbwm_sb3.envs.multi_problem_vec_env.MultiProblemVecEnv`
(no action masks needed: the policy reads the ``exists`` and ``affordable`` flags).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch import nn

from gbwm_sb3.envs.universal_observation import (
    DECISION_BLOCK,
    DECISION_FEATURES,
    HORIZON_SCALE,
    K_MAX,
    N_MAX,
    PORTFOLIO_BLOCK,
    PORTFOLIO_FEATURES,
    TRAJECTORY_FEATURES,
    UNIVERSAL_OBSERVATION_SIZE,
    UPCOMING_BLOCK,
    UPCOMING_FEATURES,
    UPCOMING_GOAL_YEARS,
)

__all__ = ["UniversalGBWMPolicy", "MASKED_LOGIT", "DECISION_INPUTS", "PORTFOLIO_INPUTS",
           "WEIGHTED_REACH_INPUTS", "ENTRY_REACH_INPUTS", "MARGIN_INPUTS", "ENTRY_COLUMNS",
           "INPUT_FLAGS", "DEC_COL", "TRAJ_COL", "Z_CLIP", "normal_cdf", "next_goal_share",
           "weighted_reach", "decision_margins", "DECISION_REACH_INPUTS", "decision_reach"]

MASKED_LOGIT = -1e9
_NT, _ND, _NP = len(TRAJECTORY_FEATURES), len(DECISION_FEATURES), len(PORTFOLIO_FEATURES)
#: Reach z-scores are clipped to [-Z_CLIP, Z_CLIP] (Z_CLIP: no goal to reach).
Z_CLIP = 6.0
#: Column of each trajectory feature, and of each per-decision feature.
TRAJ_COL = {name: i for i, name in enumerate(TRAJECTORY_FEATURES)}
DEC_COL = {name: i for i, name in enumerate(DECISION_FEATURES)}

#: Inputs of the goal head for one decision (besides the trajectory embedding).
DECISION_INPUTS = ("affordable", "cost_to_cash", "utility_to_remaining_utility",
                   "cost_to_discounted_cost", "log_funding_after", "log_cash_kept",
                   "best_next_goal_probability", "best_all_goals_probability",
                   "best_all_goals_z")
#: Inputs of the portfolio head for one portfolio (besides embedding and decision context).
PORTFOLIO_INPUTS = ("mean", "volatility", "log_drift", "frontier_position", "next_goal_z",
                    "next_goal_probability", "next_goal_probability_gap", "all_goals_z",
                    "all_goals_probability", "all_goals_probability_gap")
#: Further inputs of the portfolio head with ``weighted_reach=True``: ``s P_next + (1 - s)
#: P_all``, ``s`` the next goal year's share of the utility due after this year (a goal
#: worth most of what is left is worth securing, one worth little is worth gambling on
#: for the goals after it), and its gap to the best portfolio's.
WEIGHTED_REACH_INPUTS = ("weighted_reach", "weighted_reach_gap")
#: Further inputs of the portfolio head with ``entry_reach=True``: the reach (z-score,
#: probability and gap to the best portfolio's) of the cost of the next goal year's
#: cheapest decision that funds anything, and the probability (and gap) for its decision
#: with the most utility per cost. The next-goal reach prices the year at its full
#: top-level cost; when that is out of reach, the riskiest portfolio maximises it, while
#: a client who can still secure a goal's lower level or the year's cheaper goal should
#: hold a safe portfolio.
ENTRY_REACH_INPUTS = ("entry_z", "entry_probability", "entry_probability_gap",
                      "efficient_probability", "efficient_probability_gap")
#: Columns of the next goal year's entry and best-value costs (log cost / cash) and of its
#: distance in the upcoming goal-year features.
ENTRY_COLUMNS = (UPCOMING_FEATURES.index("log_entry_cost_to_cash"),
                 UPCOMING_FEATURES.index("log_efficient_cost_to_cash"))
_YEARS_AHEAD = UPCOMING_FEATURES.index("years_ahead")
_UTILITY_SHARE = UPCOMING_FEATURES.index("utility_share")
_ENTRY_SHARE = UPCOMING_FEATURES.index("entry_utility_share")
#: Further inputs of the goal head with ``decision_margins=True``, per decision: its
#: utility gain over the best decision of the year that costs no more (a share of the
#: utility still on offer; negative for a dominated decision), the extra cost of that gain
#: (a share of the discounted cost still to come) and their ratio (clipped to
#: +-:data:`MARGIN_RATIO_CLIP`). Each decision's own cost and utility say what it is worth
#: alone; these say what it is worth against the cheaper choices of the same year, such as
#: a dearer level adding almost nothing to a cheaper one.
MARGIN_INPUTS = ("utility_gain", "cost_increase", "gain_per_cost")
#: Bound of the ``gain_per_cost`` margin input (a gain for no extra cost reads as this).
MARGIN_RATIO_CLIP = 4.0
#: Extra costs below this share count as this in the ``gain_per_cost`` ratio.
_MARGIN_MIN_COST = 0.01
#: Further inputs of the goal head with ``decision_reach=True``, per decision: what the
#: next goal year is still worth after it. ``next_year_value``: that year's utility (a
#: share of the utility still on offer) times the best probability, over the portfolios,
#: of growing the cash this decision leaves to the year's full top-level cost;
#: ``entry_value``: the same for the year's cheapest decision that funds anything; and
#: ``one_step_value``: this decision's own utility share plus the larger of the two. A
#: decision that spends the money a more valuable goal next needs reads as worth less
#: than its own utility says.
DECISION_REACH_INPUTS = ("next_year_value", "entry_value", "one_step_value")
#: The constructor flags that switch on optional inputs (recorded in a weights manifest,
#: set by a pretraining config): two of the portfolio head, two of the goal head.
INPUT_FLAGS = ("weighted_reach", "entry_reach", "decision_margins", "decision_reach")
#: Frontier summary read by the trajectory embedding and the value network.
_SUMMARY = 6
#: Width of the per-goal-year encoding of the upcoming goals (pooled by mean and max).
_UPCOMING = 32


def next_goal_share(trajectory: th.Tensor, upcoming: th.Tensor) -> th.Tensor:
    """(B, 1): the next goal year's share of the utility due after this year (0: none).

    ``trajectory`` (B, len(TRAJECTORY_FEATURES)), ``upcoming`` (B, years, features).
    """
    later = (1.0 - trajectory[:, TRAJ_COL["current_utility_fraction"]]).clamp_min(1e-9)
    share = (upcoming[:, 0, UPCOMING_FEATURES.index("utility_share")] / later).clamp(0.0, 1.0)
    exists = upcoming[:, 0, UPCOMING_FEATURES.index("exists")] > 0.5
    return th.where(exists, share, th.zeros_like(share)).unsqueeze(1)


def weighted_reach(share: th.Tensor, next_p: th.Tensor, all_p: th.Tensor) -> th.Tensor:
    """``share P_next + (1 - share) P_all`` per portfolio (0 where both are 0)."""
    return share * next_p + (1.0 - share) * all_p


def decision_margins(utility: th.Tensor, cost: th.Tensor, exists: th.Tensor) -> th.Tensor:
    """(B, K, 3): the :data:`MARGIN_INPUTS` of every decision of a year.

    ``utility`` and ``cost`` (B, K) in any common units (the observation's shares),
    ``exists`` (B, K) bool. A decision's reference is the best decision that costs no more
    (on equal cost, one with more utility, then one earlier in the list): the cheapest
    among those with the most utility, or "nothing" (utility and cost 0) when none has any.
    Decisions that do not exist get finite values that nothing reads. Costs no more is
    judged over the decisions that exist, not the affordable ones: whatever costs no more
    than an affordable decision is affordable, so the margins do not depend on the cash.
    """
    b, k = utility.shape
    never = th.full_like(cost, math.inf)
    # the order: cost ascending, then utility descending, then position (stable sorts)
    order = th.argsort(-utility, dim=1, stable=True)
    order = order.gather(1, th.argsort(th.where(exists, cost, never).gather(1, order),
                                       dim=1, stable=True))
    u, c, e = utility.gather(1, order), cost.gather(1, order), exists.gather(1, order)
    running = th.cummax(th.where(e, u, -never), dim=1).values
    best_before = th.cat([th.zeros_like(u[:, :1]), running[:, :-1]], dim=1).clamp_min(0.0)
    # the first decision (in this order) to reach a new best utility is the cheapest with it
    record = e & (u > best_before)
    position = th.arange(k, device=u.device).expand(b, k)
    last = th.cummax(th.where(record, position, th.full_like(position, -1)), dim=1).values
    before = th.cat([th.full_like(last[:, :1], -1), last[:, :-1]], dim=1)
    reference_cost = th.where(before >= 0, c.gather(1, before.clamp_min(0)),
                              th.zeros_like(c))
    gain = u - best_before
    extra = c - reference_cost
    ratio = (gain / extra.clamp_min(_MARGIN_MIN_COST)).clamp(-MARGIN_RATIO_CLIP,
                                                             MARGIN_RATIO_CLIP)
    margins = th.stack([gain, extra, ratio], dim=2)
    return th.zeros_like(margins).scatter_(1, order.unsqueeze(2).expand(b, k, 3), margins)


def decision_reach(utility: th.Tensor, best_next: th.Tensor, best_entry: th.Tensor,
                   next_share: th.Tensor, entry_share: th.Tensor) -> th.Tensor:
    """(P, 3): the :data:`DECISION_REACH_INPUTS` of P decisions.

    ``utility``: each decision's utility share; ``best_next`` and ``best_entry``: the best
    probability of reaching the next goal year's full cost and its cheapest funding
    decision's cost with the cash the decision leaves; ``next_share`` and ``entry_share``:
    those two decisions' utility shares (0 when no goal year follows).
    """
    next_value = next_share * best_next
    entry_value = entry_share * best_entry
    return th.stack([next_value, entry_value,
                     utility + th.maximum(next_value, entry_value)], dim=1)


def _mlp(sizes: list[int], activation: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def normal_cdf(z: th.Tensor) -> th.Tensor:
    """The standard normal distribution function, elementwise."""
    return 0.5 * (1.0 + th.erf(z / math.sqrt(2.0)))


class _Frontier:
    """Per-sample frontier quantities from the portfolio block, shape (B, N_MAX) each."""

    def __init__(self, portfolios: th.Tensor) -> None:
        self.exists = portfolios[..., 0] > 0.5
        self.mean = portfolios[..., 1]
        self.vol = th.where(self.exists, portfolios[..., 2], th.ones_like(portfolios[..., 2]))
        self.drift = self.mean - 0.5 * self.vol ** 2
        big = th.full_like(self.mean, 1e9)
        low_vol = th.where(self.exists, self.vol, big).argmin(dim=1, keepdim=True)
        self.rate = th.log1p(self.mean.gather(1, low_vol))  # (B, 1): the cautious log return
        lo = th.where(self.exists, self.mean, big).min(dim=1, keepdim=True).values
        hi = th.where(self.exists, self.mean, -big).max(dim=1, keepdim=True).values
        self.position = th.where(self.exists, (self.mean - lo) / (hi - lo).clamp_min(1e-6), 0.0)
        self.count = self.exists.sum(dim=1, keepdim=True).to(self.mean.dtype)

    def summary(self) -> th.Tensor:
        """(B, _SUMMARY): cautious rate, best drift, volatility range, mean range, count."""
        neg = th.full_like(self.mean, -1e9)
        best_drift = th.where(self.exists, self.drift, neg).max(dim=1, keepdim=True).values
        max_vol = th.where(self.exists, self.vol, neg).max(dim=1, keepdim=True).values
        min_vol = -th.where(self.exists, -self.vol, neg).max(dim=1, keepdim=True).values
        max_mean = th.where(self.exists, self.mean, neg).max(dim=1, keepdim=True).values
        return th.cat([10 * self.rate, 10 * best_drift, 10 * min_vol, 10 * max_vol,
                       10 * max_mean, self.count / N_MAX], dim=1)


def _reach(frontier: _Frontier, rows: th.Tensor, log_ratio: th.Tensor, years: th.Tensor,
           excess: bool) -> tuple[th.Tensor, th.Tensor]:
    """z-score and probability of reaching a target, (P, N_MAX), for P (row, context) pairs.

    ``log_ratio`` (P,): log(money / target); ``years`` (P,): time to the target (0: no
    target, z = 0 and probability 1). With ``excess`` the drift is measured above the
    cautious rate (the target is a present value at that rate).
    """
    drift = frontier.drift[rows]
    if excess:
        drift = drift - frontier.rate[rows]
    vol = frontier.vol[rows]
    tau = years.clamp_min(1.0).unsqueeze(1)
    z = (log_ratio.unsqueeze(1) + drift * tau) / (vol * tau.sqrt())
    z = z.clamp(-Z_CLIP, Z_CLIP)
    none = (years <= 0).unsqueeze(1)
    z = th.where(none, th.full_like(z, Z_CLIP), z)
    prob = th.where(frontier.exists[rows], normal_cdf(z), th.zeros_like(z))
    return th.where(frontier.exists[rows], z, th.zeros_like(z)), prob


def _entry_reach_columns(frontier: _Frontier, rows: th.Tensor, upcoming: th.Tensor,
                        kept: th.Tensor) -> list[th.Tensor]:
    """The :data:`ENTRY_REACH_INPUTS` columns, (B, N_MAX) each.

    ``upcoming`` (B, years, features): the upcoming goal years; ``kept`` (B,): log of the
    share of the cash the chosen decision leaves. No next goal year: z = Z_CLIP, probability 1.
    """
    years = upcoming[:, 0, _YEARS_AHEAD] * HORIZON_SCALE
    exists = frontier.exists[rows]
    zero = th.zeros_like(frontier.mean[rows])
    columns: list[th.Tensor] = []
    for i, column in enumerate(ENTRY_COLUMNS):
        z, p = _reach(frontier, rows, kept - upcoming[:, 0, column], years, excess=False)
        gap = th.where(exists, p - p.max(dim=1, keepdim=True).values, zero)
        columns += [z / 3.0, p, gap] if i == 0 else [p, gap]
    return columns


class UniversalGBWMPolicy(ActorCriticPolicy):
    """Actor-critic for ``PPO`` over many problems at once (see the module docstring).

    Keyword arguments: ``embedding=(64, 64)`` (trajectory embedding of the actor),
    ``head=64`` (hidden units of the decision and portfolio scorers), ``value=(128, 128)``
    (the value network), ``activation_fn`` (``nn.Tanh``), ``weighted_reach=False`` (the
    portfolio head also reads :data:`WEIGHTED_REACH_INPUTS`), ``entry_reach=False`` (and
    :data:`ENTRY_REACH_INPUTS`), ``decision_margins=False`` (the goal head also reads
    :data:`MARGIN_INPUTS`), ``decision_reach=False`` (and :data:`DECISION_REACH_INPUTS`),
    plus SB3's optimizer arguments.
    """

    # SB3 infers ``value_net`` as the nn.Linear its own _build makes; any module from the
    # features to the value does, and this policy's is an MLP.
    value_net: nn.Sequential  # type: ignore[assignment]

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space,
                 lr_schedule: Schedule, embedding: tuple[int, ...] | list[int] = (64, 64),
                 head: int = 64, value: tuple[int, ...] | list[int] = (128, 128),
                 activation_fn: type[nn.Module] = nn.Tanh, weighted_reach: bool = False,
                 entry_reach: bool = False, decision_margins: bool = False,
                 decision_reach: bool = False, **kwargs: Any) -> None:
        if not isinstance(observation_space, spaces.Box) \
                or observation_space.shape != (UNIVERSAL_OBSERVATION_SIZE,):
            raise ValueError(f"observation_space must be a Box of shape "
                             f"({UNIVERSAL_OBSERVATION_SIZE},) (the universal observation), "
                             f"got {observation_space}")
        if not isinstance(action_space, spaces.MultiDiscrete) \
                or list(action_space.nvec) != [K_MAX, N_MAX]:
            raise ValueError(f"action_space must be MultiDiscrete([{K_MAX}, {N_MAX}]), "
                             f"got {action_space}")
        self.embedding = _sizes(embedding, "embedding")
        self.head = _sizes([head], "head")[0]
        self.value = _sizes(value, "value")
        for name, flag in zip(INPUT_FLAGS, (weighted_reach, entry_reach, decision_margins,
                                            decision_reach), strict=True):
            if not isinstance(flag, bool):
                raise ValueError(f"{name} must be True or False, got {flag!r}")
        self.weighted_reach = weighted_reach
        self.entry_reach = entry_reach
        self.decision_margins = decision_margins
        self.decision_reach = decision_reach
        kwargs.pop("net_arch", None)
        super().__init__(observation_space, action_space, lr_schedule,
                         activation_fn=activation_fn, **kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(embedding=self.embedding, head=self.head, value=self.value,
                    weighted_reach=self.weighted_reach, entry_reach=self.entry_reach,
                    decision_margins=self.decision_margins,
                    decision_reach=self.decision_reach)
        return data

    def _build(self, lr_schedule: Schedule) -> None:
        act = self.activation_fn
        width = self.embedding[-1]
        self.upcoming_net = nn.Sequential(nn.Linear(len(UPCOMING_FEATURES), _UPCOMING),
                                          nn.ReLU())
        self.value_upcoming_net = nn.Sequential(nn.Linear(len(UPCOMING_FEATURES), _UPCOMING),
                                                nn.ReLU())
        self.trajectory_net = nn.Sequential(
            _mlp([_NT + _SUMMARY + 2 * _UPCOMING, *self.embedding], act), act())
        self.decision_context = nn.Linear(width, self.head)
        # the scorers run once per (sample, decision) and (sample, portfolio) pair: one
        # hidden ReLU layer, whose input from the sample's context is computed once
        self.decision_scorer = nn.Sequential(
            nn.Linear(len(self.decision_input_names), self.head, bias=False), nn.ReLU(),
            nn.Linear(self.head, 1))
        self.portfolio_context = nn.Linear(width + len(DECISION_INPUTS), self.head)
        self.portfolio_scorer = nn.Sequential(
            nn.Linear(self.portfolio_inputs, self.head, bias=False), nn.ReLU(),
            nn.Linear(self.head, 1))
        self.value_net = nn.Sequential(
            _mlp([_NT + _SUMMARY + 3 + 2 * _UPCOMING, *self.value], act), act(),
            nn.Linear(self.value[-1], 1))
        if self.ortho_init:
            for module in (self.upcoming_net, self.value_upcoming_net, self.trajectory_net,
                           self.decision_context, self.decision_scorer,
                           self.portfolio_context, self.portfolio_scorer, self.value_net):
                module.apply(lambda m: self.init_weights(m, gain=np.sqrt(2)))
            for last, gain in ((self.decision_scorer[-1], 0.01),
                               (self.portfolio_scorer[-1], 0.01), (self.value_net[-1], 1.0)):
                self.init_weights(last, gain=gain)
        # torch types Optimizer's own constructor (params, defaults); the optimizer classes
        # SB3 accepts all take the learning rate as ``lr``.
        optimizer_class = cast(Callable[..., th.optim.Optimizer], self.optimizer_class)
        self.optimizer = optimizer_class(self.parameters(), lr=lr_schedule(1),
                                         **self.optimizer_kwargs)

    @property
    def decision_input_names(self) -> tuple[str, ...]:
        """Names of the goal scorer's inputs for one decision, in column order."""
        return (DECISION_INPUTS + (MARGIN_INPUTS if self.decision_margins else ())
                + (DECISION_REACH_INPUTS if self.decision_reach else ()))

    @property
    def portfolio_input_names(self) -> tuple[str, ...]:
        """Names of the portfolio scorer's inputs for one portfolio, in column order."""
        return (PORTFOLIO_INPUTS + (WEIGHTED_REACH_INPUTS if self.weighted_reach else ())
                + (ENTRY_REACH_INPUTS if self.entry_reach else ()))

    @property
    def portfolio_inputs(self) -> int:
        """Inputs of the portfolio scorer for one portfolio (besides the context)."""
        return len(self.portfolio_input_names)

    # ----- shared pieces -----
    def observation_parts(self, obs: th.Tensor) -> dict[str, Any]:
        """The observation split into named parts: ``trajectory``, ``decisions`` (B, K_MAX, 6),
        ``frontier``, ``valid`` (the decisions that exist and are affordable; 0 always),
        ``summary`` (of the frontier), ``upcoming`` and ``batch``; the fast path reads them."""
        obs = obs.float()
        b = obs.shape[0]
        trajectory = obs[:, :_NT]
        decisions = obs[:, DECISION_BLOCK].reshape(b, K_MAX, _ND)
        frontier = _Frontier(obs[:, PORTFOLIO_BLOCK].reshape(b, N_MAX, _NP))
        valid = ((decisions[..., DEC_COL["exists"]] > 0.5)
                 & (decisions[..., DEC_COL["affordable"]] > 0.5))
        valid[:, 0] = True
        summary = frontier.summary()
        upcoming = obs[:, UPCOMING_BLOCK].reshape(b, UPCOMING_GOAL_YEARS, len(UPCOMING_FEATURES))
        return {"trajectory": trajectory, "decisions": decisions, "frontier": frontier,
                "valid": valid, "summary": summary, "upcoming": upcoming, "batch": b}

    def _decision_context(self, parts: dict[str, Any], rows: th.Tensor, columns: th.Tensor
                          ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """Decision inputs (P, len(DECISION_INPUTS)) and the per-portfolio reach features."""
        traj = parts["trajectory"][rows]
        dec = parts["decisions"][rows, columns]
        frontier = parts["frontier"]
        kept = th.log((1.0 - dec[:, DEC_COL["cost_to_cash"]]).clamp_min(1e-3))
        next_years = traj[:, TRAJ_COL["years_to_next_goal"]] * HORIZON_SCALE
        next_z, next_p = _reach(frontier, rows, traj[:, TRAJ_COL["log_cash_to_next_cost"]] + kept,
                                next_years, excess=False)
        all_years = th.where(next_years > 0,
                             (traj[:, TRAJ_COL["cost_weighted_years_to_goals"]] * HORIZON_SCALE)
                             .clamp_min(1.0), th.zeros_like(next_years))
        all_z, all_p = _reach(frontier, rows, dec[:, DEC_COL["log_funding_after"]], all_years,
                              excess=True)
        neg = th.full_like(all_z, -Z_CLIP)
        exists = frontier.exists[rows]
        inputs = th.stack([
            dec[:, DEC_COL["affordable"]], dec[:, DEC_COL["cost_to_cash"]],
            dec[:, DEC_COL["utility_to_remaining_utility"]],
            dec[:, DEC_COL["cost_to_discounted_cost"]],
            dec[:, DEC_COL["log_funding_after"]] / 3.0, kept,
            next_p.max(dim=1).values, all_p.max(dim=1).values,
            th.where(exists, all_z, neg).max(dim=1).values / 3.0], dim=1)
        return inputs, th.stack([next_z, next_p], dim=2), th.stack([all_z, all_p], dim=2)

    @staticmethod
    def _pool_upcoming(net: nn.Module, upcoming: th.Tensor) -> th.Tensor:
        """(B, 2 * _UPCOMING): mean and max of the encoded goal years that exist (0 if none)."""
        exists = (upcoming[..., :1] > 0.5).to(upcoming.dtype)
        encoded = net(upcoming) * exists
        count = exists.sum(dim=1).clamp_min(1.0)
        return th.cat([encoded.sum(dim=1) / count, encoded.max(dim=1).values], dim=1)

    def _embedding(self, parts: dict[str, Any]) -> th.Tensor:
        upcoming = self._pool_upcoming(self.upcoming_net, parts["upcoming"])
        return self.trajectory_net(th.cat([parts["trajectory"], parts["summary"], upcoming],
                                          dim=1))

    def _goal_logits(self, parts: dict[str, Any], embedding: th.Tensor) -> th.Tensor:
        """(B, K_MAX) logits; only available decisions are scored (the rest are masked)."""
        valid = parts["valid"]
        logits = th.full(valid.shape, MASKED_LOGIT, dtype=embedding.dtype,
                         device=embedding.device)
        # a year with one available decision needs no score: it has probability 1
        several = valid.sum(dim=1) > 1
        pairs = valid & several.unsqueeze(1)
        rows, columns = pairs.nonzero(as_tuple=True)
        logits[:, 0] = th.where(several, logits[:, 0], th.zeros_like(logits[:, 0]))
        if rows.numel():
            inputs, _, _ = self._decision_context(parts, rows, columns)
            if self.decision_margins:
                decisions = parts["decisions"]
                margins = decision_margins(
                    decisions[..., DEC_COL["utility_to_remaining_utility"]],
                    decisions[..., DEC_COL["cost_to_discounted_cost"]],
                    decisions[..., DEC_COL["exists"]] > 0.5)
                inputs = th.cat([inputs, margins[rows, columns]], dim=1)
            if self.decision_reach:
                upcoming = parts["upcoming"][rows, 0]
                years = upcoming[:, _YEARS_AHEAD] * HORIZON_SCALE
                _, entry_p = _reach(parts["frontier"], rows,
                                    inputs[:, 5] - upcoming[:, ENTRY_COLUMNS[0]], years,
                                    excess=False)
                inputs = th.cat([inputs, decision_reach(
                    inputs[:, 2], inputs[:, 6], entry_p.max(dim=1).values,
                    upcoming[:, _UTILITY_SHARE], upcoming[:, _ENTRY_SHARE])], dim=1)
            context = self.decision_context(embedding)[rows]
            hidden = self.decision_scorer[0](inputs) + context
            score = self.decision_scorer[1:](hidden).squeeze(1)
            logits = logits.index_put((rows, columns), score)
        return logits

    def _portfolio_logits(self, parts: dict[str, Any], embedding: th.Tensor,
                          decision: th.Tensor) -> th.Tensor:
        """(B, N_MAX) logits of the portfolio given each sample's decision."""
        b = parts["batch"]
        rows = th.arange(b, device=embedding.device)
        inputs, next_reach, all_reach = self._decision_context(parts, rows, decision)
        frontier = parts["frontier"]
        exists = frontier.exists
        zero = th.zeros_like(frontier.mean)
        best_next = next_reach[..., 1].max(dim=1, keepdim=True).values
        best_all = all_reach[..., 1].max(dim=1, keepdim=True).values
        columns = [
            10 * frontier.mean, 10 * frontier.vol, 10 * frontier.drift, frontier.position,
            next_reach[..., 0] / 3.0, next_reach[..., 1],
            th.where(exists, next_reach[..., 1] - best_next, zero),
            all_reach[..., 0] / 3.0, all_reach[..., 1],
            th.where(exists, all_reach[..., 1] - best_all, zero)]
        if self.weighted_reach:
            share = next_goal_share(parts["trajectory"], parts["upcoming"])
            weighted = weighted_reach(share, next_reach[..., 1], all_reach[..., 1])
            best = weighted.max(dim=1, keepdim=True).values
            columns += [weighted, th.where(exists, weighted - best, zero)]
        if self.entry_reach:
            columns += _entry_reach_columns(frontier, rows, parts["upcoming"], inputs[:, 5])
        features = th.stack(columns, dim=2)
        context = self.portfolio_context(th.cat([embedding, inputs], dim=1))
        hidden = self.portfolio_scorer[0](features) + context.unsqueeze(1)
        score = self.portfolio_scorer[1:](hidden).squeeze(2)
        return score.masked_fill(~exists, MASKED_LOGIT)

    def _values(self, parts: dict[str, Any]) -> th.Tensor:
        b = parts["batch"]
        rows = th.arange(b, device=parts["trajectory"].device)
        skip, _, _ = self._decision_context(parts, rows, th.zeros_like(rows))
        extra = th.stack([skip[:, 6], skip[:, 7], skip[:, 8]], dim=1)
        upcoming = self._pool_upcoming(self.value_upcoming_net, parts["upcoming"])
        return self.value_net(th.cat([parts["trajectory"], parts["summary"], extra, upcoming],
                                     dim=1))

    # ----- SB3 API -----
    def _act(self, obs: th.Tensor, deterministic: bool
             ) -> tuple[th.Tensor, th.Tensor, dict[str, Any], th.Tensor]:
        parts = self.observation_parts(obs)
        embedding = self._embedding(parts)
        goal_logp = th.log_softmax(self._goal_logits(parts, embedding), dim=1)
        if deterministic:
            decision = goal_logp.argmax(dim=1)
        else:
            decision = th.distributions.Categorical(logits=goal_logp).sample()
        port_logp = th.log_softmax(self._portfolio_logits(parts, embedding, decision), dim=1)
        if deterministic:
            portfolio = port_logp.argmax(dim=1)
        else:
            portfolio = th.distributions.Categorical(logits=port_logp).sample()
        log_prob = goal_logp.gather(1, decision[:, None]).squeeze(1) \
            + port_logp.gather(1, portfolio[:, None]).squeeze(1)
        return th.stack([decision, portfolio], dim=1), log_prob, parts, goal_logp

    def forward(self, obs: th.Tensor, deterministic: bool = False
                ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """Actions (decision, portfolio), values and log-probabilities (rollout collection)."""
        actions, log_prob, parts, _ = self._act(obs, deterministic)
        return actions, self._values(parts), log_prob

    def evaluate_actions(self, obs: PyTorchObs, actions: th.Tensor
                         ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """Values, log-probabilities of ``actions`` and entropies (the PPO update)."""
        actions = actions.long()
        decision = actions[:, 0]
        out = self.head_outputs(cast(th.Tensor, obs), decision)  # a Box space: a tensor
        goal_logp, port_logp = out["goal_logp"], out["portfolio_logp"]
        log_prob = goal_logp.gather(1, decision[:, None]).squeeze(1) \
            + port_logp.gather(1, actions[:, 1:2]).squeeze(1)
        entropy = -(goal_logp.exp() * goal_logp).sum(1) - (port_logp.exp() * port_logp).sum(1)
        return out["value"].unsqueeze(1), log_prob, entropy

    def head_outputs(self, obs: th.Tensor, decision: th.Tensor) -> dict[str, th.Tensor]:
        """The heads' outputs in one pass (the PPO update and DP-teacher pretraining).

        ``goal_logp`` (B, K_MAX) log-probabilities of the decisions, ``valid`` (B, K_MAX)
        the decisions available, ``portfolio_logp`` (B, N_MAX) log-probabilities of the
        portfolios given ``decision`` (B,), ``exists`` (B, N_MAX) the portfolios that
        exist, ``value`` (B,) the critic's values.
        """
        parts = self.observation_parts(obs)
        embedding = self._embedding(parts)
        goal_logp = th.log_softmax(self._goal_logits(parts, embedding), dim=1)
        portfolio_logp = th.log_softmax(self._portfolio_logits(parts, embedding,
                                                               decision.long()), dim=1)
        return {"goal_logp": goal_logp, "valid": parts["valid"],
                "portfolio_logp": portfolio_logp, "exists": parts["frontier"].exists,
                "value": self._values(parts).squeeze(1)}

    def predict_values(self, obs: PyTorchObs) -> th.Tensor:
        """State values, shape (B, 1)."""
        return self._values(self.observation_parts(cast(th.Tensor, obs)))  # a Box observation space

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        actions, _, _, _ = self._act(cast(th.Tensor, observation), deterministic)
        return actions

    def get_distribution(self, obs: PyTorchObs) -> Any:
        """Not available: the portfolio's distribution depends on the sampled decision."""
        raise NotImplementedError("UniversalGBWMPolicy samples the portfolio given the "
                                  "decision; use predict() or action_probabilities()")

    def top_decisions(self, obs: th.Tensor, count: int
                      ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """The ``count`` likeliest decisions of each sample and their best portfolios.

        Returns ``(probabilities, decisions, portfolios)``, each (B, count): the decisions
        by falling probability and, for each, the portfolio the network likes best given
        that decision (what a lookahead compares).
        """
        parts = self.observation_parts(obs)
        embedding = self._embedding(parts)
        probs = th.softmax(self._goal_logits(parts, embedding), dim=1)
        top = probs.topk(min(count, probs.shape[1]), dim=1)
        portfolios = th.stack([
            self._portfolio_logits(parts, embedding, top.indices[:, j]).argmax(dim=1)
            for j in range(top.indices.shape[1])], dim=1)
        return top.values, top.indices, portfolios

    def action_probabilities(self, obs: th.Tensor, decision: th.Tensor | None = None
                             ) -> tuple[th.Tensor, th.Tensor]:
        """``(p(decision) (B, K_MAX), p(portfolio | decision) (B, N_MAX))``.

        ``decision`` (B,) defaults to the most likely decision of each sample.
        """
        parts = self.observation_parts(obs)
        embedding = self._embedding(parts)
        goal = th.softmax(self._goal_logits(parts, embedding), dim=1)
        if decision is None:
            decision = goal.argmax(dim=1)
        portfolio = th.softmax(self._portfolio_logits(parts, embedding, decision.long()), dim=1)
        return goal, portfolio


def _sizes(value: Any, name: str) -> list[int]:
    try:
        sizes = [int(v) for v in value]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a list of positive integers, got {value!r}") from None
    if not sizes or any(s < 1 or s > 4096 for s in sizes) \
            or any(isinstance(v, bool) for v in value):
        raise ValueError(f"{name} must be a non-empty list of integers in 1..4096, got {value!r}")
    return sizes
