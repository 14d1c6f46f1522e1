"""``FastPPO``: Stable-Baselines3's PPO with a lean update loop, same mathematics.

``PPO.train()`` spends most of its time on per-minibatch overhead rather than
arithmetic: SB3's ``RolloutBuffer.get()`` copies every minibatch, the policy
builds distribution objects, autograd records a graph of a few hundred tiny
operations, Adam steps each parameter tensor separately, and five ``.item()``
host synchronisations per minibatch feed the logger. ``FastPPO.train()`` keeps
the objective and the optimiser state of ``PPO.train()`` but removes that
overhead:

- the rollout is converted to contiguous tensors once per update and gathered
  in minibatch order once per epoch (the same ``np.random.permutation`` draws
  as ``RolloutBuffer.get()``, so a seeded run visits the same minibatches);
- advantage normalisation of every minibatch is done for the whole epoch at once;
- logged statistics are computed on-device for the whole epoch from stored
  per-sample log-probabilities, values and entropies (no per-minibatch syncs);
- for :class:`~gbwm_sb3.policies.GBWMPolicy` (identical policy and value MLPs with
  ``Tanh`` or ``ReLU``, any of its portfolio-head options) the forward and
  backward passes are written out by hand (:mod:`gbwm_sb3.ppo.fused_update`):
  the policy and value networks run as one batched computation, gradients land
  in one flat buffer, and gradient clipping and Adam act on that buffer
  (elementwise identical to ``torch.optim.Adam``); the parameters and the
  optimiser's ``exp_avg`` / ``exp_avg_sq`` / ``step`` state are written back
  after each update, so saving, loading and continuing with stock ``PPO`` work;
- any other ``ActorCriticPolicy`` uses ``policy.evaluate_actions`` with autograd
  and the policy's own optimiser (still without per-minibatch copies or syncs).

The hand-written path checks itself against autograd (log-probabilities,
values, entropies and the gradient of the PPO loss on one minibatch) the first
time it runs for a policy, and falls back to the autograd path with a warning
if they disagree. ``target_kl`` early stopping needs the KL estimate of every
minibatch and therefore syncs once per minibatch when it is set.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.utils import explained_variance, obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv
from torch.nn import functional as F

from gbwm_sb3.ppo.callbacks import GBWMTrainingMixin
from gbwm_sb3.ppo.fused_update import (
    FusedGBWMUpdate,
    build_fused_update,
    fused_path_available,
)

__all__ = ["FastPPO", "fused_path_available"]

_CHECK_BATCH = 64
_CHECK_RTOL = 1e-4


class _FusedPolicy(Protocol):
    """What the fused path asks of the policy besides its layers (``GBWMPolicy`` has it)."""

    def goal_active(self, obs: th.Tensor) -> th.Tensor: ...

    def evaluate_actions(self, obs: th.Tensor, actions: th.Tensor
                         ) -> tuple[th.Tensor, th.Tensor, th.Tensor]: ...

    def zero_grad(self, set_to_none: bool = True) -> None: ...


_Sampler = Callable[[th.Tensor], tuple[th.Tensor, th.Tensor, th.Tensor]]


@dataclass
class _Rollout:
    """The rollout as flat (N, ...) tensors in RolloutBuffer.get()'s sample order."""

    observations: th.Tensor
    actions: th.Tensor
    old_values: th.Tensor
    old_log_prob: th.Tensor
    advantages: th.Tensor
    returns: th.Tensor

    def permuted(self, index: th.Tensor) -> _Rollout:
        return _Rollout(*(t.index_select(0, index) for t in self.astuple()))

    def astuple(self) -> tuple[th.Tensor, ...]:
        return (self.observations, self.actions, self.old_values, self.old_log_prob,
                self.advantages, self.returns)

    def __len__(self) -> int:
        return self.returns.shape[0]


def _rollout_tensors(buffer: RolloutBuffer, action_space: spaces.Space) -> _Rollout:
    """Flatten the buffer (env-major, as ``swap_and_flatten``) without modifying it."""
    n = buffer.buffer_size * buffer.n_envs

    def flat(array: np.ndarray, tail: tuple[int, ...]) -> th.Tensor:
        tensor = th.from_numpy(array)
        if not buffer.generator_ready:  # (n_steps, n_envs, ...) -> (n_envs * n_steps, ...)
            tensor = tensor.transpose(0, 1)
        return tensor.reshape((n, *tail)).contiguous().to(buffer.device)

    obs = flat(buffer.observations, buffer.obs_shape)
    actions = flat(buffer.actions, (buffer.action_dim,))
    if isinstance(action_space, spaces.Discrete):
        actions = actions.long().flatten()
    return _Rollout(
        observations=obs,
        actions=actions,
        old_values=flat(buffer.values, ()),
        old_log_prob=flat(buffer.log_probs, ()),
        advantages=flat(buffer.advantages, ()),
        returns=flat(buffer.returns, ()),
    )


def _batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    return [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def _normalized_advantages(adv: th.Tensor, bounds: list[tuple[int, int]]) -> th.Tensor:
    """Per-minibatch (x - mean) / (std + 1e-8), all minibatches at once (size 1: unchanged)."""
    out = th.empty_like(adv)
    full = [b for b in bounds if b[1] - b[0] == bounds[0][1] - bounds[0][0]]
    size = bounds[0][1] - bounds[0][0]
    end = len(full) * size
    if size > 1 and full:
        block = adv[:end].view(len(full), size)
        mean = block.mean(1, keepdim=True)
        std = block.std(1, keepdim=True)
        out[:end].view(len(full), size).copy_((block - mean) / (std + 1e-8))
    else:
        out[:end] = adv[:end]
    for start, stop in bounds[len(full):]:
        part = adv[start:stop]
        out[start:stop] = (part - part.mean()) / (part.std() + 1e-8) if stop - start > 1 else part
    return out


def _segment_means(values: th.Tensor, bounds: list[tuple[int, int]]) -> th.Tensor:
    """Mean of ``values`` over each [start, stop) in ``bounds`` (equal sizes but the last)."""
    size = bounds[0][1] - bounds[0][0]
    full = sum(1 for b in bounds if b[1] - b[0] == size)
    parts = [values[: full * size].view(full, size).mean(1)]
    parts += [values[start:stop].mean().view(1) for start, stop in bounds[full:]]
    return th.cat(parts)


class _EpochStats:
    """Per-minibatch training statistics, kept on-device until the end of train()."""

    def __init__(self) -> None:
        self.pg: list[th.Tensor] = []
        self.value: list[th.Tensor] = []
        self.entropy: list[th.Tensor] = []
        self.clip_fraction: list[th.Tensor] = []
        self.approx_kl_last_epoch: th.Tensor | None = None
        self.last_loss: th.Tensor | None = None

    def add_epoch(self, pg: th.Tensor, value: th.Tensor, entropy: th.Tensor,
                  clip_fraction: th.Tensor, approx_kl: th.Tensor, loss: th.Tensor) -> None:
        self.pg.append(pg)
        self.value.append(value)
        self.entropy.append(entropy)
        self.clip_fraction.append(clip_fraction)
        self.approx_kl_last_epoch = approx_kl
        self.last_loss = loss

    @staticmethod
    def _mean(parts: list[th.Tensor]) -> float:
        # SB3 averages Python floats (float32 values) in float64.
        return float(np.mean(th.cat(parts).detach().cpu().numpy().astype(np.float64)))


def _epoch_statistics(data: _Rollout, adv: th.Tensor, log_prob: th.Tensor, values: th.Tensor,
                      entropy: th.Tensor | None, bounds: list[tuple[int, int]],
                      clip_range: float, clip_range_vf: float | None, ent_coef: float,
                      vf_coef: float) -> tuple[th.Tensor, ...]:
    """Per-minibatch losses, clip fraction and KL from the per-sample values of one epoch.

    ``log_prob``, ``values`` and ``entropy`` are the ones each minibatch saw in its
    forward pass (before its own optimiser step), so the figures are PPO.train()'s.
    """
    n = bounds[-1][1]
    old_lp = data.old_log_prob[:n]
    log_ratio = log_prob[:n] - old_lp
    ratio = th.exp(log_ratio)
    a = adv[:n]
    surrogate = th.min(a * ratio, a * th.clamp(ratio, 1 - clip_range, 1 + clip_range))
    pg = -_segment_means(surrogate, bounds)
    clip_fraction = _segment_means((th.abs(ratio - 1) > clip_range).float(), bounds)
    v = values[:n]
    if clip_range_vf is not None:
        old_v = data.old_values[:n]
        v = old_v + th.clamp(v - old_v, -clip_range_vf, clip_range_vf)
    value_loss = _segment_means((data.returns[:n] - v) ** 2, bounds)
    ent = -log_prob[:n] if entropy is None else entropy[:n]
    entropy_loss = -_segment_means(ent, bounds)
    approx_kl = _segment_means((th.exp(log_ratio) - 1) - log_ratio, bounds)
    loss = pg[-1] + ent_coef * entropy_loss[-1] + vf_coef * value_loss[-1]
    return pg, value_loss, entropy_loss, clip_fraction, approx_kl, loss


class FastPPO(GBWMTrainingMixin, PPO):
    """PPO whose ``train()`` is a lean re-implementation of ``PPO.train()``.

    Same constructor, hyperparameters, logged keys and saved files as
    ``stable_baselines3.PPO``: a FastPPO model loads with ``PPO.load`` and a PPO
    model with ``FastPPO.load``. With a :class:`~gbwm_sb3.policies.GBWMPolicy` the
    update runs the hand-written fused path (checked against autograd once);
    otherwise ``policy.evaluate_actions`` with autograd.
    """

    _fused: FusedGBWMUpdate | None = None
    _fused_checked: Any = None  # the policy the fused path was verified for

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_fused", "_fused_checked"]

    def use_autograd_update(self) -> None:
        """Train this model's current policy with the autograd update from now on.

        The hand-written update computes the same gradients (checked once per policy), but
        PPO amplifies rounding differences, so the two give different runs from one seed:
        this reproduces runs made where the hand-written path did not cover a policy.
        """
        self._fused, self._fused_checked = None, self.policy

    # -- dispatch ---------------------------------------------------------------------
    def _fused_update(self) -> FusedGBWMUpdate | None:
        if self._fused_checked is self.policy and self._fused is not None \
                and self._fused.still_matches():
            return self._fused
        if self._fused_checked is self.policy and self._fused is None:
            return None
        fused = build_fused_update(self.policy)
        self._fused, self._fused_checked = fused, self.policy
        return fused

    def train(self) -> None:
        """One PPO update on the collected rollout (see the module docstring)."""
        if type(self.rollout_buffer) is not RolloutBuffer:
            return super().train()  # Dict observations etc.: stock path
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        clip_range = float(self.clip_range(self._current_progress_remaining))  # type: ignore[operator]
        clip_range_vf = None
        if self.clip_range_vf is not None:
            clip_range_vf = float(self.clip_range_vf(self._current_progress_remaining))  # type: ignore[operator]
        data = _rollout_tensors(self.rollout_buffer, self.action_space)
        fused = self._fused_update()
        if fused is not None and not getattr(fused, "verified", False):
            fused.verified = self._verify_fused(fused, data, clip_range, clip_range_vf)
            if not fused.verified:
                self._reject_fused()
                fused = None
        if fused is not None:
            stats = self._train_fused(fused, data, clip_range, clip_range_vf)
        else:
            stats = self._train_autograd(data, clip_range, clip_range_vf)
        self._log_train(stats, clip_range, clip_range_vf)

    def _log_train(self, stats: _EpochStats, clip_range: float,
                   clip_range_vf: float | None) -> None:
        explained_var = explained_variance(self.rollout_buffer.values.flatten(),
                                           self.rollout_buffer.returns.flatten())
        self.logger.record("train/entropy_loss", stats._mean(stats.entropy))
        self.logger.record("train/policy_gradient_loss", stats._mean(stats.pg))
        self.logger.record("train/value_loss", stats._mean(stats.value))
        if stats.approx_kl_last_epoch is None or stats.last_loss is None:
            raise RuntimeError("FastPPO.train() ran no epoch")
        self.logger.record("train/approx_kl", stats._mean([stats.approx_kl_last_epoch]))
        self.logger.record("train/clip_fraction", stats._mean(stats.clip_fraction))
        self.logger.record("train/loss", float(stats.last_loss))
        self.logger.record("train/explained_variance", explained_var)
        if hasattr(self.policy, "log_std"):
            self.logger.record("train/std", th.exp(self.policy.log_std).mean().item())
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/clip_range", clip_range)
        if clip_range_vf is not None:
            self.logger.record("train/clip_range_vf", clip_range_vf)

    def _epochs(self, data: _Rollout):
        """Yield (epoch data in minibatch order, minibatch bounds, normalised advantages)."""
        n = len(data)
        bounds = _batch_bounds(n, self.batch_size)
        for _ in range(self.n_epochs):
            index = th.from_numpy(np.random.permutation(n)).to(data.returns.device)
            epoch = data.permuted(index)
            adv = epoch.advantages
            if self.normalize_advantage:
                adv = _normalized_advantages(adv, bounds)
            yield epoch, bounds, adv

    def _kl_stop(self, log_prob: th.Tensor, old_log_prob: th.Tensor, epoch: int) -> bool:
        if self.target_kl is None:
            return False
        with th.no_grad():
            log_ratio = log_prob - old_log_prob
            approx_kl = th.mean((th.exp(log_ratio) - 1) - log_ratio).item()
        if approx_kl > 1.5 * self.target_kl:
            if self.verbose >= 1:
                print(f"Early stopping at step {epoch} due to reaching max kl: {approx_kl:.2f}")
            return True
        return False

    # -- fused path ---------------------------------------------------------------------
    def _train_fused(self, fused: FusedGBWMUpdate, data: _Rollout, clip_range: float,
                     clip_range_vf: float | None) -> _EpochStats:
        group = self.policy.optimizer.param_groups[0]
        lr, (beta1, beta2), eps = float(group["lr"]), group["betas"], float(group["eps"])
        beta1, beta2 = float(beta1), float(beta2)
        step = fused.load_state()
        ent_coef, vf_coef = float(self.ent_coef), float(self.vf_coef)
        stats = _EpochStats()
        n = len(data)
        log_prob_all = th.empty(n, dtype=data.returns.dtype, device=data.returns.device)
        entropy_all, value_all = th.empty_like(log_prob_all), th.empty_like(log_prob_all)
        continue_training = True
        zero = th.zeros((), dtype=log_prob_all.dtype, device=log_prob_all.device)
        policy = cast(_FusedPolicy, self.policy)
        with th.no_grad():
            for epoch_index, (epoch, bounds, adv) in enumerate(self._epochs(data)):
                actions = epoch.actions.long()
                active = policy.goal_active(epoch.observations).to(adv.dtype)
                done = bounds
                for i, (start, stop) in enumerate(bounds):
                    size = stop - start
                    log_prob, _, value, cache = fused.forward(
                        epoch.observations[start:stop], actions[start:stop], active[start:stop],
                        out=(log_prob_all[start:stop], entropy_all[start:stop],
                             value_all[start:stop]))
                    if self._kl_stop(log_prob, epoch.old_log_prob[start:stop], epoch_index):
                        continue_training = False
                        done = bounds[: i + 1]
                        break
                    a = adv[start:stop]
                    ratio = th.exp(log_prob - epoch.old_log_prob[start:stop])
                    s1 = a * ratio
                    s2 = a * th.clamp(ratio, 1 - clip_range, 1 + clip_range)
                    d_log_prob = th.where(s1 <= s2, s1, zero).mul_(-1.0 / size)
                    if clip_range_vf is None:
                        d_value = (value - epoch.returns[start:stop]).mul_(2.0 * vf_coef / size)
                    else:
                        old_v = epoch.old_values[start:stop]
                        diff = value - old_v
                        pred = old_v + th.clamp(diff, -clip_range_vf, clip_range_vf)
                        d_value = (pred - epoch.returns[start:stop]).mul_(
                            (diff.abs() <= clip_range_vf).to(pred.dtype)
                        ).mul_(2.0 * vf_coef / size)
                    fused.backward(cache, active[start:stop], d_log_prob, -ent_coef / size,
                                   d_value)
                    step += 1
                    fused.clip_and_step(float(self.max_grad_norm), lr, beta1, beta2, eps, step)
                stats.add_epoch(*_epoch_statistics(epoch, adv, log_prob_all, value_all,
                                                   entropy_all, done, clip_range, clip_range_vf,
                                                   ent_coef, vf_coef))
                self._n_updates += 1
                if not continue_training:
                    break
        fused.store_state(step)
        return stats

    # -- generic autograd path ----------------------------------------------------------
    def _train_autograd(self, data: _Rollout, clip_range: float,
                        clip_range_vf: float | None) -> _EpochStats:
        policy, optimizer = self.policy, self.policy.optimizer
        params = list(policy.parameters())
        stats = _EpochStats()
        n = len(data)
        log_prob_all = th.empty(n, dtype=data.returns.dtype, device=data.returns.device)
        value_all = th.empty_like(log_prob_all)
        entropy_all: th.Tensor | None = th.empty_like(log_prob_all)
        continue_training = True
        for epoch_index, (epoch, bounds, adv) in enumerate(self._epochs(data)):
            done = bounds
            for i, (start, stop) in enumerate(bounds):
                values, log_prob, entropy = policy.evaluate_actions(
                    epoch.observations[start:stop], epoch.actions[start:stop])
                values = values.flatten()
                with th.no_grad():
                    log_prob_all[start:stop] = log_prob
                    value_all[start:stop] = values
                    if entropy is None:
                        entropy_all = None
                    elif entropy_all is not None:
                        entropy_all[start:stop] = entropy
                if self._kl_stop(log_prob, epoch.old_log_prob[start:stop], epoch_index):
                    continue_training = False
                    done = bounds[: i + 1]
                    break
                ratio = th.exp(log_prob - epoch.old_log_prob[start:stop])
                a = adv[start:stop]
                policy_loss = -th.min(a * ratio, a * th.clamp(ratio, 1 - clip_range,
                                                              1 + clip_range)).mean()
                if clip_range_vf is None:
                    values_pred = values
                else:
                    old_v = epoch.old_values[start:stop]
                    values_pred = old_v + th.clamp(values - old_v, -clip_range_vf, clip_range_vf)
                value_loss = F.mse_loss(epoch.returns[start:stop], values_pred)
                entropy_loss = -th.mean(-log_prob) if entropy is None else -th.mean(entropy)
                loss = policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                th.nn.utils.clip_grad_norm_(params, self.max_grad_norm)
                optimizer.step()
            with th.no_grad():
                stats.add_epoch(*_epoch_statistics(
                    epoch, adv, log_prob_all, value_all, entropy_all, done, clip_range,
                    clip_range_vf, float(self.ent_coef), float(self.vf_coef)))
            self._n_updates += 1
            if not continue_training:
                break
        return stats

    # -- self-check -------------------------------------------------------------------------
    def _verify_fused(self, fused: FusedGBWMUpdate, data: _Rollout, clip_range: float,
                      clip_range_vf: float | None) -> bool:
        """Compare the hand-written pass with autograd on one small batch; True if they agree."""
        k = min(_CHECK_BATCH, len(data))
        obs, actions = data.observations[:k], data.actions[:k]
        adv, old_lp = data.advantages[:k], data.old_log_prob[:k]
        returns, old_v = data.returns[:k], data.old_values[:k]
        if self.normalize_advantage and k > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        policy = cast(_FusedPolicy, self.policy)
        fused.load_state()
        ent_coef, vf_coef = float(self.ent_coef), float(self.vf_coef)
        # Autograd reference.
        policy.zero_grad(set_to_none=True)
        values, log_prob, entropy = policy.evaluate_actions(obs, actions)
        values = values.flatten()
        ratio = th.exp(log_prob - old_lp)
        policy_loss = -th.min(adv * ratio, adv * th.clamp(ratio, 1 - clip_range,
                                                          1 + clip_range)).mean()
        pred = values if clip_range_vf is None else old_v + th.clamp(
            values - old_v, -clip_range_vf, clip_range_vf)
        loss = policy_loss - ent_coef * entropy.mean() + vf_coef * F.mse_loss(returns, pred)
        loss.backward()
        reference = [p.grad.detach().clone() if p.grad is not None else th.zeros_like(p)
                     for p in fused.params]
        policy.zero_grad(set_to_none=True)
        with th.no_grad():
            active = policy.goal_active(obs).to(adv.dtype)
            lp, ent, val, cache = fused.forward(obs, actions.long(), active)
            r = th.exp(lp - old_lp)
            s1, s2 = adv * r, adv * th.clamp(r, 1 - clip_range, 1 + clip_range)
            d_lp = th.where(s1 <= s2, s1, 0.0) * (-1.0 / k)
            if clip_range_vf is None:
                d_v = (val - returns) * (2.0 * vf_coef / k)
            else:
                diff = val - old_v
                d_v = (old_v + th.clamp(diff, -clip_range_vf, clip_range_vf) - returns) \
                    * (diff.abs() <= clip_range_vf).to(val.dtype) * (2.0 * vf_coef / k)
            fused.grad.zero_()
            fused.backward(cache, active, d_lp, -ent_coef / k, d_v)
            checks = [(lp, log_prob), (ent, entropy), (val, values)]
            offset = 0
            for p, ref in zip(fused.params, reference, strict=True):
                checks.append((fused.grad[offset: offset + p.numel()].view_as(p), ref))
                offset += p.numel()
            scale = max(float(ref.abs().max()) for _, ref in checks[3:]) + 1e-12
            ok = all(th.allclose(a, b.detach(), rtol=_CHECK_RTOL, atol=_CHECK_RTOL)
                     for a, b in checks[:3])
            ok = ok and all(float((a - b).abs().max()) <= _CHECK_RTOL * scale
                            for a, b in checks[3:])
        return ok

    def _reject_fused(self) -> None:
        warnings.warn(
            f"FastPPO: the fused update does not reproduce {type(self.policy).__name__}'s "
            "evaluate_actions; using the autograd path instead.",
            RuntimeWarning,
            stacklevel=4,
        )
        self._fused = None
        return None

    def _verify_forward(self, fused: FusedGBWMUpdate, obs: th.Tensor) -> bool:
        """Compare the hand-written rollout pass with the policy's own on a few observations."""
        obs = obs[:_CHECK_BATCH]
        policy = cast(_FusedPolicy, self.policy)
        with th.no_grad():
            fused.load_params()
            rng_state = th.get_rng_state()
            actions, values, log_prob = fused.sample(obs)
            th.set_rng_state(rng_state)  # the check must not shift the sampling stream
            ref_values, ref_log_prob, ref_entropy = policy.evaluate_actions(obs, actions)
            active = policy.goal_active(obs).to(values.dtype)
            lp, entropy, v, _ = fused.forward(obs, actions, active)
            pairs = [(values, ref_values), (log_prob, ref_log_prob), (lp, ref_log_prob),
                     (entropy, ref_entropy), (v, ref_values.flatten())]
            return all(a.shape == b.shape and th.allclose(a, b, rtol=_CHECK_RTOL, atol=_CHECK_RTOL)
                       for a, b in pairs)

    # -- rollout collection ---------------------------------------------------------------
    def _update_info_buffer(self, infos: list[dict[str, Any]], dones: np.ndarray | None = None
                            ) -> None:
        """SB3's episode-info bookkeeping, skipped in one C-level pass when no info has keys.

        GBWMVecEnv returns empty info dicts except at episode end; SB3's loop costs
        two dict lookups per environment and step (about 0.1 s per rollout of 4,800).
        """
        if any(infos):
            super()._update_info_buffer(infos, dones)

    def _rollout_sampler(self, obs: np.ndarray | dict[str, np.ndarray]) -> _Sampler | None:
        """The fused sampling pass when it is available and checked, else None."""
        if self.use_sde or type(self.rollout_buffer) is not RolloutBuffer:
            return None
        fused = self._fused_update()
        if fused is None:
            return None
        if not getattr(fused, "forward_verified", False):
            # the fused path takes Box observations only: a tensor
            obs_tensor = cast(th.Tensor, obs_as_tensor(obs, self.device))
            fused.forward_verified = self._verify_forward(fused, obs_tensor)
            if not fused.forward_verified:
                self._reject_fused()
                return None
        fused.load_params()
        return fused.sample

    def collect_rollouts(self, env: VecEnv, callback: BaseCallback,
                         rollout_buffer: RolloutBuffer, n_rollout_steps: int) -> bool:
        """``OnPolicyAlgorithm.collect_rollouts`` with the fused sampling pass for GBWMPolicy.

        Same steps, callbacks, buffer contents and timeout bootstrapping as SB3; the
        policy pass is ``FusedGBWMUpdate.sample`` (no distribution objects) when the
        fused path applies, and the per-environment timeout check only visits
        finished environments.
        """
        assert self._last_obs is not None, "No previous observation was provided"
        sampler = self._rollout_sampler(self._last_obs)
        if sampler is None:
            return super().collect_rollouts(env, callback, rollout_buffer, n_rollout_steps)
        self.policy.set_training_mode(False)
        n_steps = 0
        rollout_buffer.reset()
        callback.on_rollout_start()
        while n_steps < n_rollout_steps:
            # the fused path takes Box observations only: arrays, never dicts or tuples
            last_obs = cast(np.ndarray, self._last_obs)
            with th.no_grad():
                obs_tensor = cast(th.Tensor, obs_as_tensor(last_obs, self.device))
                action_tensor, values, log_probs = sampler(obs_tensor)
            actions = action_tensor.cpu().numpy()
            clipped_actions = actions
            new_obs, rewards, dones, infos = env.step(clipped_actions)
            self.num_timesteps += env.num_envs
            callback.update_locals(locals())
            if not callback.on_step():
                return False
            self._update_info_buffer(infos, dones)
            n_steps += 1
            for idx in np.flatnonzero(dones):  # timeouts: bootstrap with the value function
                if infos[idx].get("terminal_observation") is not None and infos[idx].get(
                    "TimeLimit.truncated", False
                ):
                    terminal_obs = self.policy.obs_to_tensor(infos[idx]["terminal_observation"])[0]
                    with th.no_grad():
                        terminal_value = self.policy.predict_values(terminal_obs)[0]
                    rewards[idx] += self.gamma * terminal_value
            rollout_buffer.add(last_obs, actions, rewards,
                               cast(np.ndarray, self._last_episode_starts), values, log_probs)
            self._last_obs = cast(np.ndarray, new_obs)
            self._last_episode_starts = dones
        with th.no_grad():
            values = self.policy.predict_values(
                obs_as_tensor(cast(np.ndarray, new_obs), self.device))
        rollout_buffer.compute_returns_and_advantage(last_values=values, dones=dones)
        callback.update_locals(locals())
        callback.on_rollout_end()
        return True

