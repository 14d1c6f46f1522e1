"""Saving and loading a fine-tuned policy: one client's network, problem and way of acting.

:func:`~gbwm_sb3.pretrained.fine_tune` returns a policy that belongs to one problem: the
network trained on it, the lookahead it was bound with and, where ``fine_tune`` kept it,
the critic's lookahead. :func:`save_client_policy` writes all of it to a weights
directory (the safe format of :mod:`gbwm_sb3.pretrained.weights`, nothing pickled) whose
manifest carries, under ``metadata.client_policy``, the problem and how the policy acts;
:func:`load_client_policy` gives back a policy that acts as the saved one did.

Such a directory is bound to its problem: ``pretrained_policy``, ``fine_tune`` (to
continue training) and ``gbwm advise --weights DIR`` accept it for that problem only and
refuse any other with the first field that differs
(:func:`check_client_problem`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from gbwm_sb3.pretrained.advisor import MAX_PORTFOLIO_SHIFT, PretrainedPolicy
from gbwm_sb3.pretrained.lookahead import greedy_or_lookahead
from gbwm_sb3.pretrained.weights import (
    WeightsFileError,
    accepted_envelope_from_manifest,
    envelope_from_manifest,
    load_network,
    read_weights_manifest,
    save_weights,
)
from gbwm_sb3.problem.files import problem_from_dict, problem_to_dict
from gbwm_sb3.problem.model import GBWMProblem

__all__ = ["CLIENT_POLICY_KEY", "save_client_policy", "load_client_policy", "is_client_policy",
           "check_client_problem"]

#: Manifest metadata key of a saved client policy: weights fine-tuned for one problem,
#: accepted for that problem only.
CLIENT_POLICY_KEY = "client_policy"


def _first_difference(saved: object, given: object, where: str) -> str | None:
    """Where two problem-file forms first differ (a dotted path), else None."""
    if isinstance(saved, dict) and isinstance(given, dict):
        for key in sorted(set(saved) | set(given), key=str):
            if key not in saved or key not in given:
                return f"{where}.{key}".lstrip(".")
            found = _first_difference(saved[key], given[key], f"{where}.{key}")
            if found is not None:
                return found
        return None
    if isinstance(saved, list) and isinstance(given, list):
        if len(saved) != len(given):
            return f"{where} ({len(saved)} entries saved, {len(given)} given)".lstrip(".")
        for index, (a, b) in enumerate(zip(saved, given, strict=True)):
            found = _first_difference(a, b, f"{where}[{index}]")
            if found is not None:
                return found
        return None
    return None if saved == given else f"{where} ({saved!r} saved, {given!r} given)".lstrip(".")


def check_client_problem(manifest: dict[str, object], problem: GBWMProblem,
                         directory: str | os.PathLike[str]) -> None:
    """For weights fine-tuned for one problem (a saved client policy): ValueError unless
    ``problem`` is that problem, naming the first field that differs. Universal weights
    (no client policy in the manifest) pass."""
    metadata = manifest.get("metadata")
    client = metadata.get(CLIENT_POLICY_KEY) if isinstance(metadata, dict) else None
    if client is None:
        return
    saved = client.get("problem") if isinstance(client, dict) else None
    difference = _first_difference(saved, problem_to_dict(problem), "")
    if difference is not None:
        raise ValueError(f"{directory} holds a policy fine-tuned for another problem; it "
                         f"acts only for the problem it was trained on (first difference: "
                         f"{difference})")




def _lookahead_of(policy: PretrainedPolicy) -> int:
    return int(getattr(policy, "candidates", 1))


def _source_manifest(source: Any) -> dict[str, Any] | None:
    """The manifest of the weights fine-tuned from, where they can still be read."""
    if not isinstance(source, str):
        return None
    try:
        return read_weights_manifest(source)
    except (OSError, ValueError):
        return None


def save_client_policy(policy: PretrainedPolicy, directory: str | os.PathLike[str], *,
                       metadata: dict[str, Any] | None = None,
                       overwrite: bool = False) -> Path:
    """Write ``policy`` (typically :func:`~gbwm_sb3.pretrained.fine_tune`'s result) to
    ``directory``; returns the directory.

    Stored: the network's weights, the problem, the lookahead, the portfolio shift
    (:class:`~gbwm_sb3.pretrained.advisor.PretrainedPolicy`), whether and over how many
    decisions it acts through the critic's lookahead, ``fine_tune``'s record and
    comparisons, and ``metadata`` (JSON data, e.g. an evaluation). The envelopes are those
    of the weights the network was fine-tuned from. An existing weights directory is
    refused unless ``overwrite=True``.
    """
    if not isinstance(policy, PretrainedPolicy):
        raise ValueError(f"policy must be a PretrainedPolicy, got {type(policy).__name__}")
    if not policy.deterministic:
        raise ValueError("policy must be deterministic: a saved client policy acts greedily "
                         "(with its lookahead) as fine_tune's result does")
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError(f"metadata must be a mapping, got {type(metadata).__name__}")
    record = dict(policy.fine_tune_record or {})
    source_manifest = _source_manifest(record.get("weights_directory"))
    critic = policy.critic_lookahead
    check = policy.fine_tune_critic_check
    lookahead = _lookahead_of(policy)
    client = {
        "problem": problem_to_dict(policy.problem),
        "lookahead": lookahead,
        "portfolio_shift": policy.portfolio_shift,
        "critic_lookahead": None if critic is None else critic.decisions,
        "fine_tune": record,
        "fine_tune_scores": [[int(s), float(u), bool(a)] for s, u, a in policy.fine_tune_scores],
        "fine_tune_critic_check": None if check is None else [float(check[0]),
                                                              float(check[1]), bool(check[2])],
    }
    envelopes: dict[str, Any] = {}
    if source_manifest is not None:
        envelopes = {"envelope": envelope_from_manifest(source_manifest),
                     "accepted_envelope": accepted_envelope_from_manifest(source_manifest)}
    return save_weights(policy.network, directory,
                        {**(metadata or {}), CLIENT_POLICY_KEY: client},
                        overwrite=overwrite, lookahead=lookahead, **envelopes)


def is_client_policy(directory: str | os.PathLike[str]) -> bool:
    """Whether ``directory`` holds a saved client policy (False for universal weights and
    for folders without weights)."""
    try:
        manifest = read_weights_manifest(directory)
    except (OSError, ValueError):
        return False
    return CLIENT_POLICY_KEY in manifest.get("metadata", {})


def _field(path: Path, data: dict[str, Any], key: str) -> Any:
    if key not in data:
        raise WeightsFileError(f"{path}: metadata.{CLIENT_POLICY_KEY}.{key} is missing")
    return data[key]


def _decisions(path: Path, data: dict[str, Any], key: str, optional: bool = False) -> Any:
    """``data[key]``: decisions compared a year, an integer in 1..64 (or null if
    ``optional``)."""
    value = _field(path, data, key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 64:
        raise WeightsFileError(f"{path}: metadata.{CLIENT_POLICY_KEY}.{key} must be an "
                               f"integer in 1..64{' or null' if optional else ''}, got {value!r}")
    return value


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _scores(path: Path, value: Any) -> list[tuple[int, float, bool]]:
    where = f"{path}: metadata.{CLIENT_POLICY_KEY}.fine_tune_scores"
    if not isinstance(value, list):
        raise WeightsFileError(f"{where} must be a list of [steps, mean utility, adopted]")
    scores = []
    for entry in value:
        if not (isinstance(entry, list) and len(entry) == 3
                and isinstance(entry[0], int) and not isinstance(entry[0], bool)
                and _finite(entry[1]) and isinstance(entry[2], bool)):
            raise WeightsFileError(f"{where}: each entry must be [steps, mean utility, "
                                   f"adopted], got {str(entry)[:80]}")
        scores.append((entry[0], float(entry[1]), entry[2]))
    return scores


def _critic_check(path: Path, value: Any) -> tuple[float, float, bool] | None:
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 3 and _finite(value[0])
            and _finite(value[1]) and isinstance(value[2], bool)):
        raise WeightsFileError(f"{path}: metadata.{CLIENT_POLICY_KEY}.fine_tune_critic_check "
                               f"must be null or [mean utility alone, with the lookahead, "
                               f"adopted], got {str(value)[:80]}")
    return float(value[0]), float(value[1]), value[2]


def load_client_policy(directory: str | os.PathLike[str],
                       problem: GBWMProblem | None = None) -> PretrainedPolicy:
    """The policy :func:`save_client_policy` wrote to ``directory``, acting as it did.

    ``problem``: the client's problem as the caller has it; it must be the saved one
    (:class:`~gbwm_sb3.pretrained.weights.WeightsFileError` for a directory that holds no
    client policy or a malformed one, ``ValueError`` naming the first field that differs
    for another problem).
    """
    path = Path(directory)
    manifest = read_weights_manifest(path)
    client = manifest.get("metadata", {}).get(CLIENT_POLICY_KEY)
    if client is None:
        raise WeightsFileError(f"{path} holds universal weights, not a client policy; use "
                               "pretrained_policy(problem, weights) or fine_tune for them")
    if not isinstance(client, dict):
        raise WeightsFileError(f"{path}: metadata.{CLIENT_POLICY_KEY} must be a mapping")
    try:
        saved = problem_from_dict(_field(path, client, "problem"),
                                  f"{path}: metadata.{CLIENT_POLICY_KEY}.problem")
    except WeightsFileError:
        raise
    except ValueError as exc:
        raise WeightsFileError(str(exc)) from None
    lookahead: int = _decisions(path, client, "lookahead")
    critic: int | None = _decisions(path, client, "critic_lookahead", optional=True)
    shift = client.get("portfolio_shift", 0)  # absent in files saved before it existed
    if isinstance(shift, bool) or not isinstance(shift, int) \
            or not -MAX_PORTFOLIO_SHIFT <= shift <= MAX_PORTFOLIO_SHIFT:
        raise WeightsFileError(f"{path}: metadata.{CLIENT_POLICY_KEY}.portfolio_shift must be "
                               f"an integer in {-MAX_PORTFOLIO_SHIFT}..{MAX_PORTFOLIO_SHIFT}, "
                               f"got {shift!r}")
    scores = _scores(path, client.get("fine_tune_scores", []))
    check = _critic_check(path, client.get("fine_tune_critic_check"))
    record = client.get("fine_tune", {})
    if not isinstance(record, dict):
        raise WeightsFileError(f"{path}: metadata.{CLIENT_POLICY_KEY}.fine_tune must be a "
                               f"mapping, got {str(record)[:80]}")
    if problem is not None:
        check_client_problem(manifest, problem, path)
    network = load_network(path)
    policy = greedy_or_lookahead(network, saved, lookahead, portfolio_shift=shift)
    policy.fine_tune_scores = scores
    policy.fine_tune_record = dict(record)
    if critic is not None:
        policy = policy.with_critic_lookahead(decisions=critic)
    policy.fine_tune_critic_check = check
    return policy

