"""Pictures of GBWM policies and results (matplotlib, Agg backend; PNG and SVG).

- :func:`plot_policy_heatmaps`: the decision over (year, wealth) for several policies side by
  side (e.g. DP and RL): the portfolio chosen, and whether the goal is taken or skipped.
- :func:`plot_wealth_fan`: percentile bands of wealth over time under a policy, goals marked.
- :func:`plot_goal_success`: probability that each goal is reached, per policy.
- :func:`plot_training_curves`: mean utility, goal success rate and efficiency against DP
  over training (from SB3's ``progress.csv`` or a dict of arrays).
- :func:`plot_efficiency_by_goals`: the paper's Figure 2: efficiency of each strategy across
  the number of goals, with the paper's values beside ours.

Every ``plot_*`` function returns a matplotlib ``Figure``; :func:`save_figure` writes it as
PNG and SVG. Policies are anything with ``act(t, wealth) -> (take, portfolio)``.

For a problem with stochastic inflation wealth is real (today's money) throughout, as the
simulators carry it, and the labels say so; :class:`SimulatedPaths` also holds each path's
inflation rates and price levels (nominal wealth is wealth times the price level).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.artist import Artist  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from gbwm_sb3.common.limits import check_int  # noqa: E402
from gbwm_sb3.envs.dynamics import (  # noqa: E402
    YearOutcome,
    apply_decisions,
    call_policy,
    price_levels,
    problem_table,
    rollout,
)
from gbwm_sb3.envs.observation import decision_affordable  # noqa: E402
from gbwm_sb3.evaluation.evaluator import inflation_paths, market_paths  # noqa: E402
from gbwm_sb3.evaluation.strategies import GBWMPolicyLike  # noqa: E402
from gbwm_sb3.problem.model import GBWMProblem  # noqa: E402
from gbwm_sb3.problem.regimes import RegimeMarket  # noqa: E402

__all__ = [
    "SimulatedPaths",
    "simulate_paths",
    "goal_success_probabilities",
    "policy_grid",
    "plot_policy_heatmaps",
    "plot_wealth_fan",
    "plot_goal_success",
    "plot_training_curves",
    "plot_efficiency_by_goals",
    "read_progress_csv",
    "save_figure",
    "STRATEGY_LABELS",
    "FIGURE_FORMATS",
]

FIGURE_FORMATS = ("png", "svg")

#: Readable names of the strategies used by the evaluation and the sweeps.
STRATEGY_LABELS: dict[str, str] = {
    "dp": "DP (optimum)",
    "rl": "RL (PPO)",
    "greedy_goals_rl_portfolios": "Greedy goals + RL portfolios",
    "buy_and_hold_coin_flip": "Buy-and-hold + coin-flip goals",
    "random": "Random portfolios + coin-flip goals",
    "dp_portfolios_rl_goals": "RL goals + DP portfolios",
    "rl_portfolios_dp_goals": "DP goals + RL portfolios",
    "rl_critic_lookahead": "RL + critic lookahead",
}

# Goal-decision categories of the heatmap.
_NO_GOAL, _UNAFFORDABLE, _SKIP, _TAKE = range(4)
_GOAL_COLOURS = ("#f4f4f4", "#c9c9c9", "#e8843c", "#2e9a57")
_GOAL_LABELS = ("no goal this year", "goal unaffordable", "goal skipped", "goal taken")


def _label(name: str) -> str:
    return STRATEGY_LABELS.get(name, name)


def _check_problem(problem: Any) -> GBWMProblem:
    if not isinstance(problem, GBWMProblem):
        raise ValueError(f"problem must be a GBWMProblem, got {type(problem).__name__}")
    return problem


def _check_policies(policies: Mapping[str, GBWMPolicyLike]) -> dict[str, GBWMPolicyLike]:
    if not isinstance(policies, Mapping) or not policies:
        raise ValueError("policies must be a non-empty mapping of name -> policy")
    for name, policy in policies.items():
        if not callable(getattr(policy, "act", None)):
            raise ValueError(f"policies[{name!r}] must have an act(t, wealth) method, "
                             f"got {type(policy).__name__}")
    return dict(policies)


def _goal_label(problem: GBWMProblem, index: int) -> str:
    goal = problem.goals[index]
    return f"{goal.name} (t={goal.time})" if goal.name else f"t={goal.time}"


def _money(problem: GBWMProblem) -> str:
    money = "wealth" if problem.unit == 1.0 else f"wealth (unit {problem.unit:g})"
    return money if problem.inflation is None else f"{money} in today's money"


# ----------------------------------------------------------------------------- simulation
@dataclass(frozen=True)
class SimulatedPaths:
    """Paths of a policy: pre-goal wealth (T+1, n), goals taken (T+1, n), portfolios (T, n).

    For a problem of the general class ``decision`` (T+1, n) holds the decision applied
    each year and ``taken`` whether it took anything; for a market with regimes
    ``regime`` (T, n) the market regime of each year.

    For a problem with stochastic inflation ``wealth`` is real (today's money),
    ``inflation`` (T+1, n) holds the rates ``pi_0..pi_T`` of each path and
    ``price_level`` (T+1, n) the price levels ``P_0 = 1 .. P_T``: the nominal wealth of
    year ``t`` is ``wealth[t] * price_level[t]`` (:meth:`nominal_wealth`).
    """

    wealth: np.ndarray
    taken: np.ndarray
    portfolio: np.ndarray
    utility: np.ndarray
    decision: np.ndarray | None = None
    regime: np.ndarray | None = None
    inflation: np.ndarray | None = None
    price_level: np.ndarray | None = None

    def nominal_wealth(self) -> np.ndarray:
        """Wealth in the money of each year (real wealth times the price level; the wealth
        itself without stochastic inflation)."""
        return self.wealth if self.price_level is None else self.wealth * self.price_level


def simulate_paths(problem: GBWMProblem, policy: GBWMPolicyLike, n_paths: int = 2_000,
                   seed: int = 0) -> SimulatedPaths:
    """Simulate ``policy`` on ``n_paths`` markets (vectorised over paths; shared dynamics).

    The markets are the evaluator's for ``seed`` (:func:`gbwm_sb3.evaluation.market_paths`,
    regimes included, and :func:`gbwm_sb3.evaluation.inflation_paths`), so the paths are
    those that ``evaluate(..., seed=seed)`` scores. With stochastic inflation the wealth
    recorded is real (today's money) and the rates and price levels come with it.
    """
    problem = _check_problem(problem)
    n_paths = check_int(n_paths, "n_paths", 1)
    _check_policies({"policy": policy})
    table = problem_table(problem)
    horizon = problem.horizon
    draws, regimes = market_paths(problem.market, seed, horizon, 0, n_paths)  # the evaluator's
    inflation = (None if problem.inflation is None
                 else inflation_paths(problem.inflation, seed, horizon, 0, n_paths))
    reset = getattr(policy, "reset", None)
    if callable(reset):
        reset()
    wealth_paths = np.empty((horizon + 1, n_paths))
    decisions = np.zeros((horizon + 1, n_paths), dtype=np.intp)
    portfolios = np.empty((horizon, n_paths), dtype=np.intp)

    def record(year: YearOutcome) -> None:
        wealth_paths[year.t] = year.wealth
        decisions[year.t] = year.applied
        portfolios[year.t] = year.portfolio
        if year.final is not None:
            wealth_paths[horizon] = year.grown
            decisions[horizon] = year.final

    utility, _ = rollout(table, policy, draws, observe=record, regimes=regimes,
                         inflation=inflation)
    if problem.in_paper_family:
        return SimulatedPaths(wealth_paths, decisions > 0, portfolios, utility)
    rates = levels = None
    if inflation is not None:
        rates = inflation[1][:horizon + 1]
        levels = price_levels(rates)  # the levels the kernel deflated nominal amounts by
    return SimulatedPaths(wealth_paths, decisions > 0, portfolios, utility, decisions,
                          None if regimes is None else regimes[:horizon], rates, levels)


def goal_success_probabilities(problem: GBWMProblem, paths: SimulatedPaths) -> np.ndarray:
    """Fraction of paths on which each goal (in time order) was taken, shape (num_goals,)."""
    if paths.decision is None:
        return paths.taken[list(problem.goal_times)].mean(axis=1)
    success = []
    for goal in problem.goals:
        year = problem.decisions(goal.time)
        column = year[0].goals.index(goal)
        levels = np.array([d.levels[column] for d in year])
        success.append(float((levels[paths.decision[goal.time]] > 0).mean()))
    return np.asarray(success)


def _default_wealth_range(problem: GBWMProblem) -> tuple[float, float]:
    costs = [g.cost for g in problem.goals if g.cost > 0]
    low = 0.25 * min([problem.initial_wealth] + costs)
    growth = math.exp(max(problem.portfolios.means) * problem.horizon)
    high = 2.0 * max([problem.initial_wealth * growth] + costs)
    return low, high


def policy_grid(problem: GBWMProblem, policy: GBWMPolicyLike, wealth: np.ndarray,
                regime: int | None = None, inflation: float | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Decisions over (year, wealth): portfolio (T, W) and goal category (T, W).

    Goal categories: 0 no goal, 1 unaffordable, 2 skipped, 3 taken. For a problem of the
    general class the second array holds the decision taken (index into
    ``problem.decisions(t)``, 0 = nothing), -1 in years without a goal. For a market with
    regimes the decisions are those in ``regime`` (default: the market's initial regime;
    a regime-blind policy decides the same in every regime). For a problem with stochastic
    inflation ``wealth`` is real (today's money) and the decisions are those at the
    inflation rate ``inflation`` (default: the model's initial rate) in every year; with
    nominal amounts, at the price levels of rates at their expectation
    (:meth:`~gbwm_sb3.problem.inflation.InflationModel.planned_price_levels`).
    """
    problem = _check_problem(problem)
    wealth = np.asarray(wealth, dtype=np.float64)
    horizon = problem.horizon
    regimes = _regime_array(problem, regime, wealth.shape)
    rates = _inflation_array(problem, inflation, wealth.shape)
    portfolio = np.empty((horizon, wealth.size), dtype=np.intp)
    goal = np.full((horizon, wealth.size), _NO_GOAL, dtype=np.intp)
    table = problem_table(problem)
    general = not problem.in_paper_family
    planned = (problem.inflation.planned_price_levels(horizon)
               if problem.inflation is not None and problem.has_nominal_amounts else None)
    for t in range(horizon):
        level = None if planned is None else np.full(wealth.shape, planned[t])
        take, chosen = call_policy(policy, t, wealth, regimes, inflation=rates,
                                   price_level=level)
        portfolio[t] = np.asarray(chosen, dtype=np.intp)
        if general:
            goal[t] = -1
        if not problem.has_goal[t]:
            continue
        applied = apply_decisions(table, 0, t, wealth, np.asarray(take), price_level=level)[2]
        if general:
            goal[t] = applied
        else:
            affordable = decision_affordable(table, t, wealth, level)[:, 1]
            goal[t] = np.where(~affordable, _UNAFFORDABLE, np.where(applied > 0, _TAKE, _SKIP))
    return portfolio, goal


def _regime_array(problem: GBWMProblem, regime: int | None, shape: tuple[int, ...]
                  ) -> np.ndarray | None:
    """``regime`` (default: the initial one) for every wealth, None without regimes."""
    count = problem.market.regime_count
    if count <= 1:
        if regime is not None:
            raise ValueError("regime must be None: the problem's market has no regimes")
        return None
    if regime is None:
        regime = int(getattr(problem.market, "initial_index", 0))
    if isinstance(regime, (bool, np.bool_)) or not isinstance(regime, (int, np.integer)) \
            or not 0 <= regime < count:
        raise ValueError(f"regime must be a regime index in 0..{count - 1}, got {regime!r}")
    return np.full(shape, int(regime), dtype=np.intp)


def _inflation_array(problem: GBWMProblem, inflation: float | None, shape: tuple[int, ...]
                     ) -> np.ndarray | None:
    """``inflation`` (default: the initial rate) for every wealth, None without stochastic
    inflation."""
    model = problem.inflation
    if model is None:
        if inflation is not None:
            raise ValueError("inflation must be None: the problem has no stochastic inflation")
        return None
    if inflation is None:
        inflation = model.initial_rate
    if isinstance(inflation, (bool, np.bool_)) or not isinstance(
            inflation, (int, float, np.integer, np.floating)) or not math.isfinite(inflation):
        raise ValueError(f"inflation must be a finite rate (a number), got {inflation!r}")
    return np.full(shape, float(inflation))


# ----------------------------------------------------------------------------- figures
def _state_label(problem: GBWMProblem, regime: int | None, inflation: float | None) -> str:
    """`` (stressed regime, inflation 4.0%)``: the state beyond wealth a heatmap is drawn in."""
    parts = []
    market = problem.market
    if isinstance(market, RegimeMarket):
        parts.append(f"{market.names[market.initial_index if regime is None else regime]} "
                     "regime")
    if problem.inflation is not None:
        rate = problem.inflation.initial_rate if inflation is None else inflation
        parts.append(f"inflation {rate:.1%}")
    return f" ({', '.join(parts)})" if parts else ""


def plot_policy_heatmaps(problem: GBWMProblem, policies: Mapping[str, GBWMPolicyLike],
                         wealth_range: tuple[float, float] | None = None,
                         n_wealth: int = 240, regime: int | None = None,
                         inflation: float | None = None) -> Figure:
    """Portfolio chosen (top) and goal decision (bottom) over (year, wealth), one column each.

    With market regimes, the decisions in ``regime`` (default the initial one); with
    stochastic inflation, at the rate ``inflation`` (default the initial one), wealth in
    today's money (see :func:`policy_grid`): one figure per regime or rate."""
    problem = _check_problem(problem)
    policies = _check_policies(policies)
    n_wealth = check_int(n_wealth, "n_wealth", 1)
    low, high = wealth_range if wealth_range is not None else _default_wealth_range(problem)
    if not (0 < low < high and math.isfinite(high)):
        raise ValueError(f"wealth_range must be (low, high) with 0 < low < high, got "
                         f"{wealth_range!r}")
    wealth = np.geomspace(low, high, n_wealth)
    edges_w = np.geomspace(low, high, n_wealth + 1)
    edges_t = np.arange(problem.horizon + 1) - 0.5
    n = problem.num_portfolios
    columns = len(policies)
    fig, axes = plt.subplots(2, columns, figsize=(4.2 * columns + 1.6, 7.4), sharex=True,
                             sharey=True, squeeze=False, constrained_layout=True)
    portfolio_cmap = plt.get_cmap("viridis", n)
    portfolio_norm = BoundaryNorm(np.arange(n + 1) + 0.5, n)
    general = not problem.in_paper_family
    if general:  # colour = decision index; grey: no goal that year
        k = problem.max_decisions
        colours = ["#f4f4f4"] + [plt.get_cmap("tab20")(i % 20) for i in range(k)]
        goal_cmap = ListedColormap(colours)
        goal_norm = BoundaryNorm(np.arange(k + 2) - 1.5, k + 1)
    else:
        goal_cmap = ListedColormap(_GOAL_COLOURS)
        goal_norm = BoundaryNorm(np.arange(5) - 0.5, 4)
    for col, (name, policy) in enumerate(policies.items()):
        portfolio, goal = policy_grid(problem, policy, wealth, regime=regime,
                                      inflation=inflation)
        top, bottom = axes[0, col], axes[1, col]
        mesh = top.pcolormesh(edges_t, edges_w, (portfolio + 1).T, cmap=portfolio_cmap,
                              norm=portfolio_norm, shading="flat", rasterized=True)
        bottom.pcolormesh(edges_t, edges_w, goal.T, cmap=goal_cmap, norm=goal_norm,
                          shading="flat", rasterized=True)
        top.set_title(f"{_label(name)}: portfolio{_state_label(problem, regime, inflation)}")
        bottom.set_title(f"{_label(name)}: " + ("decision taken" if general else "goal decision"))
        for ax in (top, bottom):
            ax.set_yscale("log")
            ax.axhline(problem.initial_wealth, color="white", lw=0.8, ls=":")
        bottom.set_xlabel("year t")
        bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
        for t in problem.goal_times:
            if t < problem.horizon:
                bottom.plot([t - 0.5, t + 0.5], [problem.cost_by_time[t]] * 2, color="black",
                            lw=1.0)
    fig.supylabel(f"{_money(problem)} before the goal (log scale)")  # once for both rows
    bar = fig.colorbar(mesh, ax=axes[0, :].tolist(), shrink=0.9, pad=0.01)
    bar.set_label("portfolio # (1 = lowest risk)")
    ticks = np.unique(np.linspace(1, n, min(n, 8)).round().astype(int))
    bar.set_ticks(ticks.tolist())
    if general:
        labels = ["no goal this year", "take nothing"] + [
            f"decision {d}" for d in range(1, problem.max_decisions)]
        handles: list[Artist] = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours]
        handles.append(plt.Line2D([0], [0], color="black", lw=1.0))
        fig.legend(handles, labels + ["top-level cost of the year's goals"],
                   loc="outside lower center", ncol=min(len(labels) + 1, 3 * columns),
                   frameon=False, fontsize=8)
    else:
        handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in _GOAL_COLOURS]
        handles.append(plt.Line2D([0], [0], color="black", lw=1.0))
        fig.legend(handles, list(_GOAL_LABELS) + ["goal cost"], loc="outside lower center",
                   ncol=min(5, 3 * columns), frameon=False, fontsize=8)
    fig.suptitle("Policy over (year, wealth); dotted line: initial wealth")
    return fig


def plot_wealth_fan(problem: GBWMProblem, policy: GBWMPolicyLike, n_paths: int = 5_000,
                    seed: int = 0, name: str = "policy", paths: SimulatedPaths | None = None,
                    log_scale: bool = False) -> Figure:
    """Percentile bands (5-95, 25-75) and median of pre-goal wealth over time, goals marked."""
    problem = _check_problem(problem)
    if paths is None:
        paths = simulate_paths(problem, policy, n_paths, seed)
    years = np.arange(problem.horizon + 1)
    q = np.percentile(paths.wealth, [5, 25, 50, 75, 95], axis=1)
    fig, ax = plt.subplots(figsize=(8, 4.8), constrained_layout=True)
    colour = "#2b6cb0"
    ax.fill_between(years, q[0], q[4], color=colour, alpha=0.15, label="5-95th percentile")
    ax.fill_between(years, q[1], q[3], color=colour, alpha=0.3, label="25-75th percentile")
    ax.plot(years, q[2], color=colour, lw=2, label="median")
    success = goal_success_probabilities(problem, paths)
    general = not problem.in_paper_family
    last_labelled, in_year = -10, 0
    for i, goal in enumerate(problem.goals):
        ax.axvline(goal.time, color="grey", lw=0.8, ls="--", zorder=0)
        ax.scatter([goal.time], [goal.cost], marker="D", color="#c53030", zorder=3,
                   label="goal cost" if i == 0 else None)
        text = goal.name or f"goal {i + 1}"
        if general:  # several goals a year: stack their labels; skip crowded neighbours
            in_year = in_year + 1 if goal.time == last_labelled else 0
            if in_year == 0 and goal.time - last_labelled < 4:
                continue
            last_labelled = goal.time
        ax.annotate(f"{text}\n{success[i]:.0%} reached", (goal.time, goal.cost),
                    textcoords="offset points", xytext=(4, 6 + 22 * in_year), fontsize=8,
                    color="#742a2a")
    if problem.infusions or problem.nominal_infusions:  # savings and withdrawals, as bars
        # on their year (nominal ones as written)
        amounts = (problem.infusion_by_time + problem.nominal_infusion_by_time)[:-1]
        for sign, colour, label in ((1.0, "#38a169", "savings added that year"),
                                    (-1.0, "#dd6b20", "withdrawal that year")):
            shown = np.where(sign * amounts > 0, amounts, 0.0)
            if shown.any():
                ax.bar(np.arange(problem.horizon), shown, width=0.6, color=colour, alpha=0.6,
                       label=label, zorder=2)
    if log_scale:
        ax.set_yscale("log")
    else:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"
                                                   if abs(value) >= 1000 else f"{value:g}"))
    ax.set_xlim(-0.3, problem.horizon + 0.8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("year t")
    ax.set_ylabel(f"{_money(problem)} before the year's goal")
    ax.set_title(f"Wealth under {_label(name)} ({paths.wealth.shape[1]:,} simulated markets; "
                 f"mean utility {paths.utility.mean():.2f})")
    ax.legend(loc="upper left", frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def plot_goal_success(problem: GBWMProblem, success: Mapping[str, Sequence[float]]) -> Figure:
    """Grouped bars: probability that each goal is reached, for each policy."""
    problem = _check_problem(problem)
    if not isinstance(success, Mapping) or not success:
        raise ValueError("success must be a non-empty mapping of name -> per-goal probabilities")
    n_goals = len(problem.goals)
    rows = {}
    for name, values in success.items():
        array = np.asarray(values, dtype=np.float64)
        if array.shape != (n_goals,) or np.any((array < 0) | (array > 1)):
            raise ValueError(f"success[{name!r}] must hold {n_goals} probabilities in [0, 1], "
                             f"got {values!r}")
        rows[name] = array
    width = 0.8 / len(rows)
    x = np.arange(n_goals)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * n_goals * max(1, len(rows)) / 2 + 4), 4.4),
                           constrained_layout=True)
    for k, (name, heights) in enumerate(rows.items()):
        bars = ax.bar(x + (k - (len(rows) - 1) / 2) * width, heights, width, label=_label(name))
        if n_goals * len(rows) <= 24:
            ax.bar_label(bars, labels=[f"{v:.0%}" for v in heights], fontsize=7, padding=1)
    ax.set_xticks(x, [_goal_label(problem, i) for i in range(n_goals)],
                  rotation=30 if n_goals > 6 else 0, ha="right" if n_goals > 6 else "center")
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("probability the goal is reached")
    ax.set_title("Goal success probabilities")
    fig.legend(loc="outside lower center", ncol=min(len(rows), 4), frameon=False, fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig


def read_progress_csv(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Columns of an SB3 ``progress.csv`` as float arrays (NaN where a row has no value)."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{path}: no rows (has training logged anything?)")
    columns: dict[str, np.ndarray] = {}
    for key in rows[0]:
        values = []
        for row in rows:
            try:
                values.append(float(row.get(key) or "nan"))
            except ValueError:
                values.append(float("nan"))
        columns[key] = np.asarray(values)
    return columns


_CURVES = (
    ("gbwm/mean_episode_utility", "mean episode utility (training rollouts)"),
    ("gbwm/goal_success_rate", "goal success rate (taken / offered)"),
    ("gbwm/efficiency", "efficiency against DP (deterministic policy)"),
)


def plot_training_curves(progress: Mapping[str, Sequence[float]] | str | os.PathLike[str],
                         horizon: int | None = None) -> Figure:
    """Mean utility, goal success rate and efficiency against training progress.

    ``progress``: a ``progress.csv`` path or a mapping with ``time/total_timesteps`` and the
    ``gbwm/...`` columns (missing columns leave their panel empty). With ``horizon`` the
    x axis counts trajectories (timesteps / T).
    """
    data = read_progress_csv(progress) if isinstance(progress, (str, os.PathLike)) else progress
    if "time/total_timesteps" not in data:
        raise ValueError("progress must have a 'time/total_timesteps' column")
    steps = np.asarray(data["time/total_timesteps"], dtype=np.float64)
    x, xlabel = (steps / horizon, "trajectories") if horizon else (steps, "environment steps")
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), constrained_layout=True)
    for ax, (key, title) in zip(axes, _CURVES, strict=True):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        if key not in data:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes,
                    color="grey")
            continue
        y = np.asarray(data[key], dtype=np.float64)
        keep = np.isfinite(y) & np.isfinite(x)
        ax.plot(x[keep], y[keep], marker="o", ms=3)
        if key == "gbwm/efficiency" and keep.any():
            ax.axhline(1.0, color="black", lw=0.8, ls="--")
            best = np.nanargmax(np.where(keep, y, np.nan))
            ax.annotate(f"best {y[best]:.3f}", (x[best], y[best]), textcoords="offset points",
                        xytext=(-6, -14), ha="right", fontsize=8)
    fig.suptitle("Training progress")
    return fig


def plot_efficiency_by_goals(results: Mapping[str, Mapping[int, float]],
                             paper: Mapping[str, Mapping[int, float]] | None = None,
                             title: str = "Efficiency against DP by number of goals") -> Figure:
    """The paper's Figure 2: each strategy's efficiency (vs DP) per number of goals.

    ``results`` maps a strategy to ``{NG: efficiency}``; ``paper`` (same form) is drawn as
    hollow markers of the same colour for comparison.
    """
    if not isinstance(results, Mapping) or not results:
        raise ValueError("results must be a non-empty mapping of strategy -> {NG: efficiency}")
    goal_counts = sorted({int(ng) for row in results.values() for ng in row})
    position = {ng: i for i, ng in enumerate(goal_counts)}
    fig, ax = plt.subplots(figsize=(8.5, 4.8), constrained_layout=True)
    colours = plt.get_cmap("tab10")
    width = 0.8 / len(results)
    for k, (name, row) in enumerate(results.items()):
        xs = np.array([position[int(ng)] for ng in row], dtype=float)
        ys = np.array([row[ng] for ng in row], dtype=float)
        offset = (k - (len(results) - 1) / 2) * width
        bars = ax.bar(xs + offset, ys, width, color=colours(k % 10), label=_label(name))
        if len(goal_counts) == 1:
            ax.bar_label(bars, fmt="%.3f", fontsize=8, label_type="center", color="white",
                         fontweight="bold")
        reference = (paper or {}).get(name)
        if reference:
            ref = [(position[int(ng)], v) for ng, v in reference.items() if int(ng) in position]
            if ref:
                rx, ry = np.array(ref).T
                ax.scatter(rx + offset, ry, marker="_", s=120, color="black", zorder=3,
                           label="paper" if k == 0 or "paper" not in
                           ax.get_legend_handles_labels()[1] else None)
    ax.set_xticks(range(len(goal_counts)), [f"NG = {ng}" for ng in goal_counts])
    all_values = [v for row in results.values() for v in row.values()]
    ax.set_ylim(max(0.0, min(all_values) - 0.1), 1.03)
    ax.axhline(1.0, color="black", lw=0.8, ls="--")
    ax.set_ylabel("mean utility / DP mean utility")
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="y", alpha=0.3)
    return fig


def save_figure(fig: Figure, stem: str | os.PathLike[str],
                formats: Sequence[str] = FIGURE_FORMATS, dpi: int = 130) -> list[Path]:
    """Write ``fig`` as ``stem.png`` / ``stem.svg`` (the formats asked), close it, return paths."""
    bad = [f for f in formats if f not in ("png", "svg", "pdf")]
    if bad or not formats:
        raise ValueError(f"formats must be a non-empty selection of png, svg, pdf; got {formats}")
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        fig.savefig(path, dpi=dpi, metadata={"Date": None} if fmt == "svg" else None)
        paths.append(path)
    plt.close(fig)
    return paths
