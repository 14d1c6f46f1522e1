"""Monte Carlo scoring of GBWM policies on common random numbers.

Every policy is simulated on the same ``T x n_paths`` standard normal draws, so
differences between policies are not market luck, and the efficiency against
a reference (the DP optimum) comes with a paired confidence interval. The
draws are generated in fixed blocks of ``DRAW_BLOCK`` paths, each from its own
``SeedSequence(seed, spawn_key=(block,))``: path ``k`` always gets the same
draws for a given seed, whatever ``chunk_size`` or ``n_paths`` is. Wealth moves
by :func:`gbwm_sb3.envs.dynamics.rollout`, the year kernel the envs step with.

The streams of a block ``b`` (each ``SeedSequence(seed, spawn_key=key)``):

- ``key = (b,)``: the market's shocks (:func:`market_shocks`); for a market with regimes
  the standard normals ``N`` within the regime, exactly :func:`normal_draws`;
- ``key = (b, 1)``: the uniforms deciding who dies (:func:`survival_uniforms`);
- ``key = (b, 2)``: the uniforms moving the market regime from year to year
  (:func:`regime_uniforms`, a market with regimes);
- ``key = (b, 3)``: the standard normal inflation innovations ``eps``
  (:func:`inflation_innovations`, a problem with stochastic inflation).

For a market with regimes (:func:`market_paths`) every path starts in the market's
initial regime, moves by the uniforms, and its shock in year ``t`` is
``m_r + s_r N`` in that year's regime ``r``: every policy sees the same regimes and
shocks, and a policy whose ``act`` takes ``regime=`` is told each path's regime.

For a problem with stochastic inflation (:func:`inflation_paths`) every path starts at the
model's initial rate and moves by the innovations of its own stream; every policy sees the
same rates, and a policy whose ``act`` takes ``inflation=`` is told each path's current
rate ``pi_t``. Wealth is then real: terminal wealth is reported in today's money.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from gbwm_sb3.common.limits import MAX_PATHS, check_horizon, check_int
from gbwm_sb3.envs.dynamics import (
    YearOutcome,
    deaths_from_uniforms,
    has_withdrawals,
    problem_table,
    rollout,
)
from gbwm_sb3.evaluation.strategies import GBWMPolicyLike, reset_policy
from gbwm_sb3.problem.inflation import InflationModel
from gbwm_sb3.problem.market import LognormalMarket, Market
from gbwm_sb3.problem.model import GBWMProblem
from gbwm_sb3.problem.regimes import RegimeMarket

__all__ = ["DRAW_BLOCK", "MAX_CHUNK_DRAWS", "PolicyResult", "EvaluationReport", "evaluate",
           "normal_draws", "market_shocks", "survival_uniforms", "regime_uniforms",
           "market_paths", "SURVIVAL_STREAM", "REGIME_STREAM", "INFLATION_STREAM",
           "inflation_innovations", "inflation_paths"]

#: Paths per block of random numbers (the unit of reproducibility, not of memory).
DRAW_BLOCK = 8192
#: Most draws (paths x T) simulated at once: a chunk has at most ``MAX_CHUNK_DRAWS // T``
#: paths (its draws take at most 128 MiB, twice that while they are assembled).
MAX_CHUNK_DRAWS = 2**24
_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
_Z95 = 1.959963984540054
#: The stream of each block's uniforms deciding deaths (``spawn_key=(block, 1)``) ...
SURVIVAL_STREAM = 1
#: ... of those moving the market regime (``spawn_key=(block, 2)``) ...
REGIME_STREAM = 2
#: ... and of the normal inflation innovations (``spawn_key=(block, 3)``).
INFLATION_STREAM = 3


def normal_draws(seed: int, horizon: int, start: int, stop: int) -> np.ndarray:
    """The evaluator's standard normal draws for paths ``start..stop-1``, shape (T, stop-start)
    (the shocks of the lognormal market, :func:`market_shocks`)."""
    return market_shocks(LognormalMarket(), seed, horizon, start, stop)


def survival_uniforms(seed: int, horizon: int, start: int, stop: int) -> np.ndarray:
    """The evaluator's uniform draws deciding who dies each year (a survival table), for
    paths ``start..stop-1``, shape (T, stop-start): a stream of their own per block
    (``SeedSequence(seed, spawn_key=(block, 1))``), common to every policy."""
    return _block_draws(seed, start, stop, lambda rng: rng.random((horizon, DRAW_BLOCK)),
                        stream=SURVIVAL_STREAM)


def regime_uniforms(seed: int, horizon: int, start: int, stop: int) -> np.ndarray:
    """The evaluator's uniform draws moving the market regime (a market with regimes), for
    paths ``start..stop-1``, shape (T, stop-start): row ``t`` moves year ``t`` to ``t + 1``;
    a stream of their own per block (``SeedSequence(seed, spawn_key=(block, 2))``),
    common to every policy."""
    return _block_draws(seed, start, stop, lambda rng: rng.random((horizon, DRAW_BLOCK)),
                        stream=REGIME_STREAM)


def inflation_innovations(seed: int, horizon: int, start: int, stop: int) -> np.ndarray:
    """The evaluator's standard normal inflation innovations ``eps`` (a problem with
    stochastic inflation) for paths ``start..stop-1``, shape (T, stop-start): row ``t``
    moves the rate of year ``t`` to ``t + 1``; a stream of their own per block
    (``SeedSequence(seed, spawn_key=(block, 3))``), common to every policy."""
    return _block_draws(seed, start, stop,
                        lambda rng: rng.standard_normal((horizon, DRAW_BLOCK)),
                        stream=INFLATION_STREAM)


def inflation_paths(model: InflationModel, seed: int, horizon: int, start: int, stop: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The evaluator's inflation for paths ``start..stop-1``: the innovations ``eps``
    (T, stop-start; :func:`inflation_innovations`) and the rates ``pi_0..pi_T`` they give
    (T+1, stop-start; ``model.rate_paths``, row 0 the initial rate), as
    :func:`~gbwm_sb3.envs.dynamics.rollout` takes them (``inflation=``)."""
    innovations = inflation_innovations(seed, horizon, start, stop)
    return innovations, model.rate_paths(innovations)


def market_shocks(market: Market, seed: int, horizon: int, start: int, stop: int
                  ) -> np.ndarray:
    """The evaluator's yearly shocks of ``market`` for paths ``start..stop-1``, shape
    (T, stop-start): block ``b`` of ``DRAW_BLOCK`` paths is drawn by its own
    ``SeedSequence(seed, spawn_key=(b,))``, so path ``k`` always gets the same shocks.

    For a market with regimes these are the innovations ``N`` (:func:`normal_draws`); the
    regimes they are drawn in come from :func:`market_paths`."""
    return _block_draws(seed, start, stop,
                        lambda rng: market.draw_shocks(rng, (horizon, DRAW_BLOCK)))


def market_paths(market: Market, seed: int, horizon: int, start: int, stop: int
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """The evaluator's markets for paths ``start..stop-1``: the shocks (T, stop-start,
    :func:`market_shocks`) and, for a market with regimes, the regime of each year (int,
    same shape; None otherwise): ``market.regime_paths`` of :func:`regime_uniforms`, year 0
    the initial regime. With regimes the shocks are the innovations ``N`` that the year
    kernel turns into each regime's returns (``dynamics.grow``).
    """
    shocks = market_shocks(market, seed, horizon, start, stop)
    if not isinstance(market, RegimeMarket):
        return shocks, None
    return shocks, market.regime_paths(regime_uniforms(seed, horizon, start, stop))


def _block_draws(seed: int, start: int, stop: int,
                 draw: Callable[[np.random.Generator], np.ndarray],
                 stream: int | None = None) -> np.ndarray:
    """Paths ``start..stop-1`` of draws made block by block, block ``b`` by the generator
    of ``SeedSequence(seed, spawn_key=(b,))`` (``(b, stream)`` for another stream)."""
    first, last = start // DRAW_BLOCK, (stop - 1) // DRAW_BLOCK
    blocks = []
    for block in range(first, last + 1):
        key = (block,) if stream is None else (block, stream)
        sequence = np.random.SeedSequence(seed, spawn_key=key)
        blocks.append(draw(np.random.Generator(np.random.PCG64(sequence))))
    draws = np.concatenate(blocks, axis=1) if len(blocks) > 1 else blocks[0]
    offset = start - first * DRAW_BLOCK
    return draws[:, offset:offset + (stop - start)]


@dataclass
class PolicyResult:
    """One policy's scores over the simulated paths."""

    name: str
    mean_utility: float
    std_error: float
    goal_success: dict[str, float]  # goal label (the time as str for the paper family) -> fraction
    goals_taken_mean: float
    terminal_wealth_mean: float
    terminal_wealth_quantiles: dict[str, float]  # quantile (as str) -> terminal wealth
    efficiency: float | None = None
    efficiency_ci: tuple[float, float] | None = None
    difference_mean: float | None = None  # mean of (policy - reference) per path
    difference_std_error: float | None = None
    seconds: float = 0.0
    # goal label -> fraction of paths taking each level 1..L (general class; None otherwise)
    level_success: dict[str, list[float]] | None = None
    # fraction of paths that went bankrupt (a plan with withdrawals; None otherwise)
    bankruptcy_probability: float | None = None

    def __post_init__(self) -> None:
        if self.efficiency_ci is not None:
            self.efficiency_ci = (float(self.efficiency_ci[0]), float(self.efficiency_ci[1]))


@dataclass
class EvaluationReport:
    """Scores of every evaluated policy (indexable by name), printable and JSON-serialisable."""

    n_paths: int
    seed: int
    reference: str | None
    total_utility: float
    horizon: int
    initial_wealth: float
    goal_times: list[int]
    results: dict[str, PolicyResult] = field(default_factory=dict)
    goal_labels: list[str] | None = None  # keys of goal_success (None: the goal times)
    # market regime name -> share of the simulated years spent in it (None: no regimes)
    regime_share: dict[str, float] | None = None
    # stochastic inflation (None: none): "mean_rate", the mean yearly log rate pi_1..pi_T
    # over every path, and "mean_price_level", the mean price level P_T at the horizon;
    # terminal wealth is then real (today's money)
    inflation: dict[str, float] | None = None

    def __getitem__(self, name: str) -> PolicyResult:
        return self.results[name]

    def __iter__(self):
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def to_markdown(self, per_goal: bool = False) -> str:
        """A Markdown table: mean utility, s.e., efficiency with its 95% CI, goals, wealth."""
        header = ["policy", "mean utility", "s.e.", "efficiency", "95% CI", "goals taken",
                  "success", "terminal W (median)"]
        bankruptcy = any(r.bankruptcy_probability is not None for r in self.results.values())
        if bankruptcy:
            header.append("P(bankrupt)")
        keys = self.goal_keys()
        if per_goal:
            header += ([f"goal t={t}" for t in self.goal_times] if self.goal_labels is None
                       else [f"goal {label}" for label in self.goal_labels])
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        offered = max(len(self.goal_times), 1)
        for r in self.results.values():
            eff = "" if r.efficiency is None else f"{r.efficiency:.4f}"
            ci = "" if r.efficiency_ci is None else \
                f"[{r.efficiency_ci[0]:.4f}, {r.efficiency_ci[1]:.4f}]"
            row = [r.name, f"{r.mean_utility:.3f}", f"{r.std_error:.3f}", eff, ci,
                   f"{r.goals_taken_mean:.2f}", f"{r.goals_taken_mean / offered:.3f}",
                   f"{r.terminal_wealth_quantiles['0.5']:.4g}"]
            if bankruptcy:
                row.append("" if r.bankruptcy_probability is None
                           else f"{r.bankruptcy_probability:.4f}")
            if per_goal:
                row += [f"{r.goal_success[key]:.3f}" for key in keys]
            lines.append("| " + " | ".join(row) + " |")
        return "\n".join(lines)

    def goal_keys(self) -> list[str]:
        """The keys of ``goal_success``, one per goal in the problem's order."""
        if self.goal_labels is None:
            return [str(t) for t in self.goal_times]
        return list(self.goal_labels)

    def __str__(self) -> str:
        ref = f", efficiency vs {self.reference!r}" if self.reference else ""
        regimes = "" if not self.regime_share else "years in each market regime: " + ", ".join(
            f"{name} {share:.1%}" for name, share in self.regime_share.items()) + "\n"
        inflation = "" if not self.inflation else (
            f"inflation: mean yearly rate {self.inflation['mean_rate']:.2%}, mean price level "
            f"at T {self.inflation['mean_price_level']:.4g}; terminal wealth in today's "
            "money\n")
        return (f"{self.n_paths:,} paths (seed {self.seed}), T = {self.horizon}, "
                f"{len(self.goal_times)} goals worth {self.total_utility:g}{ref}\n"
                + regimes + inflation + self.to_markdown())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if data["regime_share"] is None:  # a market without regimes: the report as before
            del data["regime_share"]
        if data["inflation"] is None:  # no stochastic inflation: the report as before
            del data["inflation"]
        for r in data["results"].values():
            if r["efficiency_ci"] is not None:
                r["efficiency_ci"] = list(r["efficiency_ci"])
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationReport:
        data = dict(data)
        results = {}
        for name, r in data.pop("results").items():
            r = dict(r)
            if r.get("efficiency_ci") is not None:
                r["efficiency_ci"] = tuple(r["efficiency_ci"])
            results[name] = PolicyResult(**r)
        return cls(results=results, **data)

    @classmethod
    def from_json(cls, text: str) -> EvaluationReport:
        return cls.from_dict(json.loads(text))


def _is_dp_solution(policy: object) -> bool:
    """Whether ``policy`` is an exact DP solution: an instance of a class of
    :mod:`gbwm_sb3.dp` whose name ends with ``DPSolution`` (``DPSolution``,
    ``RegimeDPSolution`` for a market with regimes, the solution of a problem with
    stochastic inflation), or of a subclass of one."""
    return any(cls.__module__.split(".")[:2] == ["gbwm_sb3", "dp"]
               and cls.__name__.endswith("DPSolution")
               for cls in type(policy).__mro__)


def _resolve_reference(policies: Mapping[str, GBWMPolicyLike], reference: str | None
                       ) -> str | None:
    if reference is None:
        return None
    if reference == "auto":
        for name, policy in policies.items():
            if _is_dp_solution(policy):
                return name
        return None
    if reference not in policies:
        raise ValueError(
            f"reference must be one of the policy names {list(policies)}, 'auto' or None, "
            f"got {reference!r}"
        )
    return reference


def success_keys(problem: GBWMProblem) -> list[str]:
    """Keys of ``goal_success``: goal times for the paper family, goal labels otherwise."""
    if problem.in_paper_family:
        return [str(t) for t in problem.goal_times]
    return list(problem.goal_labels)


def _simulate(policy: GBWMPolicyLike, name: str, problem: GBWMProblem, n_paths: int, seed: int,
              chunk_size: int, inflation_totals: list[float] | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int | None, np.ndarray | None]:
    """Per-path total utility, terminal wealth (real for a problem with stochastic
    inflation), paths taking each (goal, level), the number of bankrupt paths (None for a
    plan without withdrawals) and the years spent in each market regime over all paths
    (None for a market without regimes).

    The third result has shape (goals, max levels): column ``k - 1`` counts level ``k``.
    ``inflation_totals`` (a problem with stochastic inflation), when given, receives the
    sums over paths of the mean yearly rate ``pi_1..pi_T`` and of the price level ``P_T``.
    """
    table = problem_table(problem)
    horizon = problem.horizon
    counter = _LevelCounter(problem)
    utility = np.empty(n_paths)
    terminal = np.empty(n_paths)
    reset_policy(policy)
    check = _ActionCheck(name, int(table.num_decisions[0]), problem.num_portfolios,
                         problem.in_paper_family)
    chunk_size = max(1, min(chunk_size, n_paths, MAX_CHUNK_DRAWS // horizon))
    count = problem.market.regime_count
    years = np.zeros(count, dtype=np.int64) if count > 1 else None
    for start in range(0, n_paths, chunk_size):
        stop = min(start + chunk_size, n_paths)
        draws, regimes = market_paths(problem.market, seed, horizon, start, stop)
        deaths = (deaths_from_uniforms(table, 0, survival_uniforms(seed, horizon, start, stop))
                  if problem.survival else None)
        inflation = (None if problem.inflation is None else
                     inflation_paths(problem.inflation, seed, horizon, start, stop))
        utility[start:stop], terminal[start:stop] = rollout(
            table, policy, draws, check=check, observe=counter.observe, deaths=deaths,
            regimes=regimes, inflation=inflation)
        if inflation is not None and inflation_totals is not None:
            logged = inflation[1][1:horizon + 1].sum(axis=0)  # log P_T of each path
            inflation_totals[0] += float(logged.sum() / horizon)
            inflation_totals[1] += float(np.exp(logged).sum())
        if years is not None and regimes is not None:
            years += np.bincount(regimes[:horizon].ravel(), minlength=count)
    return utility, terminal, counter.counts, counter.bankrupt, years


class _ActionCheck:
    """Validates a policy's ``act`` output, naming the policy: shapes and index ranges."""

    def __init__(self, name: str, num_decisions: int, num_portfolios: int,
                 take_flag: bool) -> None:
        self.name, self.k, self.n, self.take_flag = name, num_decisions, num_portfolios, take_flag

    def __call__(self, t: int, wealth: np.ndarray, take: np.ndarray, portfolio: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
        name, k, n = self.name, self.k, self.n
        if take.shape != wealth.shape or portfolio.shape != wealth.shape:
            raise ValueError(
                f"policy {name!r}: act({t}, wealth) must return two arrays of shape "
                f"{wealth.shape}, got {take.shape} and {portfolio.shape}"
            )
        if portfolio.size and (portfolio.min() < 0 or portfolio.max() >= n
                               or not np.issubdtype(portfolio.dtype, np.integer)):
            raise ValueError(
                f"policy {name!r}: portfolio indices must be integers in [0, {n - 1}], got "
                f"range [{portfolio.min()}, {portfolio.max()}] ({portfolio.dtype})"
            )
        if self.take_flag:  # the paper's family: a take flag, any non-zero value takes
            return take != 0, portfolio
        if take.size and (take.min() < 0 or take.max() >= k):
            raise ValueError(
                f"policy {name!r}: decisions must be integers in [0, {k - 1}], got "
                f"range [{take.min()}, {take.max()}]"
            )
        return take.astype(np.intp), portfolio


class _LevelCounter:
    """Counts the paths taking each level of each goal from the decisions applied."""

    def __init__(self, problem: GBWMProblem) -> None:
        self.problem = problem
        self.general = not problem.in_paper_family
        self.row = {goal: i for i, goal in enumerate(problem.goals)}
        width = max((g.num_levels for g in problem.goals), default=1)
        self.counts = np.zeros((len(problem.goals), width), dtype=np.int64)
        self.bankrupt: int | None = None
        self.withdrawals = has_withdrawals(problem_table(problem))

    def observe(self, year: YearOutcome) -> None:
        """Count the decisions applied in ``year`` (and the automatic one at ``T``)."""
        self.add(year.t, year.applied)
        if year.final is not None:
            self.add(self.problem.horizon, year.final)
            if year.ended is not None and self.withdrawals:
                dead = np.zeros_like(year.ended) if year.dead is None else year.dead
                self.bankrupt = (self.bankrupt or 0) + int((year.ended & ~dead).sum())

    def add(self, t: int, applied: np.ndarray) -> None:
        decisions = self.problem.decisions(t)
        if len(decisions) == 1:
            return
        per_decision = np.bincount(np.asarray(applied).astype(np.intp),
                                   minlength=len(decisions))
        for decision, count in zip(decisions, per_decision.tolist(), strict=False):
            if count:
                for goal, level in zip(decision.goals, decision.levels, strict=True):
                    if level:
                        self.counts[self.row[goal], level - 1] += count


def evaluate(policies: Mapping[str, GBWMPolicyLike], problem: GBWMProblem,
             n_paths: int = 100_000,
             seed: int = 0, reference: str | None = "auto",
             chunk_size: int = 65_536) -> EvaluationReport:
    """Score ``policies`` (name -> object with ``act(t, wealth)``) on common random numbers.

    For a market with regimes every policy sees the same regime paths and shocks
    (:func:`market_paths`); a policy whose ``act`` takes ``regime=`` is called
    ``act(t, wealth, regime=...)`` with each path's regime of the year, any other is
    regime-blind. ``report.regime_share`` gives the share of the simulated years in each
    regime.

    For a problem with stochastic inflation every policy sees the same inflation paths
    (:func:`inflation_paths`, a random stream of their own); a policy whose ``act`` takes
    ``inflation=`` is called ``act(t, wealth, inflation=...)`` with each path's current
    rate ``pi_t`` (float array), any other is not told it. Wealth is simulated in real
    terms: the terminal wealth of the results is in today's money (nominal: times the
    path's price level ``P_T``). ``report.inflation`` gives the mean yearly rate and the
    mean price level at ``T`` of the simulated paths.

    ``reference``: the name of the policy efficiencies are measured against;
    ``"auto"`` (default) picks the first DP solution among ``policies`` (an object of a
    class of :mod:`gbwm_sb3.dp` whose name ends with ``DPSolution``: ``DPSolution``,
    ``RegimeDPSolution`` for a market with regimes, the solution of a problem with
    stochastic inflation; none: no efficiencies); ``None`` turns efficiencies off. ``n_paths`` is at
    most :data:`~gbwm_sb3.common.limits.MAX_PATHS` (10 million). ``chunk_size``
    paths (at most ``MAX_CHUNK_DRAWS // T``) are simulated at a time; results do
    not depend on it.

    Memory, whatever the number of policies: the draws of a chunk (8 bytes x T x
    chunk, twice that while a chunk's draws are assembled) and the policy's work
    on a chunk, plus about 40 bytes x ``n_paths``: the reference's per-path
    utilities, the utilities and terminal wealth of the policy being scored and
    two temporaries of its statistics. Measured peak resident memory of the
    whole process (``/usr/bin/time -v``; the DP, buy-and-hold and random
    policies on the 16-year ``paper_problem(4)``, 65,536-path chunks): 0.65 GB
    at 10 million paths (``MAX_PATHS``), 0.37 GB at 1 million, of which 0.31 GB
    is the interpreter with NumPy, SciPy and PyTorch loaded.
    """
    if not isinstance(problem, GBWMProblem):
        raise ValueError(f"problem must be a GBWMProblem, got {type(problem).__name__}")
    if not isinstance(policies, Mapping) or len(policies) == 0:
        raise ValueError("policies must be a non-empty mapping of name -> policy")
    for name, policy in policies.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"policy names must be non-empty strings, got {name!r}")
        if not callable(getattr(policy, "act", None)):
            raise ValueError(f"policies[{name!r}] must have an act(t, wealth) method, "
                             f"got {type(policy).__name__}")
        own = getattr(policy, "problem", None)
        if isinstance(own, GBWMProblem) and own != problem:
            raise ValueError(f"policies[{name!r}] was built for a different problem than the "
                             "one being evaluated")
    n_paths = check_int(n_paths, "n_paths", 2, MAX_PATHS)
    seed = check_int(seed, "seed", 0, 2**63 - 1)
    chunk_size = check_int(chunk_size, "chunk_size", 1, 100_000_000)
    check_horizon(problem.horizon)
    reference = _resolve_reference(policies, reference)

    reference_utility: np.ndarray | None = None  # the only per-path array kept across policies
    report = EvaluationReport(
        n_paths=n_paths, seed=seed, reference=reference, total_utility=problem.total_utility,
        horizon=problem.horizon, initial_wealth=problem.initial_wealth,
        goal_times=list(problem.goal_times),
        goal_labels=None if problem.in_paper_family else list(problem.goal_labels),
    )
    keys = success_keys(problem)
    order = list(policies)
    if reference is not None:  # the reference first, so efficiencies can be filled in at once
        order.remove(reference)
        order.insert(0, reference)
    sqrt_n = math.sqrt(n_paths)
    for name in order:
        start = time.perf_counter()
        totals = [0.0, 0.0] if problem.inflation is not None and report.inflation is None \
            else None
        utility, terminal, taken, bankrupt, years = _simulate(policies[name], name, problem,
                                                              n_paths, seed, chunk_size, totals)
        seconds = time.perf_counter() - start
        if totals is not None:  # the same for every policy
            report.inflation = {"mean_rate": totals[0] / n_paths,
                                "mean_price_level": totals[1] / n_paths}
        if years is not None and report.regime_share is None:  # the same for every policy
            names = getattr(problem.market, "names", ())
            report.regime_share = {str(regime_name): float(count / years.sum()) for
                                   regime_name, count in zip(names, years.tolist(),
                                                             strict=True)}
        mean = float(utility.mean())
        terminal_mean = float(terminal.mean())
        # quantiles in place: no copy of the n_paths terminal wealths
        quantiles = np.quantile(terminal, _QUANTILES, overwrite_input=True)
        del terminal
        result = PolicyResult(
            name=name,
            mean_utility=mean,
            std_error=float(utility.std(ddof=1) / sqrt_n),
            goal_success={key: float(c / n_paths)
                          for key, c in zip(keys, taken.sum(axis=1), strict=True)},
            goals_taken_mean=float(taken.sum() / n_paths),
            terminal_wealth_mean=terminal_mean,
            terminal_wealth_quantiles={str(q): float(v) for q, v in
                                       zip(_QUANTILES, quantiles, strict=True)},
            seconds=seconds,
            bankruptcy_probability=None if bankrupt is None else bankrupt / n_paths,
        )
        if not problem.in_paper_family:
            result.level_success = {
                key: [float(c / n_paths) for c in row[: goal.num_levels]]
                for key, row, goal in zip(keys, taken, problem.goals, strict=True)
            }
        if reference is not None:
            if name == reference:  # scored first: every other policy is paired with it
                reference_utility = utility
            ref = utility if reference_utility is None else reference_utility
            ref_mean = float(ref.mean())
            work = np.subtract(utility, ref)  # one temporary, reused below
            result.difference_mean = float(work.mean())
            result.difference_std_error = float(work.std(ddof=1) / sqrt_n)
            if ref_mean > 0.0:
                ratio = mean / ref_mean
                # delta method for a ratio of paired means: se = sd(A - R B) / (sqrt(n) mean(B))
                np.multiply(ref, -ratio, out=work)
                work += utility
                se = float(work.std(ddof=1) / (sqrt_n * ref_mean))
                result.efficiency = ratio
                result.efficiency_ci = (ratio - _Z95 * se, ratio + _Z95 * se)
            del work
        del utility
        report.results[name] = result
    report.results = {name: report.results[name] for name in policies}
    return report
