"""Training metrics for GBWM in SB3's logger (stdout, CSV, TensorBoard).

``GBWMMetricsCallback`` records, after every rollout, the statistics of the
episodes completed in it, as reported by ``GBWMVecEnv.pop_episode_statistics()``:

- ``gbwm/mean_episode_utility``: mean total utility of the completed episodes;
- ``gbwm/goal_success_rate``: goals taken / goals offered (offered = every goal whose year the
  episode reached, affordable or not);
- ``gbwm/episodes``: how many episodes the two figures average over.

SB3 itself logs the policy and value losses (``train/policy_gradient_loss``,
``train/value_loss``), the entropy loss and the learning rate (``train/learning_rate``).
``EntropyDecayCallback`` moves the entropy coefficient linearly to a final value over
training. ``GBWMTrainingMixin`` makes an algorithm's ``learn()`` install both by itself
(the schedule when the model was built with ``ent_coef_final``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from stable_baselines3.common.callbacks import BaseCallback, CallbackList, ConvertCallback
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

if TYPE_CHECKING:
    from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
    from typing_extensions import Self

__all__ = ["GBWMMetricsCallback", "EntropyDecayCallback", "GBWMTrainingMixin",
           "find_gbwm_vec_env", "with_metrics_callback"]

_STATS_METHOD = "pop_episode_statistics"


def find_gbwm_vec_env(env: Any) -> VecEnv:
    """The innermost VecEnv under SB3 wrappers, checked to report episode statistics.

    Raises ``TypeError`` naming the env when it has no ``pop_episode_statistics()``
    (only ``GBWMVecEnv`` has it).
    """
    inner = env
    while isinstance(inner, VecEnvWrapper):
        inner = inner.venv
    if not callable(getattr(inner, _STATS_METHOD, None)):
        raise TypeError(
            f"GBWM training metrics need a GBWMVecEnv (an env with {_STATS_METHOD}()); "
            f"got {type(inner).__name__}. Train on gbwm_sb3.GBWMVecEnv, or use plain "
            "stable_baselines3.PPO without GBWMMetricsCallback."
        )
    return inner


class GBWMMetricsCallback(BaseCallback):
    """Log mean episode utility and goal success rate after every rollout."""

    def __init__(self, verbose: int = 0):
        super().__init__(verbose)
        self._vec_env: VecEnv | None = None

    def _on_training_start(self) -> None:
        self._vec_env = find_gbwm_vec_env(self.training_env)
        getattr(self._vec_env, _STATS_METHOD)()  # drop episodes finished before this run

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        if self._vec_env is None:
            self._vec_env = find_gbwm_vec_env(self.training_env)
        stats = getattr(self._vec_env, _STATS_METHOD)()
        if not stats or not stats.get("episodes"):
            return
        self.logger.record("gbwm/mean_episode_utility", float(stats["mean_utility"]))
        if stats.get("goal_success_rate") is not None:  # None when no goal was offered
            self.logger.record("gbwm/goal_success_rate", float(stats["goal_success_rate"]))
        self.logger.record("gbwm/episodes", int(stats["episodes"]))


class EntropyDecayCallback(BaseCallback):
    """Sets ``model.ent_coef`` linearly from ``start`` to ``final`` over one ``learn`` call."""

    model: OnPolicyAlgorithm  # PPO or A2C: their ``ent_coef`` is a number

    def __init__(self, start: float, final: float) -> None:
        super().__init__()
        self.start, self.final = float(start), float(final)

    def _on_rollout_end(self) -> None:
        # The fraction of the budget collected so far, as SB3's learning-rate schedule uses
        # it for the update that follows this rollout (so the last update gets ``final``).
        progress = self.model.num_timesteps / max(self.model._total_timesteps, 1)
        self.model.ent_coef = self.start + (self.final - self.start) * min(max(progress, 0.0), 1.0)

    def _on_step(self) -> bool:
        return True


def _as_callback_list(callback: Any) -> list[BaseCallback]:
    """``callback`` (None, a callback, a list of them or a function) as a list of callbacks."""
    if callback is None:
        return []
    if isinstance(callback, list):
        return [c if isinstance(c, BaseCallback) else ConvertCallback(c) for c in callback]
    if isinstance(callback, BaseCallback):
        return [callback]
    return [ConvertCallback(callback)]


def with_metrics_callback(callback: Any) -> BaseCallback:
    """``callback`` (None, a callback, a list of them or a function) plus the metrics callback."""
    callbacks = _as_callback_list(callback)
    if not any(_contains_metrics(c) for c in callbacks):
        callbacks.insert(0, GBWMMetricsCallback())
    return callbacks[0] if len(callbacks) == 1 else CallbackList(callbacks)


def _contains_metrics(callback: BaseCallback) -> bool:
    if isinstance(callback, GBWMMetricsCallback):
        return True
    return isinstance(callback, CallbackList) and any(
        _contains_metrics(c) for c in callback.callbacks
    )


def _check_ent_coef_final(value: Any) -> float | None:
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value) or value < 0):
        raise ValueError(f"ent_coef_final must be None or a finite number >= 0, got {value!r}")
    return float(value)


if TYPE_CHECKING:  # for the type checker the mixin is an SB3 on-policy algorithm
    _AlgorithmMixinBase = OnPolicyAlgorithm
else:
    _AlgorithmMixinBase = object


class GBWMTrainingMixin(_AlgorithmMixinBase):
    """Mix in before an SB3 on-policy algorithm: ``learn()`` logs the GBWM metrics and,
    when ``ent_coef_final`` is set, runs the entropy-coefficient schedule.

    Example: ``class GBWMPPO(GBWMTrainingMixin, PPO)``. The user's ``callback`` still
    runs (the callbacks are combined in a ``CallbackList``); ``progress_bar=True`` works
    as in SB3. ``ent_coef_final`` is saved with the model (``save``/``load``).
    """

    def __init__(self, *args: Any, ent_coef_final: float | None = None, **kwargs: Any) -> None:
        self.ent_coef_final = _check_ent_coef_final(ent_coef_final)
        super().__init__(*args, **kwargs)
        self.ent_coef_start = self.ent_coef

    def learn(self, total_timesteps: int, callback: Any = None, *args: Any,
              **kwargs: Any) -> Self:
        return super().learn(
            total_timesteps, self._training_callbacks(callback), *args, **kwargs
        )

    def _training_callbacks(self, callback: Any) -> BaseCallback:
        """The user's callbacks, the metrics callback first, the entropy schedule last."""
        callbacks = _as_callback_list(callback)
        final = getattr(self, "ent_coef_final", None)
        if final is not None:
            start = getattr(self, "ent_coef_start", self.ent_coef)
            callbacks.append(EntropyDecayCallback(start, final))
        return with_metrics_callback(callbacks)
