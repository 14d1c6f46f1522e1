"""Two-headed actor-critic policies for the GBWM action space MultiDiscrete([K, n]).

The policy MLP feeds a goal head (K logits: one per decision of the year, K = 2
skip / take for the paper's family) and a portfolio head
(n logits); an independent MLP feeds the value head. Where the goal decision has
no effect (no goal this year, or the goal is unaffordable; observation feature
``GOAL_AFFORDABLE_INDEX`` is 0) the goal head adds nothing to the log-probability
or the entropy, whatever action is stored, and sampling returns "skip" there.
So PPO neither gets gradient noise nor entropy bonus from decisions that do
nothing, with plain ``PPO`` as with ``MaskablePPO``. For a problem of the general
class the observation ends with one flag per decision (exists and affordable,
:mod:`gbwm_sb3.envs.observation`); the goal logits of the other decisions are
set to ``MASKED_LOGIT`` (probability 0), again with plain ``PPO`` too. A market with
regimes appends the one-hot of the current regime, and stochastic inflation one column
of the standardised inflation rate after it (the very last); the network reads them as
any other input (the columns above keep their positions).

Two options shape the portfolio head: ``portfolio_degree`` adds a polynomial
over the ordered portfolios to its logits (neighbouring portfolios learn
together), ``portfolio_given_goal`` gives it one row per goal decision.

``GBWMPolicy`` works with ``stable_baselines3.PPO``; ``MaskableGBWMPolicy`` with
``sb3_contrib.MaskablePPO`` and additionally applies the action masks it is given.
Both share the heads, the distribution and the forward passes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib.common.maskable.distributions import (
    MaskableCategorical,
    MaskableDistribution,
    MaybeMasks,
)
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.policies import ActorCriticPolicy, BaseModel, BasePolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, MlpExtractor
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch import nn
from torch.distributions import Categorical

from gbwm_sb3.envs.observation import (
    DECISION_FEATURES,
    DECISION_FLAGS_START,
    GOAL_AFFORDABLE_INDEX,
    LOG_CLIP,
    OBSERVATION_DIM,
    decision_features_size,
)
from gbwm_sb3.problem.regimes import MAX_REGIMES

__all__ = [
    "GBWMActionDistribution",
    "GBWMPolicy",
    "MaskableGBWMPolicy",
    "goal_active_from_obs",
    "legendre_portfolio_basis",
    "masked_log_prob_entropy",
    "decision_mask_from_obs",
    "MASKED_LOGIT",
    "DecisionScoringHead",
]

#: The logit given to decisions that are not available (exp underflows to exactly 0).
MASKED_LOGIT = -1e9


def goal_active_from_obs(obs: th.Tensor) -> th.Tensor:
    """Boolean (batch,) tensor: where the goal decision has an effect."""
    return obs[:, GOAL_AFFORDABLE_INDEX] > 0.5


def decision_mask_from_obs(obs: th.Tensor, num_decisions: int) -> th.Tensor:
    """Boolean (batch, K) tensor: the decisions available (general-class observation).

    Decision 0 (take nothing) is always available.
    """
    mask = obs[:, DECISION_FLAGS_START: DECISION_FLAGS_START + num_decisions] > 0.5
    mask[:, 0] = True
    return mask


def mask_goal_logits(goal_logits: th.Tensor, decision_mask: th.Tensor | None) -> th.Tensor:
    """``goal_logits`` with unavailable decisions set to ``MASKED_LOGIT`` (None: unchanged)."""
    if decision_mask is None:
        return goal_logits
    return goal_logits.masked_fill(~decision_mask, MASKED_LOGIT)


def masked_log_prob_entropy(
    goal_logits: th.Tensor,
    portfolio_logits: th.Tensor,
    goal_active: th.Tensor,
    actions: th.Tensor,
    decision_mask: th.Tensor | None = None,
) -> tuple[th.Tensor, th.Tensor]:
    """Log-probability of ``actions`` (batch, 2) and entropy, goal part zeroed where inactive.

    The plain-tensor form of ``GBWMActionDistribution`` (no action masks), for
    training loops that skip the distribution objects. ``portfolio_logits`` of
    shape (batch, n) is the independent portfolio head, (batch, K, n) the one
    conditioned on the goal decision (one row per decision). ``decision_mask``
    (batch, K) marks the available decisions (general class; None: all).
    """
    actions = actions.long()
    goal_logp = th.log_softmax(mask_goal_logits(goal_logits, decision_mask), dim=-1)
    port_logp = th.log_softmax(portfolio_logits, dim=-1)
    goal_lp = goal_logp.gather(1, actions[:, :1]).squeeze(1)
    goal_ent = -(goal_logp.exp() * goal_logp).sum(-1)
    port_ent = -(port_logp.exp() * port_logp).sum(-1)
    zero = th.zeros((), dtype=goal_lp.dtype, device=goal_lp.device)
    if port_logp.dim() == 3:
        branch = th.where(goal_active, actions[:, 0], th.zeros_like(actions[:, 0]))
        port_lp = branch_rows(port_logp, branch).gather(1, actions[:, 1:2]).squeeze(1)
        skip_only = th.zeros(goal_logp.shape[1], dtype=port_ent.dtype, device=port_ent.device)
        skip_only[0] = 1.0
        weights = th.where(goal_active.unsqueeze(1), goal_logp.exp(), skip_only)
        port_ent = (weights * port_ent).sum(1)
    else:
        port_lp = port_logp.gather(1, actions[:, 1:2]).squeeze(1)
    log_prob = th.where(goal_active, goal_lp, zero) + port_lp
    entropy = th.where(goal_active, goal_ent, zero) + port_ent
    return log_prob, entropy


class DecisionScoringHead(nn.Module):
    """A goal head that scores each decision of the year from its own features.

    ``logit_d = w . tanh(A latent + B features_d + b) + c``: the same weights for every
    decision, so decisions that differ by one level of one goal learn together, and any
    number of decisions works. ``features`` (batch, K, F) are the observation's decision
    features (:data:`~gbwm_sb3.envs.observation.DECISION_FEATURES`).
    """

    def __init__(self, latent_dim: int, n_features: int, hidden: int = 32) -> None:
        super().__init__()
        self.latent = nn.Linear(latent_dim, hidden)
        self.features = nn.Linear(n_features, hidden, bias=False)
        self.score = nn.Linear(hidden, 1)

    def forward(self, latent: th.Tensor, features: th.Tensor) -> th.Tensor:
        """Logits (batch, K)."""
        hidden = th.tanh(self.latent(latent).unsqueeze(1) + self.features(features))
        return self.score(hidden).squeeze(-1)


def legendre_portfolio_basis(n_portfolios: int, degree: int) -> th.Tensor:
    """(degree, n) Legendre polynomials P_1..P_degree at the portfolios' positions in [-1, 1].

    Portfolio j of n sits at ``u_j = -1 + 2 j / (n - 1)`` (ordered by risk, as the
    efficient-frontier builder returns them). P_0 is left out: a constant shift
    does not change a softmax.
    """
    u = th.linspace(-1.0, 1.0, n_portfolios, dtype=th.float64)
    rows = [th.ones_like(u), u]
    for k in range(1, degree):  # Bonnet: (k + 1) P_{k+1} = (2k + 1) u P_k - k P_{k-1}
        rows.append(((2 * k + 1) * u * rows[k] - k * rows[k - 1]) / (k + 1))
    return th.stack(rows[1: degree + 1]).to(th.get_default_dtype())


def branch_rows(per_branch: th.Tensor, branch: th.Tensor) -> th.Tensor:
    """The row of ``per_branch`` (batch, K, n) that ``branch`` (batch,) selects -> (batch, n)."""
    index = branch.long().view(-1, 1, 1).expand(-1, 1, per_branch.shape[-1])
    return per_branch.gather(1, index).squeeze(1)


class GBWMActionDistribution(MaskableDistribution):
    """Goal x portfolio distribution; the goal factor drops out where it has no effect.

    ``proba_distribution(goal_logits, portfolio_logits, goal_active)`` sets the
    parameters; ``apply_masking(masks)`` takes sb3-contrib's flat boolean masks of
    length ``2 + n`` (skip, take, portfolio 0..n-1) or ``None`` to remove them.

    With ``portfolio_given_goal=True`` the portfolio head has ``2 n`` logits: one
    portfolio distribution for "skip" and one for "take", and the portfolio is
    drawn from the one matching the goal decision (the "skip" one where the goal
    decision has no effect). Taking a goal moves wealth from W to W - C before the
    portfolio is held, so the best portfolio depends on that decision; an
    independent portfolio factor has to average over it. The entropy is then the
    exact joint entropy ``H(goal) + sum_g p(g) H(portfolio | g)``.
    """

    def __init__(self, n_portfolios: int, portfolio_given_goal: bool = False,
                 n_decisions: int = 2):
        super().__init__()
        self.n_portfolios = int(n_portfolios)
        self.n_decisions = int(n_decisions)
        self.portfolio_given_goal = bool(portfolio_given_goal)
        self.goal: Categorical | None = None
        self.portfolio: Categorical | None = None
        self.goal_active: th.Tensor | None = None
        self._logits: tuple[th.Tensor, th.Tensor] | None = None

    # SB3 types the return as one module (or a module and a parameter) although its own
    # docstring says the arguments and the return type vary between distributions.
    def proba_distribution_net(  # type: ignore[override]
        self, latent_dim: int, coefficients: int | None = None
    ) -> tuple[nn.Linear, nn.Linear]:
        """The goal head and the portfolio head on top of the policy latent.

        The portfolio head gives one logit per portfolio, or ``coefficients`` numbers
        per row that a basis turns into logits (see ``GBWMPolicy``), for each goal
        decision when ``portfolio_given_goal``.
        """
        k = self.n_decisions
        branches = k if self.portfolio_given_goal else 1
        per_branch = self.n_portfolios if coefficients is None else coefficients
        return nn.Linear(latent_dim, k), nn.Linear(latent_dim, branches * per_branch)

    def proba_distribution(
        self,
        goal_logits: th.Tensor,
        portfolio_logits: th.Tensor,
        goal_active: th.Tensor,
        decision_mask: th.Tensor | None = None,
    ) -> GBWMActionDistribution:
        k = self.n_decisions
        if self.portfolio_given_goal:  # (batch, K n) -> (batch, K, n): one row per decision
            portfolio_logits = portfolio_logits.reshape(-1, k, self.n_portfolios)
        goal_logits = mask_goal_logits(goal_logits, decision_mask)
        self._logits = (goal_logits, portfolio_logits)
        self.goal_active = goal_active.to(device=goal_logits.device, dtype=th.bool).reshape(-1)
        self.apply_masking(None)
        return self

    def apply_masking(self, masks: MaybeMasks) -> None:
        if self._logits is None:
            raise RuntimeError("call proba_distribution() before apply_masking()")
        goal_logits, portfolio_logits = self._logits
        if masks is None:  # plain categoricals: cheaper than masked ones without masks
            self.goal = Categorical(logits=goal_logits, validate_args=False)
            self.portfolio = Categorical(logits=portfolio_logits, validate_args=False)
            return
        masks = th.as_tensor(masks, dtype=th.bool, device=goal_logits.device)
        k = self.n_decisions
        masks = masks.reshape(-1, k + self.n_portfolios)
        portfolio_masks = masks[:, k:]
        if self.portfolio_given_goal:
            portfolio_masks = portfolio_masks.unsqueeze(1).expand(-1, k, -1)
        self.goal = MaskableCategorical(logits=goal_logits, masks=masks[:, :k])
        self.portfolio = MaskableCategorical(logits=portfolio_logits, masks=portfolio_masks)

    def _parts(self) -> tuple[Categorical, Categorical, th.Tensor]:
        """The goal and portfolio distributions and the goal-active flags, once set."""
        if self.goal is None or self.portfolio is None or self.goal_active is None:
            raise RuntimeError("call proba_distribution() before using the distribution")
        return self.goal, self.portfolio, self.goal_active

    def _zero_inactive(self, goal_part: th.Tensor) -> th.Tensor:
        return th.where(self._parts()[2], goal_part, th.zeros_like(goal_part))

    def _branch(self, take: th.Tensor) -> th.Tensor:
        """Which portfolio distribution applies: 1 where the goal is taken and that counts."""
        return self._zero_inactive(take.long())

    def portfolio_probs(self, take: th.Tensor | None = None) -> th.Tensor:
        """(batch, n) portfolio probabilities given the goal decisions ``take``.

        ``take`` is ignored for the independent head; for the conditional head it
        defaults to "skip" (the distribution where the goal decision has no effect).
        """
        probs = self._parts()[1].probs
        if not self.portfolio_given_goal:
            return probs
        if take is None:
            take = th.zeros(probs.shape[0], dtype=th.long, device=probs.device)
        return branch_rows(probs, self._branch(take))

    def log_prob(self, actions: th.Tensor) -> th.Tensor:
        goal, portfolio, _ = self._parts()
        actions = actions.long().reshape(-1, 2)
        goal_lp = self._zero_inactive(goal.log_prob(actions[:, 0]))
        if not self.portfolio_given_goal:
            return goal_lp + portfolio.log_prob(actions[:, 1])
        # Categorical over (batch, K) rows: the log-probability of the stored portfolio in
        # every row, then the row of the goal decision that applied.
        port_lp = portfolio.log_prob(actions[:, 1:2].expand(-1, self.n_decisions))
        return goal_lp + port_lp.gather(1, self._branch(actions[:, 0]).unsqueeze(1)).squeeze(1)

    def entropy(self) -> th.Tensor:
        goal, portfolio, goal_active = self._parts()
        goal_entropy = self._zero_inactive(goal.entropy())
        if not self.portfolio_given_goal:
            return goal_entropy + portfolio.entropy()
        branch_entropy = portfolio.entropy()  # (batch, K)
        skip_only = th.zeros(self.n_decisions, dtype=branch_entropy.dtype,
                             device=branch_entropy.device)
        skip_only[0] = 1.0
        weights = th.where(goal_active.unsqueeze(1), goal.probs, skip_only)
        return goal_entropy + (weights * branch_entropy).sum(1)

    def _combine(self, take: th.Tensor, portfolio: th.Tensor) -> th.Tensor:
        return th.stack((self._zero_inactive(take), portfolio), dim=1)

    def _portfolio_for(self, take: th.Tensor, per_branch: th.Tensor) -> th.Tensor:
        if not self.portfolio_given_goal:
            return per_branch
        return per_branch.gather(1, self._branch(take).unsqueeze(1)).squeeze(1)

    def sample(self) -> th.Tensor:
        goal, portfolio, _ = self._parts()
        take = goal.sample()
        return self._combine(take, self._portfolio_for(take, portfolio.sample()))

    def mode(self) -> th.Tensor:
        goal, portfolio, _ = self._parts()
        take = goal.logits.argmax(-1)
        return self._combine(take, self._portfolio_for(take, portfolio.logits.argmax(-1)))

    def actions_from_params(
        self,
        goal_logits: th.Tensor,
        portfolio_logits: th.Tensor,
        goal_active: th.Tensor,
        deterministic: bool = False,
    ) -> th.Tensor:
        self.proba_distribution(goal_logits, portfolio_logits, goal_active)
        return self.get_actions(deterministic=deterministic)

    def log_prob_from_params(
        self, goal_logits: th.Tensor, portfolio_logits: th.Tensor, goal_active: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor]:
        actions = self.actions_from_params(goal_logits, portfolio_logits, goal_active)
        return actions, self.log_prob(actions)


def _check_spaces(observation_space: spaces.Space, action_space: spaces.Space
                  ) -> tuple[int, int, bool, bool, int, int, int]:
    """Validate the spaces; return (portfolios n, decisions K, general-class observation?,
    decision features in it?, regime columns, survival columns, inflation columns).

    The inflation and survival columns are recognised by their bounds: at the end of a
    general-class observation, the inflation column is the only one that can be both
    negative and positive, the survival column the only one bounded by [-LOG_CLIP, 0]
    (flags, decision features and the regime one-hot are all >= 0 there)."""
    if not isinstance(action_space, spaces.MultiDiscrete) or action_space.nvec.shape != (2,):
        raise ValueError(
            f"action_space must be MultiDiscrete([K, n_portfolios]), got {action_space!r}"
        )
    k, n = int(action_space.nvec[0]), int(action_space.nvec[1])
    if k < 2 or n < 1:
        raise ValueError(
            f"action_space must be MultiDiscrete([K, n]) with K >= 2 and n >= 1, "
            f"got nvec={action_space.nvec}"
        )
    shape = getattr(observation_space, "shape", None)
    if not isinstance(observation_space, spaces.Box) or shape is None or len(shape) != 1:
        raise ValueError(
            f"observation_space must be the GBWM Box of shape ({OBSERVATION_DIM},) or "
            f"({DECISION_FLAGS_START} + K,), got {observation_space!r}"
        )
    if k == 2 and shape == (OBSERVATION_DIM,):
        return n, k, False, False, 0, 0, 0
    low = np.asarray(observation_space.low).reshape(-1)
    high = np.asarray(observation_space.high).reshape(-1)
    inflation = int(low.size > 0 and bool(low[-1] < 0.0) and bool(high[-1] > 0.0))
    survival = int(low.size > inflation and bool(low[-1 - inflation] < 0.0)
                   and bool(high[-1 - inflation] == 0.0))
    # Regime columns (R in 2..MAX_REGIMES) never reach the 5 K >= 10 decision features.
    regimes = (0, *range(2, MAX_REGIMES + 1))
    extra = inflation + survival
    for decision_features, base in ((False, DECISION_FLAGS_START + k),
                                    (True, DECISION_FLAGS_START + k + decision_features_size(k))):
        if shape[0] - extra - base in regimes:
            return (n, k, True, decision_features, shape[0] - extra - base, survival,
                    inflation)
    raise ValueError(
        f"observation_space must be the GBWM Box of shape ({OBSERVATION_DIM},) (paper family, "
        f"K = 2), ({DECISION_FLAGS_START + k},) ({DECISION_FLAGS_START} + K for K = {k}) or "
        f"({DECISION_FLAGS_START + k + decision_features_size(k)},) (with decision "
        f"features), plus R in 2..{MAX_REGIMES} for a market with R regimes, plus 1 (bounds "
        f"[-{LOG_CLIP:g}, 0]) for a survival table, plus 1 (bounds below and above 0) for "
        f"stochastic inflation, got {observation_space!r}"
    )


def _box_obs(obs: PyTorchObs) -> th.Tensor:
    """``obs`` as the tensor it is: the GBWM observation space is a Box (``_check_spaces``)."""
    return cast(th.Tensor, obs)


def check_portfolio_degree(degree: object, n_portfolios: int) -> int | None:
    """``portfolio_degree``: None, or an integer in 1..n-1."""
    if degree is None:
        return None
    if (
        not isinstance(degree, (int, np.integer))
        or isinstance(degree, (bool, np.bool_))
        or not 1 <= int(degree) <= n_portfolios - 1
    ):
        raise ValueError(
            f"portfolio_degree must be None or an integer in 1..{n_portfolios - 1} "
            f"(number of portfolios - 1), got {degree!r}"
        )
    return int(degree)


if TYPE_CHECKING:  # for the type checker the mixin is an SB3 policy; at run time a plain class
    _PolicyMixinBase = BasePolicy
else:
    _PolicyMixinBase = object


class _GBWMHeads(_PolicyMixinBase):
    """Heads, initialisation and forward passes shared by both policy classes.

    Mixed in before an SB3 actor-critic policy class; ``action_masks`` is only
    ever passed by sb3-contrib's MaskablePPO.
    """

    goal_head: nn.Linear | DecisionScoringHead
    portfolio_head: nn.Linear
    value_net: nn.Linear
    action_dist: GBWMActionDistribution
    portfolio_basis: th.Tensor | None  # a registered buffer

    if TYPE_CHECKING:  # set up by the SB3 actor-critic policy class mixed in after this one
        mlp_extractor: MlpExtractor
        ortho_init: bool
        share_features_extractor: bool
        pi_features_extractor: BaseFeaturesExtractor
        vf_features_extractor: BaseFeaturesExtractor

        def _build_mlp_extractor(self) -> None: ...

        # The actor-critic classes narrow BaseModel's signature the same way (and SB3
        # silences the same override error there).
        def extract_features(  # type: ignore[override]
            self, obs: PyTorchObs, features_extractor: BaseFeaturesExtractor | None = None
        ) -> th.Tensor | tuple[th.Tensor, th.Tensor]: ...

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, *args,
                 portfolio_given_goal: bool = False, portfolio_degree: int | None = None,
                 portfolio_free_logits: bool = True, decision_goal_head: bool = False, **kw):
        (self.n_portfolios, self.n_decisions, self.general_observation,
         self.decision_features, self.regime_columns, self.survival_columns,
         self.inflation_columns) = _check_spaces(observation_space, action_space)
        if not isinstance(decision_goal_head, (bool, np.bool_)):
            raise ValueError(
                f"decision_goal_head must be True or False, got {decision_goal_head!r}")
        if decision_goal_head and not self.decision_features:
            raise ValueError(
                "decision_goal_head=True needs the observation with decision features: "
                "GBWMVecEnv(..., decision_features=True) or GBWMEnv(..., "
                "decision_features=True) (a problem of the general class)")
        self.decision_goal_head = bool(decision_goal_head)
        if not isinstance(portfolio_given_goal, (bool, np.bool_)):
            raise ValueError(
                f"portfolio_given_goal must be True or False, got {portfolio_given_goal!r}"
            )
        self.portfolio_given_goal = bool(portfolio_given_goal)
        self.portfolio_degree = check_portfolio_degree(portfolio_degree, self.n_portfolios)
        if not isinstance(portfolio_free_logits, (bool, np.bool_)):
            raise ValueError(
                f"portfolio_free_logits must be True or False, got {portfolio_free_logits!r}"
            )
        self.portfolio_free_logits = bool(portfolio_free_logits)
        super().__init__(observation_space, action_space, *args, **kw)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data["portfolio_given_goal"] = self.portfolio_given_goal
        data["portfolio_degree"] = self.portfolio_degree
        data["portfolio_free_logits"] = self.portfolio_free_logits
        if self.decision_goal_head:
            data["decision_goal_head"] = True
        return data

    def _build(self, lr_schedule: Schedule) -> None:
        self._build_mlp_extractor()
        self.action_dist = GBWMActionDistribution(self.n_portfolios, self.portfolio_given_goal,
                                                  self.n_decisions)
        basis = None  # a buffer: follows .to() / .double() and is saved with the weights
        if self.portfolio_degree is not None:
            basis = legendre_portfolio_basis(self.n_portfolios, self.portfolio_degree)
            if self.portfolio_free_logits:  # polynomial + one free logit per portfolio
                basis = th.cat([basis, th.eye(self.n_portfolios, dtype=basis.dtype)])
        self.register_buffer("portfolio_basis", basis)
        self.goal_head, self.portfolio_head = self.action_dist.proba_distribution_net(
            self.mlp_extractor.latent_dim_pi, None if basis is None else basis.shape[0]
        )
        if self.decision_goal_head:
            self.goal_head = DecisionScoringHead(self.mlp_extractor.latent_dim_pi,
                                                 len(DECISION_FEATURES))
        self.value_net = nn.Linear(self.mlp_extractor.latent_dim_vf, 1)
        if self.ortho_init:  # SB3's gains: sqrt(2) hidden, 0.01 action outputs, 1 value
            module_gains: dict[nn.Module, float] = {
                self.mlp_extractor: np.sqrt(2),
                self.goal_head: 0.01,
                self.portfolio_head: 0.01,
                self.value_net: 1.0,
            }
            if isinstance(self.goal_head, DecisionScoringHead):  # hidden layer, then output
                module_gains[self.goal_head] = np.sqrt(2)
                module_gains[self.goal_head.score] = 0.01
            extractors = {self.pi_features_extractor, self.vf_features_extractor}
            module_gains.update({fe: np.sqrt(2) for fe in extractors})
            for module, gain in module_gains.items():
                module.apply(partial(self.init_weights, gain=gain))
        # torch types Optimizer's own constructor (params, defaults); the optimizer classes
        # SB3 accepts all take the learning rate as ``lr``.
        optimizer_class = cast(Callable[..., th.optim.Optimizer], self.optimizer_class)
        self.optimizer = optimizer_class(
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def _latents(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor]:
        features = self.extract_features(obs)
        if self.share_features_extractor:
            return self.mlp_extractor(features)
        pi_features, vf_features = features
        return (
            self.mlp_extractor.forward_actor(pi_features),
            self.mlp_extractor.forward_critic(vf_features),
        )

    def _distribution(
        self, latent_pi: th.Tensor, obs: th.Tensor, action_masks: MaybeMasks = None
    ) -> GBWMActionDistribution:
        mask = decision_mask_from_obs(obs, self.n_decisions) if self.general_observation else None
        dist = self.action_dist.proba_distribution(
            self.goal_logits(latent_pi, obs), self.portfolio_logits(latent_pi),
            goal_active_from_obs(obs), mask,
        )
        if action_masks is not None:
            dist.apply_masking(action_masks)
        return dist

    def goal_logits(self, latent_pi: th.Tensor, obs: th.Tensor) -> th.Tensor:
        """Goal logits (batch, K): from the latent alone, or with ``decision_goal_head``
        each decision scored from the latent and its features in ``obs``."""
        if isinstance(self.goal_head, DecisionScoringHead):
            start = DECISION_FLAGS_START + self.n_decisions
            stop = start + decision_features_size(self.n_decisions)
            features = obs[:, start:stop].reshape(obs.shape[0], self.n_decisions, -1)
            return self.goal_head(latent_pi, features)
        return self.goal_head(latent_pi)

    def portfolio_logits(self, latent_pi: th.Tensor) -> th.Tensor:
        """Portfolio logits (batch, rows * n) from the policy latent (1 row, or 1 per decision)."""
        out = self.portfolio_head(latent_pi)
        if self.portfolio_basis is None:
            return out
        coefficients = out.view(out.shape[0], -1, self.portfolio_basis.shape[0])
        return (coefficients @ self.portfolio_basis).view(out.shape[0], -1)

    def forward(
        self, obs: th.Tensor, deterministic: bool = False, action_masks: MaybeMasks = None
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """Actions, values and log-probabilities (the rollout-collection pass)."""
        latent_pi, latent_vf = self._latents(obs)
        dist = self._distribution(latent_pi, obs, action_masks)
        actions = dist.get_actions(deterministic=deterministic)
        return actions, self.value_net(latent_vf), dist.log_prob(actions)

    def evaluate_actions(
        self, obs: PyTorchObs, actions: th.Tensor, action_masks: MaybeMasks = None
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """Values, log-probabilities of ``actions`` and entropies (the PPO update pass)."""
        latent_pi, latent_vf = self._latents(obs)
        dist = self._distribution(latent_pi, _box_obs(obs), action_masks)
        return self.value_net(latent_vf), dist.log_prob(actions), dist.entropy()

    def goal_active(self, obs: th.Tensor) -> th.Tensor:
        """Boolean (batch,): where the goal decision has an effect (a goal is affordable).

        Where it has none, the goal head adds nothing to the log-probability or the
        entropy; FastPPO's update asks the policy rather than reading the observation.
        """
        return goal_active_from_obs(obs)

    def get_distribution(
        self, obs: PyTorchObs, action_masks: MaybeMasks = None
    ) -> GBWMActionDistribution:
        """The action distribution for ``obs`` (used by ``predict``)."""
        features = BaseModel.extract_features(self, obs, self.pi_features_extractor)
        latent_pi = self.mlp_extractor.forward_actor(features)
        return self._distribution(latent_pi, _box_obs(obs), action_masks)


class GBWMPolicy(_GBWMHeads, ActorCriticPolicy):
    """Actor-critic policy for ``PPO`` on GBWM: goal head masked by the observation.

    Keyword arguments are SB3's (``net_arch=dict(pi=[64, 64], vf=[64, 64])`` by
    default, ``activation_fn=nn.Tanh``, ``ortho_init=True``, ...) and two of its own:

    - ``portfolio_degree=None``: with an integer d, the portfolio logits are a
      polynomial of degree d over the portfolios' positions on the frontier
      (Legendre basis, ``legendre_portfolio_basis``; d = 2 is a discretised Gaussian
      over the ordered portfolios) whose coefficients the head outputs, plus, with
      ``portfolio_free_logits=True`` (default), one free logit per portfolio.
      Neighbouring portfolios then share what is learnt about each; the portfolios
      must be ordered by risk, as ``efficient_frontier`` and ``paper_portfolios``
      give them.
    - ``portfolio_given_goal=False``: with True, one portfolio distribution for
      "skip" and one for "take" (see ``GBWMActionDistribution``).
    - ``decision_goal_head=False``: with True (general class, an env built with
      ``decision_features=True``), the goal head scores each decision from the policy
      latent and the decision's own features with shared weights
      (:class:`DecisionScoringHead`) instead of one free logit per decision index.
    """

    action_dist: GBWMActionDistribution


class MaskableGBWMPolicy(_GBWMHeads, MaskableActorCriticPolicy):
    """``GBWMPolicy`` for ``sb3_contrib.MaskablePPO``: also applies the env's action masks."""

    action_dist: GBWMActionDistribution
