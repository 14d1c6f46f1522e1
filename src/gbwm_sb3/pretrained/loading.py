"""``pretrained_policy(problem)``: the shipped universal network, bound to one client.

The weights shipped inside the package live in ``gbwm_sb3/pretrained/default_weights``
(the safe format of :mod:`gbwm_sb3.pretrained.weights`); ``weights=`` points at any
other weights directory (e.g. ``best/`` of a pretraining run). A problem outside the
weights' *acceptance envelope* is refused with the reasons
(:meth:`~gbwm_sb3.problem.sampler.ProblemEnvelope.contains`), each naming the field, the
problem's value and the accepted range.

Two envelopes: the *training envelope* (the manifest's ``envelope``: for the PPO weights
:data:`~gbwm_sb3.problem.sampler.DEFAULT_ENVELOPE`, what PPO pretraining and the benchmark
suite draw from; for the shipped weights, refined by imitation on a wider mixture, that
mixture's :data:`~gbwm_sb3.pretrained.mixture.WIDE_ENVELOPE`) and the *acceptance
envelope* (the manifest's ``accepted_envelope``; for both :data:`ACCEPTED_ENVELOPE`),
where the policy was measured against the DP: wider than the PPO training envelope,
narrower than the imitation mixture's in its funding ratios. Weights whose manifest
records no acceptance envelope accept their training envelope.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from gbwm_sb3.pretrained.advisor import PretrainedPolicy
from gbwm_sb3.pretrained.client_policy import (
    check_client_problem,
    is_client_policy,
    load_client_policy,
)
from gbwm_sb3.pretrained.lookahead import DEFAULT_CANDIDATES, greedy_or_lookahead
from gbwm_sb3.pretrained.policy import UniversalGBWMPolicy
from gbwm_sb3.pretrained.self_check import AUTO, self_checked
from gbwm_sb3.pretrained.weights import (
    accepted_envelope_from_manifest,
    load_network,
    lookahead_from_manifest,
    read_weights_manifest,
)
from gbwm_sb3.problem.model import GBWMProblem
from gbwm_sb3.problem.sampler import ProblemEnvelope

__all__ = ["DEFAULT_WEIGHTS", "PPO_WEIGHTS", "ACCEPTED_ENVELOPE", "OutsideEnvelopeError",
           "accepted_envelope", "pretrained_network", "pretrained_policy", "bind_policy",
           "recommended_lookahead"]

#: Where the shipped weights are: the PPO-pretrained network refined by imitation of the DP
#: (docs/pretrained.md, "How the shipped weights were made").
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "default_weights"
#: The pure-RL variant, shipped beside them: the PPO-pretrained network the imitation
#: started from (the default weights of earlier releases; the ``"ppo"`` start of the
#: pretraining loops), e.g. ``pretrained_policy(problem, PPO_WEIGHTS)``.
PPO_WEIGHTS = Path(__file__).resolve().parent / "ppo_weights"

#: The problems ``pretrained_policy`` and ``gbwm advise`` accept with the shipped weights
#: (their manifest's ``accepted_envelope``; ``fine_tune`` accepts it with funding ratios
#: down to 0.1, :func:`~gbwm_sb3.pretrained.fine_tuning.fine_tune_envelope`): the training envelope
#: (:data:`~gbwm_sb3.problem.sampler.DEFAULT_ENVELOPE`) widened where the policy was
#: measured against the DP beyond it (docs/pretrained.md, "The acceptance envelope").
ACCEPTED_ENVELOPE = ProblemEnvelope(horizon=(1, 100), num_goals=(1, 60),
                                    portfolio_mean=(-0.05, 0.25),
                                    portfolio_volatility=(0.005, 0.5))


class OutsideEnvelopeError(ValueError):
    """The problem lies outside the envelope the pretrained weights accept."""


@lru_cache(maxsize=8)
def _cached_network(path: str, mtime: float) -> UniversalGBWMPolicy:
    return load_network(path)


def pretrained_network(weights: str | os.PathLike[str] | None = None) -> UniversalGBWMPolicy:
    """The universal network (loaded once per weights directory and cached)."""
    directory = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    arrays = directory / "weights.npz"
    mtime = arrays.stat().st_mtime if arrays.exists() else 0.0  # rewritten weights reload
    return _cached_network(str(directory.resolve()), mtime)


def accepted_envelope(weights: str | os.PathLike[str] | None = None) -> ProblemEnvelope:
    """The problems ``pretrained_policy`` accepts with ``weights`` (default: the shipped
    weights, :data:`ACCEPTED_ENVELOPE`): the manifest's ``accepted_envelope``, else the
    envelope the weights were trained for."""
    directory = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    return accepted_envelope_from_manifest(read_weights_manifest(directory))


def recommended_lookahead(weights: str | os.PathLike[str] | None = None) -> int:
    """The lookahead ``pretrained_policy`` uses with ``weights`` unless told another: the
    one their manifest records (chosen on their validation problems), else 8."""
    directory = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    return lookahead_from_manifest(read_weights_manifest(directory))


def pretrained_policy(problem: GBWMProblem, weights: str | os.PathLike[str] | None = None,
                      *, deterministic: bool = True, lookahead: int | str | None = None,
                      exact: bool = False) -> PretrainedPolicy:
    """A policy for ``problem`` from the pretrained network, no training.

    ``lookahead``: how many of the likeliest decisions the network's critic compares
    each year (:class:`~gbwm_sb3.pretrained.lookahead.LookaheadPolicy`); 1 takes the
    network's most likely decision; None (default): the weights' own
    (:func:`recommended_lookahead`); ``"auto"``: the network's own decisions or the
    critic's lookahead (over the weights' own number of decisions, else
    :data:`~gbwm_sb3.pretrained.lookahead.DEFAULT_CANDIDATES`), whichever does better on
    simulated markets of this problem, then the portfolio shift that does best
    (:mod:`gbwm_sb3.pretrained.self_check`; the choices are in the policy's
    ``self_check``). ``deterministic=False`` samples from the
    network (no lookahead). ``exact=True`` computes the action at every wealth of a large
    batch instead of bracketing it (:mod:`gbwm_sb3.pretrained.bracketing`). Raises
    :class:`OutsideEnvelopeError` naming every field of ``problem`` that lies outside the
    weights' acceptance envelope (:func:`accepted_envelope`), with its value and the
    accepted range.

    ``weights`` may be a saved client policy (:mod:`gbwm_sb3.pretrained.client_policy`):
    it is accepted for its own problem only, and with ``lookahead=None`` acts as it was
    saved (its lookahead and, where fine-tuning kept it, the critic's lookahead).
    """
    if weights is not None and lookahead is None and deterministic and not exact \
            and is_client_policy(weights):
        return load_client_policy(weights, problem)
    return checked_policy(problem, weights, deterministic=deterministic, lookahead=lookahead,
                          exact=exact)


def checked_policy(problem: GBWMProblem, weights: str | os.PathLike[str] | None,
                   envelope: ProblemEnvelope | None = None,
                   accepts: str = "the pretrained policy accepts", *,
                   deterministic: bool = True, lookahead: int | str | None = None,
                   exact: bool = False) -> PretrainedPolicy:
    """:func:`pretrained_policy` checking ``problem`` against ``envelope`` (None: the
    weights' acceptance envelope); ``accepts`` completes the refusal ("the problem is
    outside the envelope ...")."""
    if not isinstance(problem, GBWMProblem):
        raise ValueError(f"problem must be a GBWMProblem, got {type(problem).__name__}")
    directory = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    manifest = read_weights_manifest(directory)
    check_client_problem(manifest, problem, directory)
    if envelope is None:
        envelope = accepted_envelope_from_manifest(manifest)
    reasons = envelope.contains(problem)
    if reasons:
        raise OutsideEnvelopeError(f"the problem is outside the envelope {accepts}:\n  "
                                   + "\n  ".join(reasons))
    auto = lookahead == AUTO
    if lookahead is None or auto:  # "auto" compares the weights' own lookahead, else 8
        lookahead = lookahead_from_manifest(manifest)
        if auto and lookahead == 1:
            lookahead = DEFAULT_CANDIDATES
    config = manifest.get("metadata", {}).get("config", {})
    normalization = config.get("reward_normalization", "total_utility")
    count = _check_lookahead(lookahead)
    if count > 1 and deterministic and normalization != "total_utility":
        raise ValueError(f"lookahead must be 1 for {directory}: its value network was trained "
                         f"on rewards divided by the {normalization}, the lookahead needs "
                         "rewards divided by the total utility")
    network = pretrained_network(directory)
    if auto and deterministic:
        return self_checked(network, problem, count, exact=exact)
    return bind_policy(network, problem, deterministic=deterministic, lookahead=count,
                       exact=exact)


def bind_policy(network: UniversalGBWMPolicy, problem: GBWMProblem, *,
                deterministic: bool = True, lookahead: int | str = DEFAULT_CANDIDATES,
                exact: bool = False) -> PretrainedPolicy:
    """``network`` acting for ``problem``: with the critic's lookahead when ``lookahead > 1``
    and the policy is deterministic, else the network's own choices; ``"auto"``: the
    better of the two on simulated markets, then the best portfolio shift
    (:mod:`gbwm_sb3.pretrained.self_check`, comparing
    :data:`~gbwm_sb3.pretrained.lookahead.DEFAULT_CANDIDATES` decisions)."""
    if lookahead == AUTO:
        if not deterministic:
            return PretrainedPolicy(network, problem, deterministic=False, exact=exact)
        return self_checked(network, problem, DEFAULT_CANDIDATES, exact=exact)
    count = _check_lookahead(lookahead)
    if deterministic:
        return greedy_or_lookahead(network, problem, count, exact=exact)
    return PretrainedPolicy(network, problem, deterministic=False, exact=exact)


def _check_lookahead(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 64:
        raise ValueError(f"lookahead must be an integer in 1..64 (decisions compared a "
                         f"year; 1: no lookahead) or 'auto', got {value!r}")
    return value
