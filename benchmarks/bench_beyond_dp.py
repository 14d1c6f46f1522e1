"""Beyond the DP: PPO against the best DP-based heuristic where the exact DP cannot go.

    nice -n 10 .venv/bin/python benchmarks/bench_beyond_dp.py [--economy regimes-inflation] \\
        [--seeds 5] [--budget 50000] [--paths 50000] [--out docs/results/beyond-dp] \
        [--lookahead]

Two economies with two state variables beyond wealth, which ``solve_dp`` refuses
(``gbwm_sb3.dp.beyond_dp``); each problem is scored on common random numbers (seed 1)
against the exact DPs of the nearest problems the package can solve, acting on the true
state, and the best of them on these paths is the reference.

``--economy regimes-inflation`` (the default; ``--out``/results.jsonl): market regimes and
stochastic inflation together (the two-regime preset and a persistent inflation:
long-run 3%, persistence 0.85, innovation 2%, correlation -0.3 with returns; amounts
indexed). Heuristics:

* **regime DP**: the exact DP of the nearest problem with regimes and no inflation risk
  (each portfolio's real return moment-matched: mean ``mu_j - pibar``, volatility
  ``sqrt(sigma_j^2 + s_pi^2 - 2 rho_j sigma_j s_pi)`` with ``s_pi`` the long-run
  standard deviation of inflation), acting on the true wealth and regime;
* **inflation DP**: the exact two-dimensional DP of the nearest problem with inflation
  and the lognormal market of the regimes' long-run moments, acting on the true wealth
  and inflation rate.

It then measures what the regime DP's heuristic gives up where the DP is exact: on each
problem without regimes (inflation only), the same moment-matched heuristic against the
exact two-dimensional DP, on the same common markets.

``--economy nominal`` (``--out``/nominal.jsonl): the same inflation with nominal amounts
beside indexed ones (a mortgage payment, a level pension, a tuition price fixed today),
whose state is wealth, the rate and the price level. Heuristics (:func:`nominal_problems`):

* **planned_dp**: the two-dimensional DP of the plan with each nominal amount valued at
  the planned price levels (every rate at its expectation), acting on real wealth and
  the rate;
* **adjusted_dp**: the same, its wealth adjusted by what the nominal cash flows still to
  come are worth at the true price level beyond what the plan counted;
* **nominal_dp**: the DP of the plan in money of the day (indexed amounts at the planned
  price levels, no inflation), acting on nominal wealth; exact when every amount is
  nominal.

It then measures what the first two give up where the optimum is known: each problem
with every amount nominal, against the money-of-the-day DP.

PPO (the ``tuned`` preset, ``--budget`` trajectories, every seed) is reported as its
efficiency against the reference with the paired 95% confidence interval. One JSON line
per run (the run resumes); prints the table.

``--lookahead`` also scores the same trained model through
:class:`~gbwm_sb3.evaluation.CriticLookahead` (one step of policy improvement with its own
critic, which needs no DP) against the same reference on the same paths
(``lookahead``, ``lookahead_efficiency``, ``lookahead_efficiency_ci``), and skips the
heuristics' information gap (it does not depend on PPO); use another ``--out`` for it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from gbwm_sb3.dp import solve_dp
from gbwm_sb3.evaluation import evaluate
from gbwm_sb3.evaluation.critic_lookahead import CriticLookahead
from gbwm_sb3.evaluation.strategies import SB3Policy
from gbwm_sb3.ppo.presets import learn_paper, make_preset_model
from gbwm_sb3.problem import InflationModel, load_problem, two_regime_us_market
from gbwm_sb3.problem.market import LognormalMarket
from gbwm_sb3.problem.model import GBWMProblem, Goal, Portfolios, paper_portfolios

HERE = Path(__file__).resolve().parent
PERSISTENT_INFLATION = InflationModel(mean=0.03, persistence=0.85, volatility=0.02,
                                      correlation=-0.3)


def regime_inflation_problems() -> dict[str, GBWMProblem]:
    market, inflation = two_regime_us_market(), PERSISTENT_INFLATION
    shapes = {
        "two_goals": GBWMProblem(horizon=10, initial_wealth=100.0,
                                 goals=(Goal(5, 60.0, 10.0), Goal(10, 90.0, 14.0)),
                                 portfolios=paper_portfolios()),
        "crowded": GBWMProblem(horizon=12, initial_wealth=100.0, portfolios=paper_portfolios(),
                               goals=(Goal(3, 25.0, 10.0),
                                      Goal(7, levels=[(40.0, 20.0), (70.0, 32.0)]),
                                      Goal(7, levels=[(20.0, 8.0), (35.0, 14.0)]),
                                      Goal(12, levels=[(60.0, 30.0), (120.0, 50.0)]))),
        "regime_file": load_problem(HERE.parent / "examples" / "problems"
                                    / "regime_market.yaml"),
    }
    return {name: dataclasses.replace(p, market=market, inflation=inflation)
            for name, p in shapes.items()}


class StateFilter:
    """A DP solution told only the part of the state its problem has."""

    def __init__(self, solution: Any, regime: bool, inflation: bool) -> None:
        self.solution, self.regime, self.inflation = solution, regime, inflation

    def act(self, t: int, wealth: np.ndarray, regime: np.ndarray | None = None,
            inflation: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        state: dict[str, Any] = {}
        if self.regime and regime is not None:
            state["regime"] = regime
        if self.inflation and inflation is not None:
            state["inflation"] = inflation
        return self.solution.act(t, wealth, **state)


def regime_heuristic(problem: GBWMProblem) -> StateFilter:
    """The regime DP of the problem with inflation replaced by moment-matched real returns."""
    model = problem.inflation
    assert model is not None
    sigma, mu = problem.portfolios.volatility_array, problem.portfolios.mean_array
    rho = model.correlations(problem.num_portfolios)
    spread = model.stationary_moments()[1]
    real = Portfolios(mu - model.mean, np.sqrt(sigma**2 + spread**2 - 2 * rho * sigma * spread))
    nearest = dataclasses.replace(problem, portfolios=real, inflation=None)
    return StateFilter(solve_dp(nearest), regime=True, inflation=False)


def inflation_heuristic(problem: GBWMProblem) -> StateFilter:
    """The inflation DP of the problem in the lognormal market of the long-run moments."""
    nearest = dataclasses.replace(problem, market=LognormalMarket())
    return StateFilter(solve_dp(nearest), regime=False, inflation=True)


def regime_inflation_heuristics(problem: GBWMProblem) -> dict[str, Any]:
    return {"regime_dp": regime_heuristic(problem), "inflation_dp": inflation_heuristic(problem)}


# ----------------------------------------------------------------------------- nominal
def _goal_times(goal: Goal, factor: float) -> Goal:
    """``goal`` indexed (not nominal), every level's cost times ``factor``."""
    return Goal(goal.time, levels=[(c * factor, u) for c, u in goal.levels], name=goal.name)


def planned_problem(problem: GBWMProblem) -> GBWMProblem:
    """Every nominal amount replaced by its value in today's money at the planned price
    levels (rates at their expectation): an indexed plan, which the 2-D DP solves."""
    assert problem.inflation is not None
    planned = problem.inflation.planned_price_levels(problem.horizon)
    horizon = problem.horizon
    goals = tuple(_goal_times(g, 1.0 / planned[g.time]) if g.nominal else g
                  for g in problem.goals)
    infusions = (problem.infusion_by_time[:horizon]
                 + problem.nominal_infusion_by_time[:horizon] / planned[:horizon])
    return dataclasses.replace(problem, goals=goals, infusions=tuple(infusions.tolist()),
                               nominal_infusions=())


def money_of_the_day_problem(problem: GBWMProblem) -> GBWMProblem:
    """Every indexed amount replaced by its money of the day at the planned price levels,
    and no inflation: the plan in nominal terms, exact when every amount is nominal (each
    portfolio's nominal return keeps its law)."""
    assert problem.inflation is not None
    planned = problem.inflation.planned_price_levels(problem.horizon)
    horizon = problem.horizon
    goals = tuple(_goal_times(g, 1.0 if g.nominal else planned[g.time]) for g in problem.goals)
    infusions = (problem.infusion_by_time[:horizon] * planned[:horizon]
                 + problem.nominal_infusion_by_time[:horizon])
    return dataclasses.replace(problem, goals=goals, infusions=tuple(infusions.tolist()),
                               nominal_infusions=(), inflation=None)


class PlannedPrices:
    """The 2-D DP of :func:`planned_problem`, acting on real wealth and the rate (blind to
    the price level). With ``adjust_wealth`` its wealth is adjusted by what the nominal
    cash flows from this year on are worth at the true price level beyond what the plan
    counted: ``sum_{s>=t} N_s / Pplan_s (Pplan_t / P_t - 1)``."""

    def __init__(self, problem: GBWMProblem, adjust_wealth: bool) -> None:
        assert problem.inflation is not None
        self.solution = solve_dp(planned_problem(problem))
        self.planned = problem.inflation.planned_price_levels(problem.horizon)
        flows = problem.nominal_infusion_by_time / self.planned
        self.remaining = np.cumsum(flows[::-1])[::-1]  # sum over s >= t of N_s / Pplan_s
        self.adjust_wealth = adjust_wealth

    def act(self, t: int, wealth: np.ndarray, inflation: np.ndarray | None = None,
            price_level: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        assert inflation is not None and price_level is not None
        if self.adjust_wealth:
            wealth = np.maximum(
                wealth + self.remaining[t] * (self.planned[t] / price_level - 1.0), 0.0)
        return self.solution.act(t, wealth, inflation=inflation)


class MoneyOfTheDay:
    """The DP of :func:`money_of_the_day_problem`, acting on nominal wealth ``w P_t``."""

    def __init__(self, problem: GBWMProblem) -> None:
        self.solution = solve_dp(money_of_the_day_problem(problem))

    def act(self, t: int, wealth: np.ndarray, price_level: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
        assert price_level is not None
        return self.solution.act(t, wealth * price_level)


def nominal_problems() -> dict[str, GBWMProblem]:
    """Plans with nominal amounts beside indexed ones, persistent inflation correlated -0.3
    with returns, the lognormal market: a fixed mortgage payment beside indexed savings
    and goals (``nominal_mortgage.yaml``); a level (not indexed) pension paying for
    indexed goals; the goals of ``regime_market.yaml`` with the education's price fixed
    today and its savings level."""
    inflation = PERSISTENT_INFLATION
    base = load_problem(HERE.parent / "examples" / "problems" / "regime_market.yaml")
    education = tuple(Goal(g.time, levels=g.levels, name=g.name, nominal=g.name == "Education")
                      for g in base.goals)
    return {
        # the plan of examples/problems/nominal_mortgage.yaml
        "mortgage": load_problem(HERE.parent / "examples" / "problems"
                                 / "nominal_mortgage.yaml"),
        "level_pension": GBWMProblem(
            horizon=15, initial_wealth=120.0, portfolios=paper_portfolios(), inflation=inflation,
            goals=(*(Goal(t, 30.0, 10.0, name=f"travel {t}") for t in (3, 6, 9, 12)),
                   Goal(15, levels=[(60.0, 15.0), (120.0, 30.0)], name="bequest")),
            nominal_infusions={t: 6.0 for t in range(15)}),
        "fixed_tuition": dataclasses.replace(
            base, market=LognormalMarket(), inflation=inflation, goals=education,
            infusions=(), nominal_infusions=base.infusions),
    }


def nominal_heuristics(problem: GBWMProblem) -> dict[str, Any]:
    return {"planned_dp": PlannedPrices(problem, adjust_wealth=False),
            "adjusted_dp": PlannedPrices(problem, adjust_wealth=True),
            "nominal_dp": MoneyOfTheDay(problem)}


ECONOMIES = {"regimes-inflation": (regime_inflation_problems, regime_inflation_heuristics,
                                   "results.jsonl"),
             "nominal": (nominal_problems, nominal_heuristics, "nominal.jsonl")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--economy", choices=sorted(ECONOMIES), default="regimes-inflation")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=50_000)
    parser.add_argument("--paths", type=int, default=50_000)
    parser.add_argument("--out", type=Path, default=Path("docs/results/beyond-dp"))
    parser.add_argument("--lookahead", action="store_true",
                        help="also score the model through CriticLookahead")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    problems, make_heuristics, file_name = ECONOMIES[args.economy]
    results = args.out / file_name
    done: dict[tuple[str, int], dict[str, Any]] = {}
    if results.exists():
        for line in results.read_text().splitlines():
            record = json.loads(line)
            if record["budget"] == args.budget:
                done[(record["problem"], record["seed"])] = record
    for name, problem in problems().items():
        heuristics = make_heuristics(problem)
        for seed in range(args.seeds):
            if (name, seed) in done:
                continue
            started = time.perf_counter()
            trained = make_preset_model("tuned", problem=problem, seed=seed)
            learn_paper(trained, args.budget)
            seconds = time.perf_counter() - started
            first = evaluate(heuristics, problem, n_paths=args.paths, seed=1, reference=None)
            best = max(heuristics, key=lambda h: first[h].mean_utility)
            scored: dict[str, Any] = {best: heuristics[best],
                                      "ppo": SB3Policy(trained, problem)}
            if args.lookahead:
                scored["lookahead"] = CriticLookahead(trained, problem)
            report = evaluate(scored, problem, n_paths=args.paths, seed=1, reference=best)
            ppo = report["ppo"]
            record = {"problem": name, "seed": seed, "budget": args.budget,
                      "best_heuristic": best,
                      "heuristics": {h: first[h].mean_utility for h in heuristics},
                      "ppo": ppo.mean_utility, "efficiency": ppo.efficiency,
                      "efficiency_ci": ppo.efficiency_ci,
                      "difference": ppo.difference_mean,
                      "difference_std_error": ppo.difference_std_error,
                      "seconds": seconds}
            if args.lookahead:
                lookahead = report["lookahead"]
                record.update({"lookahead": lookahead.mean_utility,
                               "lookahead_efficiency": lookahead.efficiency,
                               "lookahead_efficiency_ci": lookahead.efficiency_ci})
            done[(name, seed)] = record
            with results.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
            print(json.dumps(record), flush=True)
    print(f"\nPPO: the tuned preset, {args.budget:,} trajectories; {args.paths:,} common paths.\n"
          "\n| problem | best DP heuristic | its mean utility | PPO mean over seeds | "
          "PPO / heuristic, mean | lowest | seeds with 95% CI above 1 |\n"
          "|---|---|---|---|---|---|---|")
    for name in problems():
        rows = [r for k, r in done.items() if k[0] == name]
        if not rows:
            continue
        above = sum(r["efficiency_ci"][0] > 1.0 for r in rows)
        best = rows[0]["best_heuristic"]
        print(f"| {name} | {best} | {rows[0]['heuristics'][best]:.4f} | "
              f"{statistics.mean(r['ppo'] for r in rows):.4f} | "
              f"{statistics.mean(r['efficiency'] for r in rows):.4f} | "
              f"{min(r['efficiency'] for r in rows):.4f} | {above} of {len(rows)} |")
    if args.lookahead:
        print("\n| problem | PPO + critic lookahead / heuristic, mean | lowest | "
              "seeds with 95% CI above 1 |\n|---|---|---|---|")
        for name in problems():
            rows = [r for k, r in done.items() if k[0] == name and "lookahead" in r]
            if rows:
                above = sum(r["lookahead_efficiency_ci"][0] > 1.0 for r in rows)
                print(f"| {name} | "
                      f"{statistics.mean(r['lookahead_efficiency'] for r in rows):.4f} | "
                      f"{min(r['lookahead_efficiency'] for r in rows):.4f} | "
                      f"{above} of {len(rows)} |")
        return
    if args.economy == "regimes-inflation":
        information_gap(args.paths)
    else:
        nominal_information_gap(args.paths)


def every_amount_nominal(problem: GBWMProblem) -> GBWMProblem:
    """``problem`` with every goal and infusion nominal (the money-of-the-day DP is exact)."""
    goals = tuple(Goal(g.time, levels=g.levels, name=g.name, nominal=True)
                  for g in problem.goals)
    horizon = problem.horizon
    flows = problem.infusion_by_time[:horizon] + problem.nominal_infusion_by_time[:horizon]
    return dataclasses.replace(problem, goals=goals, infusions=(),
                               nominal_infusions=tuple(flows.tolist()))


def nominal_information_gap(paths: int) -> None:
    """What the planned-price heuristics give up where the optimum is known: each problem
    with every amount nominal, where the money-of-the-day DP is exact."""
    print("\nIgnoring the price level where the DP is exact (every amount nominal):\n"
          "\n| problem | exact (money of the day) | planned_dp / exact | adjusted_dp / exact |\n"
          "|---|---|---|---|")
    for name, problem in nominal_problems().items():
        nominal = every_amount_nominal(problem)
        report = evaluate({"exact": MoneyOfTheDay(nominal),
                           "planned_dp": PlannedPrices(nominal, adjust_wealth=False),
                           "adjusted_dp": PlannedPrices(nominal, adjust_wealth=True)},
                          nominal, n_paths=paths, seed=1, reference="exact")
        cells = []
        for heuristic in ("planned_dp", "adjusted_dp"):
            result = report[heuristic]
            low, high = result.efficiency_ci or (float("nan"), float("nan"))
            cells.append(f"{result.efficiency:.4f} [{low:.4f}, {high:.4f}]")
        print(f"| {name} | {report['exact'].mean_utility:.4f} | {cells[0]} | {cells[1]} |")


def information_gap(paths: int) -> None:
    """What ignoring the inflation rate costs where the exact DP exists (no regimes)."""
    print("\nIgnoring the rate where the DP is exact (inflation only, lognormal market):\n"
          "\n| problem | exact DP | moment-matched heuristic | heuristic / exact | 95% CI |\n"
          "|---|---|---|---|---|")
    for name, problem in regime_inflation_problems().items():
        inflation_only = dataclasses.replace(problem, market=LognormalMarket())
        exact = solve_dp(inflation_only)
        report = evaluate({"exact": exact, "heuristic": regime_heuristic(inflation_only)},
                          inflation_only, n_paths=paths, seed=1, reference="exact")
        result = report["heuristic"]
        low, high = result.efficiency_ci or (float("nan"), float("nan"))
        print(f"| {name} | {report['exact'].mean_utility:.4f} | {result.mean_utility:.4f} | "
              f"{result.efficiency:.4f} | [{low:.4f}, {high:.4f}] |")


if __name__ == "__main__":
    main()
