"""One policy pretrained on many clients: zero-shot advice, fine-tuning, the benchmark suite.

Importing this package loads PyTorch (the network); ``import gbwm_sb3`` does not.

- :func:`pretrained_policy` (the shipped network bound to one client's problem),
  :class:`PretrainedPolicy` (``act(t, wealth)``, ``advise(t, wealth)``) and
  :class:`LookaheadPolicy` (the default: the likeliest decisions compared by the critic);
- :func:`fine_tune` (PPO from the pretrained weights on one client);
- :class:`UniversalGBWMPolicy` (the network), :func:`pretrain` / :class:`PretrainConfig`,
  :func:`pretrain_seeds` / :func:`best_seed` (several seeds side by side, the best);
- :func:`save_weights` / :func:`load_network` (the safe weights format);
- :func:`benchmark_suite`, :func:`run_benchmark` (the zero-shot benchmark).
"""

from gbwm_sb3.pretrained.advisor import Advice, PretrainedPolicy
from gbwm_sb3.pretrained.fine_tuning import fine_tune
from gbwm_sb3.pretrained.loading import (
    DEFAULT_WEIGHTS,
    OutsideEnvelopeError,
    pretrained_network,
    pretrained_policy,
)
from gbwm_sb3.pretrained.lookahead import LookaheadPolicy
from gbwm_sb3.pretrained.policy import UniversalGBWMPolicy
from gbwm_sb3.pretrained.weights import WeightsFileError, load_network, save_weights

__all__ = [
    "Advice",
    "DEFAULT_WEIGHTS",
    "LookaheadPolicy",
    "OutsideEnvelopeError",
    "PretrainedPolicy",
    "UniversalGBWMPolicy",
    "WeightsFileError",
    "fine_tune",
    "load_network",
    "pretrained_network",
    "pretrained_policy",
    "save_weights",
    "pretrain",
    "PretrainConfig",
    "pretrain_seeds",
    "best_seed",
    "benchmark_suite",
    "run_benchmark",
]


def __getattr__(name: str):  # the training and benchmark modules import the DP and PPO
    if name in ("pretrain", "PretrainConfig"):
        from gbwm_sb3.pretrained import training

        return getattr(training, name)
    if name in ("pretrain_seeds", "best_seed"):
        from gbwm_sb3.pretrained import seeds

        return getattr(seeds, name)
    if name == "benchmark_suite":
        from gbwm_sb3.pretrained.suite import benchmark_suite

        return benchmark_suite
    if name == "run_benchmark":
        from gbwm_sb3.pretrained.benchmark import run_benchmark

        return run_benchmark
    raise AttributeError(f"module 'gbwm_sb3.pretrained' has no attribute {name!r}")
