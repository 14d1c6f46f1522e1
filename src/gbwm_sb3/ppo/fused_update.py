"""The hand-written forward and backward pass of ``FastPPO`` for ``GBWMPolicy``.

For :class:`~gbwm_sb3.policies.GBWMPolicy` (identical policy and value MLPs with ``Tanh``
or ``ReLU``, any of its portfolio-head options) the PPO loss is differentiated by hand:
the policy and value networks run as one batched computation, gradients land in one
flat buffer, and gradient clipping and Adam act on that buffer (elementwise identical to
``torch.optim.Adam``). :func:`build_fused_update` returns ``None`` for any policy this
path does not cover; ``FastPPO`` then uses autograd.

The goal head has ``K`` logits (2 for the paper's family). For a problem of the
general class the observation carries one availability flag per decision; the
logits of unavailable decisions are set to ``MASKED_LOGIT`` in the forward pass
and get no gradient, as ``GBWMPolicy`` does with autograd. The decision-scoring goal
head (:class:`~gbwm_sb3.policies.DecisionScoringHead`, ``decision_goal_head``) is
differentiated by hand too: ``logit_d = w . tanh(A latent + B f_d + b) + c`` over the
observation's decision features ``f_d``.
"""

from __future__ import annotations

from typing import Any, cast

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import FlattenExtractor
from torch import nn
from torch.nn import functional as F

from gbwm_sb3.envs.observation import (
    DECISION_FEATURES,
    DECISION_FLAGS_START,
    GOAL_AFFORDABLE_INDEX,
    decision_features_size,
)
from gbwm_sb3.policies import (
    DecisionScoringHead,
    branch_rows,
    decision_mask_from_obs,
    mask_goal_logits,
)

__all__ = ["FusedGBWMUpdate", "build_fused_update", "fused_path_available"]

_ACTIVATIONS = (nn.Tanh, nn.ReLU)


def _log_softmax_last(logits: th.Tensor) -> th.Tensor:
    """``log_softmax`` over the last dimension, computed with that dimension outermost.

    For these short rows (2 or 15 logits) torch's CPU kernel is 5-7x faster reducing
    over the outer dimension of a (n, batch) view than over the inner one; the
    values are the same up to rounding.
    """
    return F.log_softmax(logits.movedim(-1, 0), dim=0).movedim(0, -1)


class FusedGBWMUpdate:
    """Hand-written forward/backward + clipping + Adam for GBWMPolicy-shaped policies.

    Parameters live in one flat float buffer laid out so that the policy and value
    MLPs form stacked (2, out, in) weights (one ``baddbmm`` per layer) and the goal
    and portfolio heads one (K + n, hidden) matrix (the portfolio head alone, and the
    decision-scoring head's own layers, with a decision-scoring goal head); gradients go
    to a flat buffer of the same layout. ``general`` (a general-class observation): the
    goal logits are masked with the decision flags of the observation.
    """

    # Set by FastPPO once it has checked the update and the forward pass against SB3's
    # (absent until then).
    verified: bool
    forward_verified: bool

    def __init__(self, policy: ActorCriticPolicy, layers: list[tuple[nn.Linear, nn.Linear]],
                 activation: type[nn.Module], n_portfolios: int,
                 portfolio_given_goal: bool = False, n_decisions: int = 2,
                 general: bool = False) -> None:
        self.policy = policy
        self.optimizer = policy.optimizer
        self.activation = activation
        self.n_portfolios = n_portfolios
        self.n_decisions = int(n_decisions)
        self.general = bool(general)
        # One portfolio distribution per goal decision (rows skip, take), see GBWMPolicy.
        self.conditional = bool(portfolio_given_goal)
        # (degree, n) polynomial basis of a GBWMPolicy with portfolio_degree, else None.
        self.basis: th.Tensor | None = getattr(policy, "portfolio_basis", None)
        # the heads are nn.Linear layers, or the goal head a DecisionScoringHead
        # (build_fused_update checks them)
        port = cast(nn.Linear, policy.portfolio_head)
        value = policy.value_net
        self.decision_head = isinstance(policy.goal_head, DecisionScoringHead)
        # Groups of parameters adjacent in the flat buffer, and how each group is viewed:
        # "stack" -> (2, *shape) (policy and value layer side by side), "cat" -> rows
        # concatenated along the output dimension (goal and portfolio heads).
        groups: list[tuple[list[th.Tensor], str]] = []
        for pi_layer, vf_layer in layers:
            groups.append(([pi_layer.weight, vf_layer.weight], "stack"))
            groups.append(([pi_layer.bias, vf_layer.bias], "stack"))
        names = [f"layer{i}" for i in range(2 * len(layers))]
        if self.decision_head:
            scorer = cast(DecisionScoringHead, policy.goal_head)
            groups += [([port.weight], "cat"), ([port.bias], "cat"),
                       ([scorer.latent.weight], "cat"), ([scorer.latent.bias], "cat"),
                       ([scorer.features.weight], "cat"), ([scorer.score.weight], "cat"),
                       ([scorer.score.bias], "cat")]
            names += ["head_w", "head_b", "latent_w", "latent_b", "features_w", "score_w",
                      "score_b"]
            self.features_start = DECISION_FLAGS_START + self.n_decisions
            self.features_stop = self.features_start + decision_features_size(self.n_decisions)
        else:
            goal = cast(nn.Linear, policy.goal_head)
            groups += [([goal.weight, port.weight], "cat"), ([goal.bias, port.bias], "cat")]
            names += ["head_w", "head_b"]
        groups += [([value.weight], "cat"), ([value.bias], "cat")]
        names += ["val_w", "val_b"]
        self.params: list[th.Tensor] = [p for group, _ in groups for p in group]
        total = sum(p.numel() for p in self.params)
        ref = self.params[0]
        self.flat = th.zeros(total, dtype=ref.dtype, device=ref.device)
        self.grad = th.zeros_like(self.flat)
        self.exp_avg = th.zeros_like(self.flat)
        self.exp_avg_sq = th.zeros_like(self.flat)
        self.param_views: list[th.Tensor] = []
        offset = 0
        for p in self.params:
            self.param_views.append(self.flat[offset: offset + p.numel()].view_as(p))
            offset += p.numel()
        self.group_views: list[tuple[th.Tensor, th.Tensor]] = []  # (param, grad) per group
        offset = 0
        for group, kind in groups:
            size = sum(p.numel() for p in group)
            if kind == "stack":
                shape = (len(group), *group[0].shape)
            else:
                shape = (sum(p.shape[0] for p in group), *group[0].shape[1:])
            self.group_views.append((self.flat[offset: offset + size].view(shape),
                                     self.grad[offset: offset + size].view(shape)))
            offset += size
        # (parameter, gradient) views by name: "head_w" / "head_b" (goal and portfolio
        # heads, or the portfolio head alone), "val_w" / "val_b", and the decision-scoring
        # head's "latent_w", "latent_b", "features_w", "score_w", "score_b"
        self.views = dict(zip(names, self.group_views, strict=True))
        self.n_layers = len(layers)

    def still_matches(self) -> bool:
        """Whether the policy still has these parameter tensors, dtype and optimiser."""
        params = list(self.policy.parameters())
        return (self.optimizer is self.policy.optimizer and len(params) == len(self.params)
                and {id(p) for p in params} == {id(p) for p in self.params}
                and all(p.dtype == self.flat.dtype and p.device == self.flat.device
                        for p in params))

    # -- state transfer ---------------------------------------------------------
    def load_params(self) -> None:
        """Copy the module parameters into the flat buffer."""
        with th.no_grad():
            th.cat([p.detach().reshape(-1) for p in self.params], out=self.flat)

    def load_state(self) -> int:
        """Copy parameters and Adam state in; return Adam's step count."""
        self.load_params()
        state = self.optimizer.state
        steps = set()
        if all(p in state and "exp_avg" in state[p] for p in self.params):
            th.cat([state[p]["exp_avg"].reshape(-1) for p in self.params], out=self.exp_avg)
            th.cat([state[p]["exp_avg_sq"].reshape(-1) for p in self.params], out=self.exp_avg_sq)
            steps = {float(state[p]["step"]) for p in self.params}
        else:
            self.exp_avg.zero_()
            self.exp_avg_sq.zero_()
            steps = {0.0}
        if len(steps) != 1:
            raise RuntimeError("Adam step counts differ between parameters")
        return int(steps.pop())

    def store_state(self, step: int) -> None:
        """Write parameters and Adam state back (torch.optim.Adam's own format)."""
        with th.no_grad():
            for p, view in zip(self.params, self.param_views, strict=True):
                p.copy_(view)
        state = self.optimizer.state
        offset = 0
        for p in self.params:
            k = p.numel()
            entry = state[p]
            entry["step"] = th.tensor(float(step), dtype=th.float32)
            entry["exp_avg"] = self.exp_avg[offset: offset + k].view_as(p).clone()
            entry["exp_avg_sq"] = self.exp_avg_sq[offset: offset + k].view_as(p).clone()
            offset += k

    # -- forward / backward -----------------------------------------------------
    def _layer(self, bias: th.Tensor, h: th.Tensor, weight: th.Tensor) -> th.Tensor:
        """activation(h @ weight^T + bias) for the stacked (2, ...) policy/value layer."""
        if self.activation is nn.Tanh:
            # tanh(a) = 2 sigmoid(2a) - 1: torch's CPU sigmoid is about twice as fast as
            # its tanh, and the factor 2 folds into the matrix product (equal to ~1 ulp).
            two_a = th.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2), beta=2.0, alpha=2.0)
            return two_a.sigmoid_().mul_(2.0).sub_(1.0)
        return th.relu(th.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2)))

    def _act_backward(self, grad: th.Tensor, out: th.Tensor) -> th.Tensor:
        if self.activation is nn.Tanh:
            return th.ops.aten.tanh_backward(grad, out)
        return th.ops.aten.threshold_backward(grad, out, 0)

    def _decision_mask(self, obs: th.Tensor) -> th.Tensor | None:
        """(batch, K) available decisions for the general class, else None."""
        return decision_mask_from_obs(obs, self.n_decisions) if self.general else None

    def forward(self, obs: th.Tensor, actions: th.Tensor, active: th.Tensor,
                out: tuple[th.Tensor, th.Tensor, th.Tensor] | None = None):
        """Log-prob, entropy, value (written to ``out`` if given) and the backward cache."""
        batch = obs.shape[0]
        h = obs.unsqueeze(0).expand(2, batch, obs.shape[1])
        hidden = [h]
        for layer in range(self.n_layers):
            weight, bias = self.group_views[2 * layer][0], self.group_views[2 * layer + 1][0]
            h = self._layer(bias, h, weight)
            hidden.append(h)
        goal_logits, port_out, scored = self._head_outputs(h[0], obs)
        val_w, val_b = self.views["val_w"][0], self.views["val_b"][0]
        if out is None:
            out = (th.empty_like(obs[:, 0]), th.empty_like(obs[:, 0]), th.empty_like(obs[:, 0]))
        value = th.addmm(val_b, h[1], val_w.t(), out=out[2].unsqueeze(1)).squeeze(1)
        mask = self._decision_mask(obs)
        goal_logp = _log_softmax_last(mask_goal_logits(goal_logits, mask))
        goal_np = goal_logp.exp().neg_()  # -probabilities
        goal_h = (goal_np * goal_logp).sum(1)
        goal_a, port_a = actions[:, :1], actions[:, 1:]
        heads = self._portfolio_terms(self._portfolio_logits(port_out), goal_np, goal_a,
                                      active)
        port_logp, port_np, port_h, branch, weights = heads
        port_entropy = port_h if weights is None else (weights * port_h).sum(1)
        selected = port_logp if branch is None else branch_rows(port_logp, branch)
        log_prob = th.addcmul(selected.gather(1, port_a).squeeze(1),
                              goal_logp.gather(1, goal_a).squeeze(1), active, out=out[0])
        entropy = th.addcmul(port_entropy, goal_h, active, out=out[1])
        cache = (hidden, goal_logp, goal_np, goal_h, goal_a, port_a, heads, mask, scored)
        return log_prob, entropy, value, cache

    def _head_outputs(self, latent: th.Tensor, obs: th.Tensor
                      ) -> tuple[th.Tensor, th.Tensor, tuple[th.Tensor, th.Tensor] | None]:
        """Goal logits (batch, K), the portfolio head's output and, for a decision-scoring
        goal head, its backward cache (the decision features and the tanh layer)."""
        k = self.n_decisions
        head_w, head_b = self.views["head_w"][0], self.views["head_b"][0]
        out = th.addmm(head_b, latent, head_w.t())
        if not self.decision_head:
            return out[:, :k], out[:, k:], None
        batch = obs.shape[0]
        # (batch K, F): one row per decision, so every product below is a plain mm
        features = obs[:, self.features_start: self.features_stop].reshape(batch * k, -1)
        latent_w, latent_b = self.views["latent_w"][0], self.views["latent_b"][0]
        features_w = self.views["features_w"][0]
        score_w, score_b = self.views["score_w"][0], self.views["score_b"][0]
        width = latent_w.shape[0]
        # tanh(a) = 2 sigmoid(2a) - 1, as in the MLP layers (torch's CPU sigmoid is about
        # twice as fast as its tanh; equal to ~1 ulp)
        pre = th.mm(features, features_w.t()).view(batch, k, width).add_(
            th.addmm(latent_b, latent, latent_w.t()).unsqueeze(1))
        hidden = pre.mul_(2.0).sigmoid_().mul_(2.0).sub_(1.0).view(batch * k, width)
        logits = th.mv(hidden, score_w[0]).view(batch, k).add_(score_b)
        return logits, out, (features, hidden)

    def _portfolio_terms(self, logits: th.Tensor, goal_np: th.Tensor, goal_a: th.Tensor,
                         active: th.Tensor):
        """Log-probabilities, -probabilities and entropies of the portfolio head.

        Independent head: (batch, n) arrays, ``branch`` and ``weights`` None.
        Conditional head: (batch, K, n) arrays and (batch, K) entropies, the row that
        applies to each stored action (``branch``) and the entropy weights p(goal)
        where the goal decision counts, (1, 0, ..., 0) elsewhere.
        """
        if not self.conditional:
            port_logp = _log_softmax_last(logits)
            port_np = port_logp.exp().neg_()
            return port_logp, port_np, (port_np * port_logp).sum(1), None, None
        k = self.n_decisions
        port_logp = _log_softmax_last(logits.reshape(logits.shape[0], k, self.n_portfolios))
        port_np = port_logp.exp().neg_()
        port_h = (port_np * port_logp).sum(2)
        branch = goal_a.squeeze(1) * active.to(goal_a.dtype)
        act = active.unsqueeze(1)
        rest = act.new_zeros((act.shape[0], k - 1))
        weights = th.addcmul(th.cat((1.0 - act, rest), 1), -goal_np, act)
        return port_logp, port_np, port_h, branch, weights

    def _portfolio_logits(self, head_out: th.Tensor) -> th.Tensor:
        """Portfolio head output -> logits (batch, rows * n): the polynomial basis if any."""
        if self.basis is None:
            return head_out
        batch = head_out.shape[0]
        coefficients = head_out.reshape(batch, -1, self.basis.shape[0])
        return th.matmul(coefficients, self.basis).reshape(batch, -1)

    def _portfolio_logits_backward(self, d_logits: th.Tensor) -> th.Tensor:
        """Gradient with respect to the head output, given the one with respect to the logits."""
        if self.basis is None:
            return d_logits
        batch = d_logits.shape[0]
        rows = d_logits.reshape(batch, -1, self.n_portfolios)
        return th.matmul(rows, self.basis.t()).reshape(batch, -1)

    def _goal_active(self, obs: th.Tensor) -> th.Tensor:
        """Where the goal decision has an effect, as the policy says (``goal_active``)."""
        ask = getattr(self.policy, "goal_active", None)
        return ask(obs) if callable(ask) else obs[:, GOAL_AFFORDABLE_INDEX] > 0.5

    def sample(self, obs: th.Tensor) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """GBWMPolicy.forward(obs): sampled actions (N, 2), values (N, 1), log-probs (N,).

        Samples each head with ``torch.multinomial`` on its probabilities, goal head
        first, as ``torch.distributions.Categorical.sample`` does (a conditional
        portfolio head samples both rows, then keeps the one of the goal decision);
        the goal action is 0 ("skip") where the goal decision has no effect.
        """
        active = self._goal_active(obs)
        k = self.n_decisions
        h = obs.unsqueeze(0).expand(2, obs.shape[0], obs.shape[1])
        for layer in range(self.n_layers):
            h = self._layer(self.group_views[2 * layer + 1][0], h, self.group_views[2 * layer][0])
        goal_logits, port_out, _ = self._head_outputs(h[0], obs)
        value = th.addmm(self.views["val_b"][0], h[1], self.views["val_w"][0].t())
        goal_logp = _log_softmax_last(mask_goal_logits(goal_logits, self._decision_mask(obs)))
        # multinomial draws differently from a non-contiguous tensor: keep SB3's stream
        goal = th.multinomial(goal_logp.exp().contiguous(), 1, True)
        port_logits = self._portfolio_logits(port_out)
        if self.conditional:
            n = self.n_portfolios
            port_logp = _log_softmax_last(port_logits.reshape(-1, n))
            both = th.multinomial(port_logp.exp().contiguous(), 1, True).view(-1, k)
            goal.mul_(active.unsqueeze(1))
            port = both.gather(1, goal)
            port_logp = branch_rows(port_logp.view(-1, k, n), goal.squeeze(1))
        else:
            port_logp = _log_softmax_last(port_logits)
            port = th.multinomial(port_logp.exp().contiguous(), 1, True)
            goal.mul_(active.unsqueeze(1))
        log_prob = th.where(active, goal_logp.gather(1, goal).squeeze(1), 0.0)
        log_prob += port_logp.gather(1, port).squeeze(1)
        return th.cat((goal, port), dim=1), value, log_prob

    def backward(self, cache, active: th.Tensor, d_log_prob: th.Tensor, d_entropy: float,
                 d_value: th.Tensor) -> None:
        """Gradient of the loss into ``self.grad`` given dL/dlogp, dL/dentropy, dL/dvalue."""
        hidden, goal_logp, goal_np, goal_h, goal_a, port_a, heads, mask, scored = cache
        port_logp, port_np, port_h, branch, weights = heads
        # dH/dz = -p (log p + H); dlogp_a/dz = onehot(a) - p.
        dlp = d_log_prob.unsqueeze(1)
        goal_term = goal_logp + goal_h.unsqueeze(1)
        if branch is None:
            d_port = th.add(dlp, port_logp + port_h.unsqueeze(1), alpha=d_entropy).mul_(port_np)
            d_port.scatter_add_(1, port_a, dlp)
        else:
            # Row b: entropy weight p(b) (or 1/0 where inactive); log-prob only on the
            # stored action's row. The goal logits also move the weights of H(row).
            rows = F.one_hot(branch, self.n_decisions).to(dlp.dtype).mul_(dlp)
            coef = weights.mul(d_entropy).unsqueeze(2)
            d_port = th.addcmul(rows.unsqueeze(2), coef, port_logp + port_h.unsqueeze(2))
            d_port = d_port.mul_(port_np).reshape(port_np.shape[0], -1)
            d_port.scatter_add_(1, branch.unsqueeze(1) * self.n_portfolios + port_a, dlp)
            expected_h = (port_h * goal_np).sum(1, keepdim=True).neg_()
            goal_term = goal_term + expected_h - port_h
        dlp_goal = (d_log_prob * active).unsqueeze(1)
        d_goal = th.addcmul(dlp_goal, (active * d_entropy).unsqueeze(1), goal_term).mul_(goal_np)
        d_goal.scatter_add_(1, goal_a, dlp_goal)
        if mask is not None:  # masked logits are constants: no gradient
            d_goal.masked_fill_(~mask, 0.0)
        d_port_out = self._portfolio_logits_backward(d_port)
        (head_w, g_head_w), (_, g_head_b) = self.views["head_w"], self.views["head_b"]
        (val_w, g_val_w), (_, g_val_b) = self.views["val_w"], self.views["val_b"]
        h = hidden[-1]
        d_logits = d_port_out if scored is not None else th.cat((d_goal, d_port_out), dim=1)
        th.mm(d_logits.t(), h[0], out=g_head_w)
        th.sum(d_logits, 0, out=g_head_b)
        dv = d_value.unsqueeze(1)
        th.mm(dv.t(), h[1], out=g_val_w)
        th.sum(dv, 0, out=g_val_b)
        dh = th.empty_like(h)
        th.mm(d_logits, head_w, out=dh[0])
        th.mm(dv, val_w, out=dh[1])
        if scored is not None:
            dh[0] += self._decision_head_backward(d_goal, h[0], scored)
        for layer in range(self.n_layers - 1, -1, -1):
            da = self._act_backward(dh, hidden[layer + 1])
            weight, g_weight = self.group_views[2 * layer]
            g_bias = self.group_views[2 * layer + 1][1]
            th.bmm(da.transpose(1, 2), hidden[layer], out=g_weight)
            th.sum(da, 1, out=g_bias)
            if layer > 0:
                dh = th.bmm(da, weight)

    def _decision_head_backward(self, d_logits: th.Tensor, latent: th.Tensor,
                                scored: tuple[th.Tensor, th.Tensor]) -> th.Tensor:
        """Gradients of the decision-scoring head's parameters from dL/dlogits (batch, K);
        returns dL/dlatent (batch, hidden) through it."""
        features, hidden = scored  # (batch K, F) and (batch K, width)
        (latent_w, g_latent_w), (_, g_latent_b) = self.views["latent_w"], self.views["latent_b"]
        g_features_w = self.views["features_w"][1]
        (score_w, g_score_w), (_, g_score_b) = self.views["score_w"], self.views["score_b"]
        flat = d_logits.reshape(1, -1)
        th.mm(flat, hidden, out=g_score_w)
        th.sum(flat, 1, out=g_score_b)
        d_pre = th.ops.aten.tanh_backward(flat.t() * score_w, hidden)  # (batch K, width)
        th.mm(d_pre.t(), features, out=g_features_w)
        d_latent = d_pre.view(d_logits.shape[0], d_logits.shape[1], -1).sum(1)
        th.mm(d_latent.t(), latent, out=g_latent_w)
        th.sum(d_latent, 0, out=g_latent_b)
        return th.mm(d_latent, latent_w)

    def clip_and_step(self, max_grad_norm: float, lr: float, beta1: float, beta2: float,
                      eps: float, step: int) -> None:
        """clip_grad_norm_ then one torch.optim.Adam step, on the flat buffers."""
        total_norm = th.linalg.vector_norm(self.grad)
        coef = th.div(max_grad_norm, total_norm.add_(1e-6)).clamp_(max=1.0)
        self.grad.mul_(coef)
        self.exp_avg.lerp_(self.grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(self.grad, self.grad, value=1 - beta2)
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1
        denom = (self.exp_avg_sq.sqrt() / bias_correction2**0.5).add_(eps)
        self.flat.addcdiv_(self.exp_avg, denom, value=-step_size)


def _plain_scorer(head: DecisionScoringHead) -> bool:
    """Whether a decision-scoring head has the layers the hand-written pass assumes."""
    latent, features, score = head.latent, head.features, head.score
    return (type(latent) is nn.Linear and latent.bias is not None
            and type(features) is nn.Linear and features.bias is None
            and type(score) is nn.Linear and score.bias is not None and score.out_features == 1
            and latent.out_features == features.out_features == score.in_features
            and features.in_features == len(DECISION_FEATURES))


def _fused_layers(policy: Any) -> tuple[list[tuple[nn.Linear, nn.Linear]], type[nn.Module]] | None:
    """The paired (policy, value) Linear layers when both MLPs share one shape, else None."""
    extractor = getattr(policy, "mlp_extractor", None)
    pi_net = getattr(extractor, "policy_net", None)
    vf_net = getattr(extractor, "value_net", None)
    if not isinstance(pi_net, nn.Sequential) or not isinstance(vf_net, nn.Sequential):
        return None
    pi_mods, vf_mods = list(pi_net), list(vf_net)
    if len(pi_mods) != len(vf_mods) or len(pi_mods) == 0 or len(pi_mods) % 2:
        return None
    layers, activation = [], None
    for i in range(0, len(pi_mods), 2):
        lin_p, act_p, lin_v, act_v = pi_mods[i], pi_mods[i + 1], vf_mods[i], vf_mods[i + 1]
        if not (type(lin_p) is nn.Linear and type(lin_v) is nn.Linear):
            return None
        if lin_p.weight.shape != lin_v.weight.shape or lin_p.bias is None or lin_v.bias is None:
            return None
        if type(act_p) is not type(act_v) or type(act_p) not in _ACTIVATIONS:
            return None
        if activation is not None and type(act_p) is not activation:
            return None
        activation = type(act_p)
        layers.append((lin_p, lin_v))
    if activation is None:  # no layers (excluded above)
        return None
    return layers, activation


def fused_path_available(policy: Any) -> bool:
    """Whether FastPPO can use the hand-written update for ``policy`` (structure check only)."""
    return build_fused_update(policy) is not None


def build_fused_update(policy: Any) -> FusedGBWMUpdate | None:
    if not isinstance(policy, ActorCriticPolicy):
        return None
    space = policy.action_space
    if not isinstance(space, spaces.MultiDiscrete) or space.nvec.shape != (2,) \
            or int(space.nvec[0]) < 2:
        return None
    k = int(space.nvec[0])
    obs_space = policy.observation_space
    if not isinstance(obs_space, spaces.Box) or len(obs_space.shape) != 1 \
            or obs_space.shape[0] <= GOAL_AFFORDABLE_INDEX:
        return None
    general = getattr(policy, "general_observation", False) is True
    # the regime one-hot, the survival and the inflation column, last: plain inputs
    regimes = getattr(policy, "regime_columns", 0)
    survival = getattr(policy, "survival_columns", 0)
    inflation = getattr(policy, "inflation_columns", 0)
    scorer = getattr(policy, "goal_head", None)
    scored = isinstance(scorer, DecisionScoringHead)
    features = decision_features_size(k) if scored else 0
    if scored and not (general and getattr(policy, "decision_features", False) is True
                       and _plain_scorer(cast(DecisionScoringHead, scorer))):
        return None
    if general and (not isinstance(regimes, int) or not isinstance(inflation, int)
                    or not isinstance(survival, int)
                    or obs_space.shape[0] != DECISION_FLAGS_START + k + features + regimes
                    + survival + inflation):
        return None
    if k != 2 and not general:
        return None
    extractors = {type(policy.features_extractor), type(policy.pi_features_extractor),
                  type(policy.vf_features_extractor)}
    if extractors != {FlattenExtractor}:
        return None
    names = ("portfolio_head", "value_net") if scored else ("goal_head", "portfolio_head",
                                                            "value_net")
    heads = [getattr(policy, name, None) for name in names]
    linear_heads = [h for h in heads if type(h) is nn.Linear and h.bias is not None]
    if len(linear_heads) != len(heads):
        return None
    portfolio_head, value_head = linear_heads[-2:]
    n = int(space.nvec[1])
    conditional = getattr(policy, "portfolio_given_goal", False) is True
    basis = getattr(policy, "portfolio_basis", None)
    if basis is not None and (not isinstance(basis, th.Tensor) or basis.dim() != 2
                              or basis.shape[1] != n):
        return None
    n_port_logits = (k if conditional else 1) * (n if basis is None else basis.shape[0])
    goal_outputs = k if scored else linear_heads[0].out_features
    if goal_outputs != k or portfolio_head.out_features != n_port_logits \
            or value_head.out_features != 1:
        return None
    found = _fused_layers(policy)
    if found is None:
        return None
    layers, activation = found
    fused = FusedGBWMUpdate(policy, layers, activation, n, conditional, k, general)
    policy_params = list(policy.parameters())
    if {id(p) for p in policy_params} != {id(p) for p in fused.params} \
            or len(policy_params) != len(fused.params):
        return None
    if len({(p.dtype, p.device) for p in policy_params}) != 1 \
            or not all(p.requires_grad for p in policy_params):
        return None
    opt = policy.optimizer
    if type(opt) is not th.optim.Adam or len(opt.param_groups) != 1:
        return None
    group = opt.param_groups[0]
    if {id(p) for p in group["params"]} != {id(p) for p in policy_params}:
        return None
    if group.get("weight_decay", 0) != 0 or group.get("amsgrad") or group.get("maximize") \
            or group.get("differentiable") or group.get("capturable"):
        return None
    if any(isinstance(group.get(k), th.Tensor) for k in ("lr", "betas")):
        return None
    return fused
