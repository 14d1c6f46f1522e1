"""Pretraining with the DP as teacher: imitation of the optimal decisions, in resumable rounds.

For the one-wealth-state problems the pretrained policy serves, the exact optimum is
cheap (milliseconds to a second per problem), so the network can learn from it directly
instead of from rewards alone. Each round (DAgger, Ross et al. 2011):

1. draws ``problems_per_round`` fresh problems of the teacher mixture
   (:mod:`gbwm_sb3.pretrained.mixture`) and solves each with :func:`~gbwm_sb3.dp.solve_dp`;
2. simulates ``paths_per_problem`` paths of each: a share ``expert_share`` following the
   DP's policy, the others the network's own greedy policy (with probability ``explore``
   a year, a random affordable decision instead), so the states are those the network
   itself reaches, where its mistakes lead;
3. labels every visited state (year ``t < T``, wealth) with the DP's value of each
   decision (:meth:`~gbwm_sb3.dp.DPSolution.decision_values`), its best portfolio and
   the optimal value, keeping ``states_per_problem`` of them per problem;
4. trains the network for ``epochs`` passes over the round's states on three losses:
   the cross-entropy of the goal head against soft targets ``softmax((Q - max Q) /
   (temperature * V0))`` (decisions within a fraction ``temperature`` of the problem's
   optimum ``V0`` of the best share the target, so near-ties cost nothing and costly
   mistakes a lot); the cross-entropy of the portfolio head, given the DP's decision,
   against soft targets made the same way from the value of holding each portfolio; and
   ``value_coef`` times the squared error of the critic against the optimal value
   divided by the problem's total utility (the units of the PPO critic, which the
   lookahead reads).

A curriculum (``hard_share > 0``) trains more where the network is furthest from the
optimum: :func:`teach` also estimates the network's gap on each problem from the regrets
of its own decisions (no outcome noise), the problems with a gap above ``hard_gap`` are
kept in a pool of the ``hard_pool`` largest, and each round takes a share ``hard_share``
of its problems from the top of the pool (taught again, measured again, kept while the
gap stays) and draws the rest fresh. The pool is part of the checkpoint.

The network stays the :class:`~gbwm_sb3.pretrained.policy.UniversalGBWMPolicy` that PPO
trains (``fine_tune`` and :func:`~gbwm_sb3.pretrained.training.pretrain` continue from
its weights); only the loss differs. Every ``validate_every`` rounds the greedy network
is scored against the DP on fixed validation problems (the sampler's validation set and
draws of the mixture in a seed domain of their own), the weights are saved under
``stages/`` and the best as ``best/``. After every round the weights, the optimizer
state and ``state.json`` are checkpointed: an interrupted run resumes at the next round
and ends with the same weights as one that was not (one thread).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch as th

from gbwm_sb3.common.environment import run_environment
from gbwm_sb3.dp import solve_dp
from gbwm_sb3.dp.solutions import DPSolution
from gbwm_sb3.envs.dynamics import apply_decisions, decision_mask, problem_table, step_year
from gbwm_sb3.envs.universal_observation import K_MAX, N_MAX
from gbwm_sb3.evaluation.evaluator import evaluate
from gbwm_sb3.pretrained.advisor import PretrainedPolicy
from gbwm_sb3.pretrained.loading import bind_policy
from gbwm_sb3.pretrained.mixture import (
    MIXTURE_VALIDATION_SEED,
    mixture_envelope,
    mixture_problem,
    mixture_problems,
)
from gbwm_sb3.pretrained.policy import INPUT_FLAGS, UniversalGBWMPolicy
from gbwm_sb3.pretrained.run_support import (
    atomic_write_json,
    check_start,
    linear_fraction,
    load_start,
    start_directory,
)
from gbwm_sb3.pretrained.validation import (
    efficiency_summary,
    rounded_efficiencies,
    validation_problems,
)
from gbwm_sb3.pretrained.weights import (
    accepted_envelope_from_manifest,
    load_network,
    network_spaces,
    read_weights_manifest,
    save_weights,
)
from gbwm_sb3.problem.files import problem_from_dict, problem_to_dict
from gbwm_sb3.problem.model import GBWMProblem
from gbwm_sb3.problem.sampler import ProblemEnvelope

__all__ = ["DistillConfig", "distill", "export_weights", "teach", "TeacherBatch",
           "distillation_loss", "MIXTURE_VALIDATION_SEED"]

_STATE = "state.json"
_CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class DistillConfig:
    """Everything that determines a DP-teacher run (saved with it; see the module docstring).

    ``start``: ``"ppo"`` (continue from the PPO-pretrained weights,
    :data:`~gbwm_sb3.pretrained.loading.PPO_WEIGHTS`), ``"shipped"`` (from the shipped
    weights, themselves PPO refined by imitation), ``"scratch"`` (a freshly initialised
    network, seeded: pure imitation) or a weights directory (holding ``manifest.json``,
    e.g. an earlier run's ``best/``; inputs those weights do not read start at zero).
    ``mixture``: the problems taught and validated on
    (:data:`~gbwm_sb3.pretrained.mixture.MIXTURES`). ``width``: the hidden units of the
    actor's two embedding layers and of its goal and portfolio scorers (64 in the
    shipped network; another width needs ``start="scratch"``).
    """

    seed: int = 0
    rounds: int = 240
    start: str = "ppo"
    problems_per_round: int = 24
    paths_per_problem: int = 48
    states_per_problem: int = 384
    expert_share: float = 0.25
    explore: float = 0.05
    epochs: int = 2
    batch_size: int = 512
    learning_rate: float = 3e-4
    learning_rate_final: float = 3e-5
    temperature: float = 0.001
    value_coef: float = 1.0
    max_grad_norm: float = 1.0
    hard_share: float = 0.0
    hard_pool: int = 64
    hard_gap: float = 0.005
    validate_every: int = 40
    validation_problems: int = 12
    validation_mixture: int = 12
    validation_paths: int = 2000
    mixture: str = "teacher"
    entry_reach: bool = False
    decision_margins: bool = False
    decision_reach: bool = False
    width: int = 64

    def __post_init__(self) -> None:
        ints = {"seed": (0, 2**32 - 1), "rounds": (1, 10**6),
                "problems_per_round": (1, 10**5), "paths_per_problem": (1, 10**5),
                "states_per_problem": (1, 10**6), "epochs": (1, 1000),
                "batch_size": (2, 10**6), "validate_every": (1, 10**6),
                "hard_pool": (1, 10**5),
                "validation_problems": (0, 1000), "validation_mixture": (0, 1000),
                "validation_paths": (2, 10**7), "width": (1, 1024)}
        for name, (low, high) in ints.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or not low <= value <= high:
                raise ValueError(f"{name} must be an integer in {low}..{high}, got {value!r}")
        reals = {"expert_share": (0.0, 1.0), "explore": (0.0, 1.0), "hard_share": (0.0, 1.0),
                 "hard_gap": (0.0, 1.0),
                 "learning_rate": (1e-12, 1.0), "learning_rate_final": (0.0, 1.0),
                 "temperature": (1e-9, 1.0), "value_coef": (0.0, 1e3),
                 "max_grad_norm": (1e-9, 1e6)}
        for name, (lowest, highest) in reals.items():
            number = getattr(self, name)
            if isinstance(number, bool) or not isinstance(number, (int, float)) \
                    or not math.isfinite(number) or not lowest <= number <= highest:
                raise ValueError(f"{name} must be a number in [{lowest}, {highest}], "
                                 f"got {number!r}")
        for flag in self.input_flags():
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        check_start(self.start)
        mixture_envelope(self.mixture)

    @property
    def envelope(self) -> ProblemEnvelope:
        """The training envelope of the run's mixture."""
        return mixture_envelope(self.mixture)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)

    def input_flags(self) -> dict[str, Any]:
        """The network's optional-input flags (of :data:`INPUT_FLAGS`) this config sets."""
        return {flag: getattr(self, flag) for flag in INPUT_FLAGS if hasattr(self, flag)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DistillConfig:
        """The config ``to_dict`` wrote; unknown fields are an error."""
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown distillation settings: {', '.join(unknown)}")
        return cls(**data)


@dataclass
class TeacherBatch:
    """Labelled states: observations (n, obs), soft decision targets (n, K_MAX), the DP's
    decision (n,), soft portfolio targets given it (n, N_MAX) and the optimal value /
    total utility (n,)."""

    obs: np.ndarray
    decision_target: np.ndarray
    decision: np.ndarray
    portfolio_target: np.ndarray
    value: np.ndarray

    @classmethod
    def concatenate(cls, parts: list[TeacherBatch]) -> TeacherBatch:
        """One batch of all ``parts``' states."""
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts])
                     for f in fields(cls)))

    def __len__(self) -> int:
        return int(self.obs.shape[0])


def _fresh_network(seed: int, width: int = 64, **flags: Any) -> UniversalGBWMPolicy:
    th.manual_seed(seed)
    return UniversalGBWMPolicy(*network_spaces(), lambda _: 0.0, embedding=(width, width),
                               head=width, **flags)


def _start_network(config: DistillConfig) -> UniversalGBWMPolicy:
    """The run's first network: fresh, or the weights ``config.start`` names (with zero
    weights on the inputs they do not read and the run adds)."""
    network = _fresh_network(config.seed, config.width, **config.input_flags())
    if config.start != "scratch":
        load_start(network, config.start)
    return network


def _soft(values: np.ndarray, best: np.ndarray, temperature: float) -> np.ndarray:
    """Rows of ``softmax((values - best) / temperature)`` (-inf values: probability 0)."""
    with np.errstate(invalid="ignore"):
        gaps = np.where(np.isfinite(values), (values - best[:, None]) / temperature, -np.inf)
    weights = np.exp(gaps)
    return weights / weights.sum(axis=1, keepdims=True)


def teach(problem: GBWMProblem, network: UniversalGBWMPolicy, config: DistillConfig,
          rng: np.random.Generator, solution: DPSolution | None = None
          ) -> tuple[TeacherBatch, float]:
    """Steps 1-3 of the module docstring for one problem: the labelled states, and the
    network's estimated gap to the optimum, a fraction of it (nan without network paths).

    The gap is the performance-difference identity ``V*(s0) - V(s0) = E[sum_t (V*(s_t) -
    Q*(s_t, a_t))]`` over the network's paths: the sum of each year's regret of its
    decision and portfolio against the DP's, averaged, over the optimum. No outcome noise
    enters, so a few dozen paths rank problems by how much the network loses on them.
    """
    solution = _solve(problem) if solution is None else solution
    table = problem_table(problem)
    student = PretrainedPolicy(network, problem)
    paths = config.paths_per_problem
    expert = np.arange(paths) < round(config.expert_share * paths)
    wealth = np.full(paths, problem.initial_wealth)
    scale = float(problem.total_utility)
    v0 = max(float(solution.expected_utility), 1e-3 * scale)
    parts: list[TeacherBatch] = []
    learner = np.flatnonzero(~expert)
    regret = np.zeros(learner.size)
    for t in range(problem.horizon):
        values, portfolios = solution.decision_values(t, wealth)
        best = values.argmax(axis=1)
        rows = np.arange(paths)
        optimum = values[rows, best]
        target = np.zeros((paths, K_MAX), dtype=np.float32)
        target[:, : values.shape[1]] = _soft(values, optimum, config.temperature * v0)
        after = apply_decisions(table, 0, t, wealth, best)[0]
        held = solution.portfolio_values(t, np.maximum(after, 0.0))
        portfolio_target = np.zeros((paths, N_MAX), dtype=np.float32)
        portfolio_target[:, : held.shape[1]] = _soft(held, held.max(axis=1),
                                                     config.temperature * v0)
        obs = student.observe(t, wealth)
        parts.append(TeacherBatch(obs, target, best.astype(np.int64), portfolio_target,
                                  (optimum / scale).astype(np.float32)))
        decision = best.copy()
        portfolio = portfolios[rows, best].copy()
        if learner.size:
            own_decision, own_portfolio = student.scorer().actions(t, wealth[learner])
            decision[learner], portfolio[learner] = own_decision, own_portfolio
            own_after = apply_decisions(table, 0, t, wealth[learner], own_decision)[0]
            own_held = solution.portfolio_values(t, np.maximum(own_after, 0.0))
            own_value = table.decision_utility[0, t, own_decision] \
                + own_held[np.arange(learner.size), own_portfolio]
            regret += optimum[learner] - own_value
            wander = learner[rng.uniform(size=learner.size) < config.explore]
            if wander.size:
                mask = decision_mask(table, 0, t, wealth[wander])
                choice = rng.uniform(size=mask.shape) * mask
                decision[wander] = choice.argmax(axis=1)
                portfolio[wander] = rng.integers(problem.num_portfolios, size=wander.size)
        wealth = step_year(table, t, wealth, decision, portfolio,
                           rng.standard_normal(paths))[0]
    batch = TeacherBatch.concatenate(parts)
    if len(batch) > config.states_per_problem:
        keep = np.sort(rng.choice(len(batch), config.states_per_problem, replace=False))
        batch = TeacherBatch(*(getattr(batch, f.name)[keep] for f in fields(TeacherBatch)))
    gap = float(np.maximum(regret, 0.0).mean() / v0) if learner.size else float("nan")
    return batch, gap


def distillation_loss(network: UniversalGBWMPolicy, obs: th.Tensor, decision_target: th.Tensor,
                      decision: th.Tensor, portfolio_target: th.Tensor, value: th.Tensor,
                      value_coef: float) -> tuple[th.Tensor, dict[str, float]]:
    """Step 4's loss on one minibatch, and its parts (``decision``, ``portfolio``, ``value``)."""
    out = network.head_outputs(obs, decision)
    goal_logp, valid = out["goal_logp"], out["valid"]
    target = decision_target * valid  # the observation's affordability is the network's
    total = target.sum(dim=1, keepdim=True)
    usable = (total.squeeze(1) > 0.5) & valid.gather(1, decision[:, None]).squeeze(1)
    target = target / total.clamp_min(1e-12)
    safe_logp = th.where(valid, goal_logp, th.zeros_like(goal_logp))
    decision_loss = -(target * safe_logp).sum(dim=1)
    decision_loss = (decision_loss * usable).sum() / usable.sum().clamp_min(1)
    port_logp = out["portfolio_logp"]
    portfolio_loss = -(portfolio_target * th.where(out["exists"], port_logp,
                                                   th.zeros_like(port_logp))).sum(dim=1).mean()
    value_loss = ((out["value"] - value) ** 2).mean()
    loss = decision_loss + portfolio_loss + value_coef * value_loss
    return loss, {"decision": float(decision_loss.detach()),
                  "portfolio": float(portfolio_loss.detach()), "value": float(value_loss.detach())}


def _solve(problem: GBWMProblem) -> DPSolution:
    solution = solve_dp(problem)
    if not isinstance(solution, DPSolution):  # the envelope has one market, no inflation
        raise ValueError("the DP teacher needs a problem with one wealth state")
    return solution


def _round_seed(seed: int, round_: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, round_, 0xD157])


def _validation(network: UniversalGBWMPolicy, problems: list[GBWMProblem],
                solutions: list[DPSolution], paths: int, lookahead: int = 1) -> list[float]:
    """The network's efficiency on each problem (markets of seed 1, as PPO pretraining)."""
    out = []
    for problem, solution in zip(problems, solutions, strict=True):
        policy = bind_policy(network, problem, lookahead=lookahead)
        report = evaluate({"dp": solution, "policy": policy}, problem, n_paths=paths, seed=1)
        efficiency = report["policy"].efficiency
        out.append(float(efficiency) if efficiency is not None else float("nan"))
    return out


def distill(config: DistillConfig, directory: str | os.PathLike[str], *,
            max_rounds: int | None = None, log: Callable[[str], None] | None = print
            ) -> dict[str, Any]:
    """Run (or resume) DP-teacher pretraining in ``directory``; returns ``state.json``'s data.

    ``directory`` holds ``config.json``, ``state.json``, ``checkpoint.pt`` (weights and
    optimizer state) and ``best/``, ``final/`` and ``stages/round-NNNN/`` weights. A
    directory with another ``config.json`` is refused. ``max_rounds``: stop after this
    many rounds in this call (the same call again resumes). One PyTorch thread.
    """
    if not isinstance(config, DistillConfig):
        raise ValueError(f"config must be a DistillConfig, got {type(config).__name__}")
    if max_rounds is not None and (isinstance(max_rounds, bool) or not isinstance(max_rounds, int)
                                   or max_rounds < 0):
        raise ValueError(f"max_rounds must be an integer >= 0 or None, got {max_rounds!r}")
    say = log if log is not None else (lambda _line: None)
    th.set_num_threads(1)
    network = _start_network(config)  # a start of another shape is refused before any write
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "config.json"
    if config_path.exists():
        if DistillConfig.from_dict(json.loads(config_path.read_text())) != config:
            raise ValueError(f"{directory} holds a run with different settings ({config_path}); "
                             "use another directory or the same settings")
    else:
        atomic_write_json(config_path, config.to_dict())
    optimizer = th.optim.Adam(network.parameters(), lr=config.learning_rate)
    state: dict[str, Any] = {"round": 0, "wall_time_s": 0.0, "history": [], "best": None}
    checkpoint = directory / _CHECKPOINT
    if (directory / _STATE).exists():
        state = json.loads((directory / _STATE).read_text())
        saved = th.load(checkpoint, weights_only=True)
        network.load_state_dict(saved["network"])
        optimizer.load_state_dict(saved["optimizer"])
        say(f"{directory} is complete ({state['round']} rounds)" if state["round"] >= config.rounds
            else f"resuming {directory} at round {state['round'] + 1}/{config.rounds}")
    problems = validation_problems(config.validation_problems) \
        + mixture_problems(config.validation_mixture, MIXTURE_VALIDATION_SEED,
                           config.mixture)
    solutions: list[DPSolution] = []
    meta_base = {"distillation": config.to_dict(), "environment": run_environment()}
    if "start_validation" not in state and max_rounds != 0:
        solutions = [_solve(p) for p in problems]
        baseline = _validation(network, problems, solutions, config.validation_paths)
        state["start_validation"] = {
            "mean": efficiency_summary(baseline)[0],
            "validation": rounded_efficiencies(baseline)}
        atomic_write_json(directory / _STATE, state)
        say(f"start ({config.start}): validation mean {state['start_validation']['mean']:.4f}")
    done_now = 0
    while state["round"] < config.rounds and (max_rounds is None or done_now < max_rounds):
        round_ = int(state["round"])
        started = time.time()
        rng = np.random.default_rng(_round_seed(config.seed, round_))
        th.manual_seed(int(rng.integers(2**31)))
        network.eval()
        pool = state.setdefault("hard", [])
        hard = min(round(config.hard_share * config.problems_per_round), len(pool))
        pool.sort(key=lambda entry: -entry["gap"])
        chosen = [problem_from_dict(entry["problem"]) for entry in pool[:hard]]
        del pool[:hard]
        with th.no_grad():
            taught_parts = [teach(problem, network, config, rng) for problem in chosen]
            for _ in range(config.problems_per_round - hard):  # drawn as each is taught
                chosen.append(mixture_problem(rng, config.mixture))
                taught_parts.append(teach(chosen[-1], network, config, rng))
        batch = TeacherBatch.concatenate([part for part, _ in taught_parts])
        gaps = [gap for _, gap in taught_parts]
        if config.hard_share > 0:
            pool += [{"problem": problem_to_dict(problem), "gap": gap}
                     for problem, gap in zip(chosen, gaps, strict=True)
                     if gap > config.hard_gap]
            pool.sort(key=lambda entry: -entry["gap"])
            del pool[config.hard_pool:]
        taught = time.time() - started
        lr = linear_fraction(config.learning_rate, config.learning_rate_final,
                             round_ / max(config.rounds - 1, 1))
        for group in optimizer.param_groups:
            group["lr"] = lr
        network.train()
        tensors = (th.as_tensor(batch.obs), th.as_tensor(batch.decision_target),
                   th.as_tensor(batch.decision), th.as_tensor(batch.portfolio_target),
                   th.as_tensor(batch.value))
        sums = {"decision": 0.0, "portfolio": 0.0, "value": 0.0}
        steps = 0
        for _ in range(config.epochs):
            order = rng.permutation(len(batch))
            for start in range(0, len(batch), config.batch_size):
                index = th.as_tensor(order[start:start + config.batch_size])
                obs, decision_target, decision, portfolio_target, value = (
                    x[index] for x in tensors)
                loss, parts = distillation_loss(network, obs, decision_target, decision,
                                                portfolio_target, value, config.value_coef)
                optimizer.zero_grad()
                loss.backward()
                th.nn.utils.clip_grad_norm_(network.parameters(), config.max_grad_norm)
                optimizer.step()
                for key, part in parts.items():
                    sums[key] += part
                steps += 1
        network.eval()
        entry: dict[str, Any] = {"round": round_ + 1, "states": len(batch),
                                 "replayed": hard,
                                 "mean_gap": round(float(np.nanmean(gaps)), 5)
                                 if np.isfinite(gaps).any() else None,
                                 "teach_s": round(taught, 2),
                                 "train_s": round(time.time() - started - taught, 2),
                                 **{f"{k}_loss": round(v / max(steps, 1), 5)
                                    for k, v in sums.items()}}
        line = (f"round {round_ + 1}/{config.rounds}: {len(batch):,} states ({hard} replayed), "
                f"gap {entry['mean_gap']}, losses "
                f"decision {entry['decision_loss']:.4f} portfolio {entry['portfolio_loss']:.4f} "
                f"value {entry['value_loss']:.5f}")
        last = round_ + 1 == config.rounds
        if (round_ + 1) % config.validate_every == 0 or last:
            if not solutions:
                solutions = [_solve(p) for p in problems]
            efficiencies = _validation(network, problems, solutions, config.validation_paths)
            mean, lowest = efficiency_summary(efficiencies)
            entry.update(validation_mean=mean, validation_min=lowest,
                         validation=rounded_efficiencies(efficiencies))
            meta = {**meta_base, "round": round_ + 1, "validation_mean": mean}
            save_weights(network, directory / "stages" / f"round-{round_ + 1:04d}", meta,
                         overwrite=True, envelope=config.envelope)
            if state["best"] is None or mean > state["best"]["validation_mean"]:
                save_weights(network, directory / "best", meta, overwrite=True,
                             envelope=config.envelope)
                state["best"] = {"round": round_ + 1, "validation_mean": mean}
            line += f"; validation mean {mean:.4f} min {entry['validation_min']:.4f}"
        if last:
            save_weights(network, directory / "final", {**meta_base, "round": round_ + 1},
                         overwrite=True, envelope=config.envelope)
        th.save({"network": network.state_dict(), "optimizer": optimizer.state_dict()},
                directory / "checkpoint.tmp.pt")
        os.replace(directory / "checkpoint.tmp.pt", checkpoint)
        state["round"] = round_ + 1
        state["wall_time_s"] = round(float(state["wall_time_s"]) + time.time() - started, 2)
        state["history"].append(entry)
        atomic_write_json(directory / _STATE, state)
        say(line + f" ({state['wall_time_s'] / 60:.1f} min)")
        done_now += 1
    return state


def export_weights(directory: str | os.PathLike[str], destination: str | os.PathLike[str], *,
                   command: str | None = None, overwrite: bool = False,
                   lookaheads: tuple[int, ...] = (1, 8),
                   accepted_from: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Write the best weights of the run in ``directory`` to ``destination``, ready to ship.

    The lookahead they are used with by default is chosen among ``lookaheads`` on the
    run's validation problems (the same problems and markets that chose the round); the
    manifest keeps the starting weights' metadata (for ``start="ppo"``: the PPO
    pretraining run) and adds ``distillation`` (settings, round, validation, ``command``;
    where the start was itself an imitation run's weights, their metadata is kept whole
    as the record's ``start_metadata``), the teacher's training envelope and the acceptance envelope
    of the weights in ``accepted_from`` (default: the starting weights'; a chain of runs
    names the weights it began from, whose envelope was measured).
    Returns the ``distillation`` record. An existing ``destination`` is refused unless
    ``overwrite=True``.
    """
    directory = Path(directory)
    state = json.loads((directory / _STATE).read_text())
    if not state.get("best"):
        raise ValueError(f"{directory} has no validated round yet")
    config = DistillConfig.from_dict(json.loads((directory / "config.json").read_text()))
    network = load_network(directory / "best")
    problems = validation_problems(config.validation_problems) \
        + mixture_problems(config.validation_mixture, MIXTURE_VALIDATION_SEED,
                           config.mixture)
    solutions = [_solve(p) for p in problems]
    scores = {lookahead: efficiency_summary(_validation(network, problems, solutions,
                                                       config.validation_paths, lookahead))[0]
              for lookahead in lookaheads}
    chosen = max(lookaheads, key=lambda k: (scores[k], -k))
    origin = start_directory(config.start)
    start = {} if origin is None else read_weights_manifest(origin)
    envelope_source = start if accepted_from is None \
        else read_weights_manifest(Path(accepted_from))
    record = {"config": config.to_dict(), "round": state["best"]["round"],
              "validation_mean": state["best"]["validation_mean"],
              "start_validation_mean": state["start_validation"]["mean"],
              "lookahead_validation": {str(k): round(v, 5) for k, v in scores.items()},
              "wall_time_s": state["wall_time_s"], "threads": 1,
              "environment": read_weights_manifest(directory / "best")["metadata"].get(
                  "environment"),
              "command": command}
    start_metadata = start.get("metadata", {})
    if "distillation" in start_metadata:  # an imitation run's weights: keep theirs whole
        record["start_metadata"] = start_metadata
        metadata = {"distillation": record}
    else:
        metadata = {**start_metadata, "distillation": record}
    accepted = accepted_envelope_from_manifest(envelope_source) if envelope_source \
        else config.envelope
    save_weights(network, destination, metadata, overwrite=overwrite, envelope=config.envelope,
                 accepted_envelope=accepted, lookahead=chosen)
    return record
