"""Every simulator carries stochastic inflation: envs, the evaluator, the plots and training."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from general_problems import small_general_problem
from gymnasium.utils import seeding
from stable_baselines3.common.env_checker import check_env

from gbwm_sb3.envs import GBWMEnv, MultiProblemVecEnv
from gbwm_sb3.envs.dynamics import (
    YearOutcome,
    call_policy,
    policy_inputs,
    problem_table,
    rollout,
    sees_inflation,
    sees_regime,
)
from gbwm_sb3.envs.observation import (
    DECISION_FLAGS_START,
    INFLATION_CLIP,
    decision_features_size,
    encode_observation,
    inflation_column,
    observation_bounds,
    observation_size,
    regime_columns,
)
from gbwm_sb3.envs.vec_env import GBWMVecEnv
from gbwm_sb3.evaluation import (
    BuyAndHold,
    EvaluationReport,
    GreedyGoals,
    Hybrid,
    RandomPolicy,
    evaluate,
    inflation_paths,
)
from gbwm_sb3.evaluation.evaluator import (
    DRAW_BLOCK,
    INFLATION_STREAM,
    inflation_innovations,
    normal_draws,
    regime_uniforms,
    survival_uniforms,
)
from gbwm_sb3.plots import plot_wealth_fan, policy_grid, simulate_paths
from gbwm_sb3.problem import InflationModel, two_regime_us_market
from gbwm_sb3.problem.model import GBWMProblem, Goal, Portfolios, paper_problem

BASE = small_general_problem()
MODEL = InflationModel(mean=0.025, persistence=0.6, volatility=0.015, initial=0.04,
                       correlation=(0.3, -0.2, 0.5))
PROBLEM = dataclasses.replace(BASE, inflation=MODEL)
MARKET = two_regime_us_market()
BOTH = dataclasses.replace(BASE, market=MARKET, inflation=MODEL)
K = int(problem_table(PROBLEM).num_decisions[0])


class RateAware:
    """Takes decision 1 where affordable; holds a portfolio that depends on the year and on
    whether the rate is above its long-run mean; records the rates it was told."""

    def __init__(self, n_portfolios: int, mean: float = MODEL.mean) -> None:
        self.n, self.mean = n_portfolios, mean
        self.told: dict[int, list[np.ndarray]] = {}

    def seen(self, t: int) -> np.ndarray:
        """The rates told at year ``t``, over every call (chunks of paths) in order."""
        return np.concatenate(self.told[t])

    def act(self, t: int, wealth: np.ndarray, inflation: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
        assert inflation is not None
        self.told.setdefault(t, []).append(np.array(inflation, copy=True))
        high = (np.asarray(inflation) > self.mean).astype(np.intp)
        return np.ones(wealth.shape, dtype=np.intp), ((t + high) % self.n).astype(np.intp)


class SeesBoth:
    """Portfolio = regime, decision 1 where the rate is above the mean; records both."""

    def __init__(self) -> None:
        self.regimes: list[np.ndarray] = []
        self.rates: list[np.ndarray] = []

    def act(self, t: int, wealth: np.ndarray, *, regime: np.ndarray | None = None,
            inflation: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        assert regime is not None and inflation is not None
        self.regimes.append(np.array(regime))
        self.rates.append(np.array(inflation))
        return ((np.asarray(inflation) > MODEL.mean).astype(np.intp),
                np.asarray(regime, dtype=np.intp))


class Blind:
    def act(self, t: int, wealth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(wealth.shape, dtype=np.intp), np.ones(wealth.shape, dtype=np.intp)


# ----------------------------------------------------------------------------- the contract
def test_policies_taking_inflation_are_told_it_and_others_are_not() -> None:
    assert sees_inflation(RateAware(3)) and not sees_regime(RateAware(3))
    assert policy_inputs(SeesBoth()) == {"regime", "inflation"}
    assert policy_inputs(Blind()) == frozenset() and not sees_inflation(BuyAndHold(1))
    assert not sees_inflation(RandomPolicy(3))
    assert sees_inflation(GreedyGoals(Blind())) and sees_inflation(Hybrid(Blind(), Blind()))
    wealth = np.ones(3)
    rate = np.array([0.0, 0.05, 0.01])
    np.testing.assert_array_equal(call_policy(RateAware(3), 1, wealth, inflation=rate)[1],
                                  [1, 2, 1])
    np.testing.assert_array_equal(call_policy(Blind(), 0, wealth, inflation=rate)[1], 1)
    regime = np.array([1, 0, 1])
    both = SeesBoth()
    np.testing.assert_array_equal(call_policy(both, 0, wealth, regime, inflation=rate)[1],
                                  regime)
    np.testing.assert_array_equal(both.rates[0], rate)
    # a policy taking only the rate is not given the regime, and the other way round
    np.testing.assert_array_equal(call_policy(RateAware(3), 1, wealth, regime, inflation=rate)[1],
                                  [1, 2, 1])
    # GreedyGoals passes the rate on to the policy it takes portfolios from
    greedy = GreedyGoals(RateAware(3), problem=PROBLEM)
    greedy.act(0, wealth, inflation=rate)
    np.testing.assert_array_equal(greedy.portfolios_from.seen(0), rate)


def test_rollout_needs_the_inflation_of_an_inflation_problem_and_only_there() -> None:
    shocks = np.zeros((PROBLEM.horizon, 4))
    with pytest.raises(ValueError, match="stochastic inflation"):
        rollout(problem_table(PROBLEM), Blind(), shocks)
    eps = np.zeros((PROBLEM.horizon, 4))
    with pytest.raises(ValueError, match="no stochastic inflation"):
        rollout(problem_table(BASE), Blind(), shocks, inflation=(eps, MODEL.rate_paths(eps)))
    with pytest.raises(ValueError, match="rates must have shape"):
        rollout(problem_table(PROBLEM), Blind(), shocks, inflation=(eps, eps))


# ----------------------------------------------------------------------------- envs
def _env_run(problem: GBWMProblem, seed: int, normals: np.ndarray, policy: RateAware
             ) -> tuple[list[float], list[float], list[float]]:
    env = GBWMEnv(problem=problem)
    env.queue_normal_draws(normals)
    _, info = env.reset(seed=seed)
    rates, levels, wealth = [info["inflation"]], [info["price_level"]], [info["wealth"]]
    for t in range(problem.horizon):
        assert env.inflation == rates[-1] and env.price_level == levels[-1]
        decision, portfolio = policy.act(t, np.array([env.wealth]),
                                         inflation=np.array([rates[-1]]))
        action = np.array([min(int(decision[0]), env.num_decisions - 1), int(portfolio[0])])
        _, _, terminated, _, info = env.step(action)
        rates.append(info["inflation"])
        levels.append(info["price_level"])
        wealth.append(info["wealth"])
    assert terminated
    return rates, levels, wealth


def test_env_trajectories_follow_the_kernel() -> None:
    """GBWMEnv on queued normals draws one innovation a year from its seeded generator and
    moves rates and real wealth exactly as ``rollout`` does on the same draws."""
    horizon, n = PROBLEM.horizon, PROBLEM.num_portfolios
    table = problem_table(PROBLEM)
    for seed in range(5):
        normals = np.random.default_rng(100 + seed).standard_normal(horizon)
        rates, levels, wealth = _env_run(PROBLEM, seed, normals, RateAware(n))
        # the queue gives the normals: the env's own draws are the innovations, in order
        eps = seeding.np_random(seed)[0].standard_normal(horizon)[:, None]
        expected = MODEL.rate_paths(eps)
        assert rates == expected[:, 0].tolist()
        assert rates[0] == MODEL.initial_rate and levels[0] == 1.0
        np.testing.assert_allclose(levels, np.exp(np.cumsum(expected[:, 0]) - expected[0, 0]),
                                   rtol=1e-13)
        recorded: list[float] = []

        def record(year: YearOutcome, recorded=recorded) -> None:
            assert year.inflation is not None
            recorded.append(float(year.wealth[0]))
            if year.final is not None:
                recorded.append(float(year.grown[0]))

        policy = RateAware(n)
        _, terminal = rollout(table, policy, normals[:, None], observe=record,
                              inflation=(eps, expected))
        np.testing.assert_allclose(recorded[:horizon], wealth[:horizon], rtol=1e-12)
        assert wealth[horizon] == pytest.approx(float(terminal[0]), rel=1e-12)
        assert [float(policy.seen(t)[0]) for t in range(horizon)] == rates[:horizon]


def test_real_wealth_is_nominal_over_the_price_level() -> None:
    """One year by hand: the nominal return of a portfolio correlated with inflation, from
    the innovations, divided by the price level."""
    seed, normal, portfolio = 3, 0.7, 2
    env = GBWMEnv(problem=PROBLEM)
    env.queue_normal_draws([normal])
    env.reset(seed=seed)
    _, _, _, _, info = env.step(np.array([0, portfolio]))
    eps = float(seeding.np_random(seed)[0].standard_normal())
    rho, mu, sigma = 0.5, 0.09, 0.2  # portfolio 2 of small_general_problem
    rate = MODEL.mean + MODEL.persistence * (0.04 - MODEL.mean) + MODEL.volatility * eps
    shock = rho * eps + math.sqrt(1.0 - rho * rho) * normal
    cash = BASE.initial_wealth + BASE.infusions[0]  # no goal at t = 0
    nominal = cash * math.exp(mu - sigma**2 / 2 + sigma * shock)  # P_0 = 1
    assert info["inflation"] == pytest.approx(rate, rel=1e-14)
    assert info["price_level"] == pytest.approx(math.exp(rate), rel=1e-14)
    assert info["wealth"] == pytest.approx(nominal / math.exp(rate), rel=1e-12)
    assert info["wealth"] * info["price_level"] == pytest.approx(nominal, rel=1e-12)


def test_vec_env_follows_the_kernel_and_its_draw_order() -> None:
    """GBWMVecEnv: normals, then (regimes,) then the innovations from its one generator;
    wealth as ``rollout`` on the regimes and rates it went through."""
    for problem in (PROBLEM, BOTH):
        n_envs, seed = 64, 5
        horizon, market = problem.horizon, problem.market
        env = GBWMVecEnv(n_envs, problem=problem, seed=seed, step_info=True)
        obs = env.reset()
        rng = np.random.default_rng(seed)  # the env's draws, replayed
        regimes = None if market.regime_count == 1 else [env.regimes]
        normals, innovations = [], []
        rates, levels, wealth = [env.inflation], [env.price_level], [env.wealth]
        np.testing.assert_array_equal(rates[0], MODEL.initial_rate)
        np.testing.assert_array_equal(levels[0], 1.0)
        policy = SeesBoth() if regimes is not None else RateAware(problem.num_portfolios)
        column = inflation_column(problem_table(problem))
        for t in range(horizon):
            np.testing.assert_allclose(obs[:, column][:, 0], (rates[-1] - 0.025) / (
                0.015 / math.sqrt(1 - 0.36)), rtol=1e-6, atol=1e-6)
            kwargs = {"inflation": rates[-1]}
            if regimes is not None:
                kwargs["regime"] = regimes[-1]
            decision, portfolio = policy.act(t, env.wealth, **kwargs)
            decision = np.minimum(decision, env.num_decisions - 1)
            obs, _, dones, infos = env.step(np.stack([decision, portfolio], axis=1))
            normals.append(market.draw_shocks(rng, n_envs))
            if regimes is not None:
                expected_regime = market.next_regime(regimes[-1], rng.random(n_envs))
            innovations.append(rng.standard_normal(n_envs))
            if t + 1 < horizon:
                if regimes is not None:
                    np.testing.assert_array_equal(env.regimes, expected_regime)
                    regimes.append(env.regimes)
                assert [info["inflation"] for info in infos] == env.inflation.tolist()
                assert [info["price_level"] for info in infos] == env.price_level.tolist()
                rates.append(env.inflation)
                levels.append(env.price_level)
                wealth.append(env.wealth)
        assert dones.all()
        np.testing.assert_array_equal(env.inflation, MODEL.initial_rate)  # restarted
        np.testing.assert_array_equal(env.price_level, 1.0)
        eps = np.array(innovations)
        expected = MODEL.rate_paths(eps)
        np.testing.assert_array_equal(np.array(rates), expected[:horizon])
        np.testing.assert_allclose(np.array(levels), np.exp(
            np.cumsum(expected, axis=0) - expected[0])[:horizon], rtol=1e-13)
        seen: list[np.ndarray] = []
        rollout(problem_table(problem), policy, np.array(normals),
                regimes=None if regimes is None else np.array(regimes),
                inflation=(eps, expected), observe=lambda year, seen=seen: seen.append(
                    year.wealth))
        np.testing.assert_allclose(np.array(seen), np.array(wealth), rtol=1e-12)


def test_env_rates_follow_the_ar1() -> None:
    """Long runs of GBWMVecEnv's own rates: the stationary mean, standard deviation and
    persistence of the AR(1) (a start far from the mean is forgotten by year 15)."""
    model = InflationModel(mean=0.03, persistence=0.7, volatility=0.02, initial=0.12)
    problem = GBWMProblem(horizon=40, initial_wealth=10.0, goals=(Goal(40, 20.0, 1.0),),
                          portfolios=Portfolios(means=[0.04, 0.08], volatilities=[0.05, 0.15]),
                          inflation=model)
    env = GBWMVecEnv(3000, problem=problem, seed=2)
    env.reset()
    path = [env.inflation]
    for _ in range(problem.horizon - 1):
        env.step(np.tile([0, 1], (env.num_envs, 1)))
        path.append(env.inflation)
    late = np.array(path[15:])  # 25 years x 3,000 paths
    mean, spread = model.stationary_moments()  # 0.03, 0.028
    # effectively ~13,000 independent rates: s.e. of the mean 0.00025, of the sd ~1%
    assert late.mean() == pytest.approx(mean, abs=0.0015)
    assert late.std() == pytest.approx(spread, rel=0.05)
    lag = np.corrcoef(late[:-1].ravel(), late[1:].ravel())[0, 1]
    assert lag == pytest.approx(model.persistence, abs=0.03)
    assert np.array(path[1]).mean() == pytest.approx(0.03 + 0.7 * 0.09, abs=0.002)
    # the evaluator's rates follow the same law
    _, rates = inflation_paths(model, 4, 40, 0, 3000)
    assert rates[20:].mean() == pytest.approx(mean, abs=0.0015)
    assert rates[20:].std() == pytest.approx(spread, rel=0.05)


# ----------------------------------------------------------------------------- observation
def test_observation_ends_with_the_standardised_rate() -> None:
    table, base = problem_table(PROBLEM), problem_table(BASE)
    wealth = np.linspace(1.0, 30.0, 9)
    rate = np.linspace(-0.2, 0.3, 9)
    sd = 0.015 / math.sqrt(1.0 - 0.36)
    for decision_features in (False, True):
        size = observation_size(base, decision_features)
        assert observation_size(table, decision_features) == size + 1
        low, high = observation_bounds(table, decision_features)
        assert low.shape == high.shape == (size + 1,)
        assert low[-1] == -INFLATION_CLIP and high[-1] == INFLATION_CLIP
        assert inflation_column(table, decision_features) == slice(size, size + 1)
        assert inflation_column(base, decision_features) == slice(size, size)
        assert regime_columns(table, decision_features) == slice(size, size)
        for t in range(PROBLEM.horizon + 1):
            obs = encode_observation(table, t, wealth, decision_features, inflation=rate)
            np.testing.assert_array_equal(obs[:, :size],
                                          encode_observation(base, t, wealth, decision_features))
            np.testing.assert_allclose(obs[:, size], np.clip((rate - 0.025) / sd, -5, 5),
                                       rtol=1e-6)
    assert encode_observation(table, 0, wealth, inflation=0.2)[0, -1] == INFLATION_CLIP
    assert encode_observation(table, 0, wealth, inflation=0.025)[0, -1] == 0.0
    flat = problem_table(dataclasses.replace(BASE, inflation=InflationModel(volatility=0.0)))
    assert (encode_observation(flat, 0, wealth, inflation=rate)[:, -1] == 0.0).all()
    with pytest.raises(ValueError, match="inflation="):
        encode_observation(table, 0, wealth)
    with pytest.raises(ValueError, match="no stochastic inflation"):
        encode_observation(base, 0, wealth, inflation=0.02)
    with pytest.raises(ValueError, match="one rate per trajectory"):
        encode_observation(table, 0, wealth, inflation=np.zeros(3))
    check_env(GBWMEnv(problem=PROBLEM), skip_render_check=True)
    check_env(GBWMEnv(problem=BOTH), skip_render_check=True)


def test_with_regimes_the_rate_follows_the_one_hot() -> None:
    table = problem_table(BOTH)
    env = GBWMEnv(problem=BOTH, decision_features=True)
    obs, info = env.reset(seed=0)
    size = DECISION_FLAGS_START + K + decision_features_size(K)
    assert obs.shape == (size + 3,)
    assert regime_columns(table, True) == slice(size, size + 2)
    assert inflation_column(table, True) == slice(size + 2, size + 3)
    np.testing.assert_array_equal(obs[size:size + 2], np.eye(2)[info["regime"]])
    assert obs[-1] == pytest.approx((0.04 - 0.025) / (0.015 / math.sqrt(0.64)), rel=1e-6)


@pytest.mark.parametrize("problem, size", [
    (paper_problem(4), 6), (BASE, DECISION_FLAGS_START + K),
    (dataclasses.replace(BASE, market=MARKET), DECISION_FLAGS_START + K + 2)],
    ids=["paper", "general", "regimes"])
def test_observations_without_inflation_are_unchanged(problem, size) -> None:
    assert problem.inflation is None
    assert GBWMEnv(problem=problem).observation_space.shape == (size,)
    vec = GBWMVecEnv(4, problem=problem, seed=0)
    assert vec.reset().shape == (4, size)
    assert vec.inflation is None and vec.price_level is None
    env = GBWMEnv(problem=problem)
    _, info = env.reset(seed=0)
    assert "inflation" not in info and "price_level" not in info
    assert env.inflation is None and env.price_level is None


# ----------------------------------------------------------------------------- evaluator
def test_inflation_paths_are_a_stream_of_their_own() -> None:
    seed, horizon = 9, PROBLEM.horizon
    eps, rates = inflation_paths(MODEL, seed, horizon, 100, 9000)
    assert eps.shape == (horizon, 8900) and rates.shape == (horizon + 1, 8900)
    np.testing.assert_array_equal(rates, MODEL.rate_paths(eps))
    np.testing.assert_array_equal(eps, inflation_innovations(seed, horizon, 100, 9000))
    sequence = np.random.SeedSequence(seed, spawn_key=(0, INFLATION_STREAM))
    by_hand = np.random.Generator(np.random.PCG64(sequence)).standard_normal(
        (horizon, DRAW_BLOCK))
    np.testing.assert_array_equal(eps[:, :DRAW_BLOCK - 100], by_hand[:, 100:])
    for other in (normal_draws, survival_uniforms, regime_uniforms):
        assert not np.array_equal(other(seed, horizon, 0, 50), eps[:, :50])
    part_eps, part_rates = inflation_paths(MODEL, seed, horizon, 8000, 8500)
    np.testing.assert_array_equal(part_eps, eps[:, 7900:8400])
    np.testing.assert_array_equal(part_rates, rates[:, 7900:8400])


def test_evaluate_tells_every_policy_the_same_rates() -> None:
    seed, n_paths = 4, 3000
    aware = RateAware(PROBLEM.num_portfolios)
    policies = {"aware": aware, "blind": Blind(), "hold": BuyAndHold(1, problem=PROBLEM),
                "greedy": GreedyGoals(RateAware(PROBLEM.num_portfolios), problem=PROBLEM)}
    first = evaluate(policies, PROBLEM, n_paths=n_paths, seed=seed, chunk_size=700)
    eps, rates = inflation_paths(MODEL, seed, PROBLEM.horizon, 0, n_paths)
    for t in range(PROBLEM.horizon):
        np.testing.assert_array_equal(aware.seen(t), rates[t])
    again = evaluate(policies, PROBLEM, n_paths=n_paths, seed=seed)

    def scores(report) -> dict:
        data = report.to_dict()
        for result in data["results"].values():
            result.pop("seconds")
        return data

    assert scores(first) == scores(again)  # common random numbers, whatever the chunks
    assert first.inflation is not None
    logged = rates[1:].sum(axis=0)
    assert first.inflation["mean_rate"] == pytest.approx(logged.mean() / PROBLEM.horizon)
    assert first.inflation["mean_price_level"] == pytest.approx(np.exp(logged).mean())
    assert "today's money" in str(first)
    assert EvaluationReport.from_json(first.to_json()).inflation == first.inflation
    plain = evaluate({"blind": Blind()}, BASE, n_paths=100)
    assert plain.inflation is None and "inflation" not in plain.to_dict()
    assert "inflation" not in str(plain)
    # the plots simulate the evaluator's paths: the same rates, real wealth and utilities
    paths = simulate_paths(PROBLEM, RateAware(PROBLEM.num_portfolios), n_paths=n_paths,
                           seed=seed)
    assert paths.inflation is not None and paths.price_level is not None
    np.testing.assert_array_equal(paths.inflation, rates)
    np.testing.assert_allclose(paths.price_level, np.exp(np.cumsum(rates, axis=0) - rates[0]),
                               rtol=1e-13)
    np.testing.assert_array_equal(paths.price_level[0], 1.0)
    np.testing.assert_array_equal(paths.nominal_wealth(), paths.wealth * paths.price_level)
    assert first["aware"].mean_utility == pytest.approx(float(paths.utility.mean()), rel=1e-12)
    assert first["aware"].terminal_wealth_quantiles["0.5"] == pytest.approx(
        float(np.median(paths.wealth[-1] - _final_costs(paths))), rel=1e-12)
    assert "today's money" in plot_wealth_fan(PROBLEM, Blind(), paths=paths).axes[0].get_ylabel()


def _final_costs(paths) -> np.ndarray:
    """The cost of the automatic decision at ``T`` of each simulated path."""
    assert paths.decision is not None
    costs = np.array([d.cost for d in PROBLEM.decisions(PROBLEM.horizon)])
    return costs[paths.decision[-1]]


def test_a_problem_with_regimes_and_inflation_simulates() -> None:
    seed, n_paths = 2, 2000
    both = SeesBoth()
    report = evaluate({"both": both, "blind": Blind()}, BOTH, n_paths=n_paths, seed=seed,
                      chunk_size=900)
    assert report.regime_share is not None and report.inflation is not None
    _, rates = inflation_paths(MODEL, seed, BOTH.horizon, 0, n_paths)
    from gbwm_sb3.evaluation import market_paths

    _, regimes = market_paths(MARKET, seed, BOTH.horizon, 0, n_paths)
    assert regimes is not None
    horizon = BOTH.horizon
    for t in range(horizon):  # three chunks of paths, each over every year
        calls = [chunk * horizon + t for chunk in range(3)]
        np.testing.assert_array_equal(np.concatenate([both.rates[i] for i in calls]), rates[t])
        np.testing.assert_array_equal(np.concatenate([both.regimes[i] for i in calls]),
                                      regimes[t])
    paths = simulate_paths(BOTH, SeesBoth(), n_paths=n_paths, seed=seed)
    assert paths.regime is not None and paths.inflation is not None
    np.testing.assert_array_equal(paths.portfolio, paths.regime)
    assert report["both"].mean_utility == pytest.approx(float(paths.utility.mean()), rel=1e-12)
    portfolio, _ = policy_grid(BOTH, SeesBoth(), np.linspace(1.0, 30.0, 4), regime=1)
    assert (portfolio == 1).all()


def test_policy_grid_reads_decisions_at_a_rate() -> None:
    wealth = np.linspace(1.0, 30.0, 5)
    high, _ = policy_grid(PROBLEM, RateAware(3), wealth, inflation=0.08)
    low, _ = policy_grid(PROBLEM, RateAware(3), wealth, inflation=0.0)
    years = np.arange(PROBLEM.horizon)[:, None]
    np.testing.assert_array_equal(high, np.broadcast_to((years + 1) % 3, high.shape))
    np.testing.assert_array_equal(low, np.broadcast_to(years % 3, low.shape))
    default, _ = policy_grid(PROBLEM, RateAware(3), wealth)  # the initial rate, 4% > 2.5%
    np.testing.assert_array_equal(default, high)
    with pytest.raises(ValueError, match="no stochastic inflation"):
        policy_grid(BASE, Blind(), wealth, inflation=0.02)


# ----------------------------------------------------------------------------- training
@pytest.mark.filterwarnings("error:FastPPO")  # the fused update handles the rate column
def test_tiny_ppo_on_an_inflation_problem_trains_and_is_scored() -> None:
    from gbwm_sb3.dp import solve_dp
    from gbwm_sb3.evaluation import SB3Policy
    from gbwm_sb3.ppo import paper_ppo
    from gbwm_sb3.ppo.fused_update import fused_path_available

    model = paper_ppo(problem=PROBLEM, n_trajectories_per_rollout=128, batch_size=256,
                      seed=0)
    assert model.observation_space.shape == (DECISION_FLAGS_START + K + 1,)
    assert model.policy.inflation_columns == 1 and model.policy.regime_columns == 0
    assert fused_path_available(model.policy)
    model.learn(3 * 128 * PROBLEM.horizon)
    policy = SB3Policy(model, PROBLEM)
    assert sees_inflation(policy)
    with pytest.raises(ValueError, match="inflation"):
        policy.act(0, np.array([10.0]))
    report = evaluate({"ppo": policy, "dp": solve_dp(PROBLEM),
                       "hold": BuyAndHold(1, problem=PROBLEM)}, PROBLEM, n_paths=4000)
    assert report.reference == "dp"
    assert report["ppo"].efficiency is not None and 0.3 < report["ppo"].efficiency < 1.02


def test_presets_build_for_inflation_and_regimes() -> None:
    from gbwm_sb3.ppo import paper_ppo, tuned_ppo
    from gbwm_sb3.ppo.fused_update import fused_path_available

    model = paper_ppo(problem=BOTH, n_trajectories_per_rollout=32, batch_size=64, seed=0)
    assert (model.policy.regime_columns, model.policy.inflation_columns) == (2, 1)
    assert fused_path_available(model.policy)
    model.learn(32 * BOTH.horizon)
    tuned = tuned_ppo(problem=PROBLEM, seed=1, n_trajectories_per_rollout=32, batch_size=64)
    assert tuned.policy.inflation_columns == 1
    tuned.learn(32 * PROBLEM.horizon)
    heads = paper_ppo(problem=PROBLEM, n_trajectories_per_rollout=32, batch_size=64, seed=0,
                      decision_goal_head=True)
    assert heads.observation_space.shape == (
        DECISION_FLAGS_START + K + decision_features_size(K) + 1,)
    assert heads.policy.decision_features and heads.policy.inflation_columns == 1
    heads.learn(32 * PROBLEM.horizon)


def test_universal_observation_and_pretrained_refuse_inflation() -> None:
    from gbwm_sb3.pretrained.loading import bind_policy, pretrained_network, pretrained_policy
    from gbwm_sb3.problem import sample_problem

    with pytest.raises(ValueError, match="stochastic inflation is not supported"):
        MultiProblemVecEnv(2, problems=[PROBLEM])
    with pytest.raises(ValueError, match="cannot act in a problem with stochastic inflation"):
        bind_policy(pretrained_network(), PROBLEM)
    inside = dataclasses.replace(sample_problem(0), inflation=InflationModel())
    with pytest.raises(ValueError, match="stochastic inflation"):
        pretrained_policy(inside)
