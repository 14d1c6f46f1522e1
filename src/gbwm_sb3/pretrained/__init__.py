"""One policy pretrained on many clients: zero-shot advice, fine-tuning, the benchmark suite.

Importing this package loads PyTorch (the network); ``import gbwm_sb3`` does not.

- :func:`pretrained_policy` (the shipped network bound to one client's problem inside
  :data:`ACCEPTED_ENVELOPE`; :func:`accepted_envelope` for other weights, such as the
  pure-RL variant :data:`PPO_WEIGHTS`),
  :class:`PretrainedPolicy` (``act(t, wealth)``, ``advise(t, wealth)``) and
  :class:`LookaheadPolicy` (the default: the likeliest decisions compared by the critic);
- :func:`fine_tune` (PPO from the pretrained weights on one client), and
  :func:`save_client_policy` / :func:`load_client_policy` (its result on disk);
- :class:`UniversalGBWMPolicy` (the network), :func:`pretrain` / :class:`PretrainConfig`
  (PPO), :func:`distill` / :class:`DistillConfig` (the DP as teacher),
  :func:`pretrain_seeds` / :func:`best_seed` (several seeds side by side, the best);
- :func:`save_weights` / :func:`load_network` (the safe weights format);
- :func:`benchmark_suite`, :func:`run_benchmark` (the zero-shot benchmark).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gbwm_sb3.common.lazy import lazy_exports
from gbwm_sb3.pretrained.advisor import Advice, PretrainedPolicy
from gbwm_sb3.pretrained.client_policy import (
    is_client_policy,
    load_client_policy,
    save_client_policy,
)
from gbwm_sb3.pretrained.fine_tuning import fine_tune, fine_tune_envelope
from gbwm_sb3.pretrained.loading import (
    ACCEPTED_ENVELOPE,
    DEFAULT_WEIGHTS,
    PPO_WEIGHTS,
    OutsideEnvelopeError,
    accepted_envelope,
    pretrained_network,
    pretrained_policy,
    recommended_lookahead,
)
from gbwm_sb3.pretrained.lookahead import LookaheadPolicy
from gbwm_sb3.pretrained.policy import UniversalGBWMPolicy
from gbwm_sb3.pretrained.weights import WeightsFileError, load_network, save_weights

# The training and benchmark modules import the DP and PPO: imported on first use.
_EXPORTS = {
    "pretrain": "gbwm_sb3.pretrained.training",
    "PretrainConfig": "gbwm_sb3.pretrained.training",
    "distill": "gbwm_sb3.pretrained.distillation",
    "DistillConfig": "gbwm_sb3.pretrained.distillation",
    "pretrain_seeds": "gbwm_sb3.pretrained.seeds",
    "best_seed": "gbwm_sb3.pretrained.seeds",
    "benchmark_suite": "gbwm_sb3.pretrained.suite",
    "run_benchmark": "gbwm_sb3.pretrained.benchmark",
}

__all__ = [
    "ACCEPTED_ENVELOPE",
    "Advice",
    "DEFAULT_WEIGHTS",
    "PPO_WEIGHTS",
    "LookaheadPolicy",
    "OutsideEnvelopeError",
    "PretrainedPolicy",
    "UniversalGBWMPolicy",
    "WeightsFileError",
    "accepted_envelope",
    "fine_tune",
    "fine_tune_envelope",
    "is_client_policy",
    "load_client_policy",
    "load_network",
    "pretrained_network",
    "pretrained_policy",
    "recommended_lookahead",
    "save_client_policy",
    "save_weights",
    *_EXPORTS,
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

if TYPE_CHECKING:  # pragma: no cover
    from gbwm_sb3.pretrained.benchmark import run_benchmark  # noqa: F401
    from gbwm_sb3.pretrained.distillation import DistillConfig, distill  # noqa: F401
    from gbwm_sb3.pretrained.seeds import best_seed, pretrain_seeds  # noqa: F401
    from gbwm_sb3.pretrained.suite import benchmark_suite  # noqa: F401
    from gbwm_sb3.pretrained.training import PretrainConfig, pretrain  # noqa: F401
