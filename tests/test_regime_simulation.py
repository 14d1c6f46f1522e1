"""Every simulator carries the market regime: envs, the evaluator, the plots and training."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from general_problems import small_general_problem
from stable_baselines3.common.env_checker import check_env

from gbwm_sb3.envs import GBWMEnv, MultiProblemVecEnv
from gbwm_sb3.envs.dynamics import (
    YearOutcome,
    call_policy,
    problem_table,
    rollout,
    sees_regime,
)
from gbwm_sb3.envs.observation import (
    DECISION_FLAGS_START,
    decision_features_size,
    encode_observation,
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
)
from gbwm_sb3.evaluation.evaluator import (
    market_paths,
    market_shocks,
    normal_draws,
    regime_uniforms,
    survival_uniforms,
)
from gbwm_sb3.plots import policy_grid, simulate_paths
from gbwm_sb3.problem import RegimeMarket, two_regime_us_market
from gbwm_sb3.problem.model import paper_problem

BASE = small_general_problem()
MARKET = two_regime_us_market()
PROBLEM = dataclasses.replace(BASE, market=MARKET)
THREE = RegimeMarket(transition=((0.7, 0.2, 0.1), (0.3, 0.5, 0.2), (0.25, 0.25, 0.5)),
                     shock_means=(0.4, 0.0, -1.0), shock_volatilities=(0.6, 1.0, 1.4),
                     names=("boom", "normal", "bust"), initial_regime="bust")
PROBLEM_3 = dataclasses.replace(BASE, market=THREE)
K = int(problem_table(PROBLEM).num_decisions[0])


class RegimeAware:
    """Takes decision 1 where affordable; holds portfolio (t + regime) % n; records the
    regimes it was told."""

    def __init__(self, n_portfolios: int) -> None:
        self.n = n_portfolios
        self.told: dict[int, list[np.ndarray]] = {}

    def seen(self, t: int) -> np.ndarray:
        """The regimes told at year ``t``, over every call (chunks of paths) in order."""
        return np.concatenate(self.told[t])

    def act(self, t: int, wealth: np.ndarray, regime: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
        assert regime is not None
        self.told.setdefault(t, []).append(np.array(regime, copy=True))
        return (np.ones(wealth.shape, dtype=np.intp),
                ((t + np.asarray(regime)) % self.n).astype(np.intp))


class PortfolioIsRegime:
    """Holds portfolio = regime and takes nothing."""

    def act(self, t: int, wealth: np.ndarray, *, regime: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(wealth.shape, dtype=np.intp), np.asarray(regime, dtype=np.intp)


class Blind:
    def act(self, t: int, wealth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(wealth.shape, dtype=np.intp), np.ones(wealth.shape, dtype=np.intp)


# ----------------------------------------------------------------------------- the contract
def test_policies_taking_regime_are_told_it_and_blind_ones_are_not() -> None:
    assert sees_regime(RegimeAware(3)) and sees_regime(PortfolioIsRegime())
    assert not sees_regime(Blind()) and not sees_regime(BuyAndHold(1))
    assert not sees_regime(RandomPolicy(3))
    assert sees_regime(GreedyGoals(Blind())) and sees_regime(Hybrid(Blind(), Blind()))
    wealth = np.ones(3)
    regime = np.array([0, 1, 1])
    np.testing.assert_array_equal(call_policy(PortfolioIsRegime(), 0, wealth, regime)[1],
                                  regime)
    np.testing.assert_array_equal(call_policy(Blind(), 0, wealth, regime)[1], 1)


# ----------------------------------------------------------------------------- envs
def _env_run(problem, seed: int, normals: np.ndarray, policy: RegimeAware
             ) -> tuple[list[int], list[float], list[np.ndarray]]:
    env = GBWMEnv(problem=problem)
    env.queue_normal_draws(normals)
    obs, info = env.reset(seed=seed)
    regimes, wealth, observations = [info["regime"]], [info["wealth"]], [obs]
    for t in range(problem.horizon):
        assert env.regime == regimes[-1]
        decision, portfolio = policy.act(t, np.array([env.wealth]),
                                         regime=np.array([regimes[-1]]))
        k = env.num_decisions
        action = np.array([min(int(decision[0]), k - 1), int(portfolio[0])])
        obs, _, terminated, _, info = env.step(action)
        regimes.append(info["regime"])
        wealth.append(info["wealth"])
        observations.append(obs)
    assert terminated
    return regimes, wealth, observations


@pytest.mark.parametrize("problem", [PROBLEM, PROBLEM_3], ids=["two", "three"])
def test_env_trajectories_follow_the_kernel(problem) -> None:
    """GBWMEnv on queued normals moves wealth as ``rollout`` does on the same innovations
    ``N`` and regimes."""
    market = problem.market
    horizon, n = problem.horizon, problem.num_portfolios
    table = problem_table(problem)
    for seed in range(6):
        normals = np.random.default_rng(100 + seed).standard_normal(horizon)
        regimes, wealth, _ = _env_run(problem, seed, normals, RegimeAware(n))
        assert regimes[0] == market.initial_index
        path = np.array(regimes[:horizon])[:, None]
        shocks = normals[:, None]
        recorded: list[float] = []

        def record(year: YearOutcome, recorded=recorded) -> None:
            recorded.append(float(year.wealth[0]))
            if year.final is not None:
                recorded.append(float(year.grown[0]))

        policy = RegimeAware(n)
        _, terminal = rollout(table, policy, shocks, observe=record, regimes=path)
        np.testing.assert_allclose(recorded[:horizon], wealth[:horizon], rtol=1e-12)
        assert wealth[horizon] == pytest.approx(float(terminal[0]), rel=1e-12)
        assert [int(policy.seen(t)[0]) for t in range(horizon)] == regimes[:horizon]


def test_env_is_reproducible_with_its_seed_and_starts_in_the_initial_regime() -> None:
    def run(seed: int) -> tuple[list[int], list[float]]:
        env = GBWMEnv(problem=PROBLEM_3)
        _, info = env.reset(seed=seed)
        regimes, wealth = [info["regime"]], [info["wealth"]]
        for _ in range(PROBLEM_3.horizon):
            _, _, _, _, info = env.step(np.array([0, 2]))
            regimes.append(info["regime"])
            wealth.append(info["wealth"])
        return regimes, wealth

    assert run(3) == run(3)
    runs = [run(seed) for seed in range(30)]
    assert all(r[0][0] == THREE.initial_index for r in runs)
    assert len({tuple(r[0]) for r in runs}) > 1  # the regime moves


def test_vec_env_follows_the_kernel_and_the_env() -> None:
    """GBWMVecEnv on queued normals: the same wealth as ``rollout`` on the regimes it went
    through, and observations ending with their one-hot."""
    problem, n_envs = PROBLEM_3, 64
    horizon, n = problem.horizon, problem.num_portfolios
    normals = np.random.default_rng(7).standard_normal((horizon, n_envs))
    env = GBWMVecEnv(n_envs, problem=problem, seed=5, step_info=True)
    env.queue_normal_draws(normals)
    obs = env.reset()
    regimes = [env.regimes]
    wealth = [env.wealth]
    policy = RegimeAware(n)
    columns = regime_columns(problem_table(problem))
    for t in range(horizon):
        current = regimes[-1]
        np.testing.assert_array_equal(obs[:, columns], np.eye(3)[current])
        decision, portfolio = policy.act(t, env.wealth, regime=current)
        decision = np.minimum(decision, env.num_decisions - 1)
        obs, _, dones, infos = env.step(np.stack([decision, portfolio], axis=1))
        if t + 1 < horizon:
            assert [info["regime"] for info in infos] == env.regimes.tolist()
            regimes.append(env.regimes)
            wealth.append(env.wealth)
    assert dones.all()
    np.testing.assert_array_equal(env.regimes, THREE.initial_index)  # restarted
    path = np.array(regimes)
    assert (path[0] == THREE.initial_index).all()
    shocks = normals
    seen: list[np.ndarray] = []
    rollout(problem_table(problem), RegimeAware(n), shocks, regimes=path,
            observe=lambda year: seen.append(year.wealth))
    np.testing.assert_allclose(np.array(seen), np.array(wealth), rtol=1e-12)


def test_vec_env_transitions_follow_the_matrix() -> None:
    """Empirical next-regime frequencies of GBWMVecEnv's own draws against ``P``."""
    long_problem = dataclasses.replace(PROBLEM_3, horizon=20, infusions=(),
                                       goals=PROBLEM_3.goals[:1])
    env = GBWMVecEnv(2000, problem=long_problem, seed=11)
    env.reset()
    counts = np.zeros((3, 3))
    for _ in range(long_problem.horizon - 1):
        before = env.regimes
        env.step(np.tile([0, 1], (env.num_envs, 1)))
        np.add.at(counts, (before, env.regimes), 1)
    frequencies = counts / counts.sum(axis=1, keepdims=True)
    # at least ~5,000 transitions a row: a standard error below 0.007
    np.testing.assert_allclose(frequencies, THREE.transition_matrix, atol=0.03)
    again = GBWMVecEnv(2000, problem=long_problem, seed=11)
    again.reset()
    again.step(np.tile([0, 1], (again.num_envs, 1)))
    first = GBWMVecEnv(2000, problem=long_problem, seed=11)
    first.reset()
    first.step(np.tile([0, 1], (first.num_envs, 1)))
    np.testing.assert_array_equal(again.regimes, first.regimes)
    np.testing.assert_array_equal(again.wealth, first.wealth)


# ----------------------------------------------------------------------------- observation
def test_observation_ends_with_the_regime_one_hot() -> None:
    table, base = problem_table(PROBLEM_3), problem_table(BASE)
    wealth = np.linspace(1.0, 30.0, 9)
    regime = np.arange(9) % 3
    for decision_features in (False, True):
        size = observation_size(base, decision_features)
        assert observation_size(table, decision_features) == size + 3
        low, high = observation_bounds(table, decision_features)
        assert low.shape == high.shape == (size + 3,)
        assert (low[size:] == 0).all() and (high[size:] == 1).all()
        assert regime_columns(table, decision_features) == slice(size, size + 3)
        for t in range(PROBLEM_3.horizon + 1):
            obs = encode_observation(table, t, wealth, decision_features, regime)
            np.testing.assert_array_equal(obs[:, :size],
                                          encode_observation(base, t, wealth, decision_features))
            np.testing.assert_array_equal(obs[:, size:], np.eye(3)[regime])
    with pytest.raises(ValueError, match="regime"):
        encode_observation(table, 0, wealth)
    with pytest.raises(ValueError, match="regime must be in 0..2"):
        encode_observation(table, 0, wealth, regime=3)
    with pytest.raises(ValueError, match="no regimes"):
        encode_observation(base, 0, wealth, regime=0)
    check_env(GBWMEnv(problem=PROBLEM_3), skip_render_check=True)
    env = GBWMEnv(problem=PROBLEM, decision_features=True)
    obs, info = env.reset(seed=0)
    assert obs.shape == (DECISION_FLAGS_START + K + decision_features_size(K) + 2,)
    np.testing.assert_array_equal(obs[-2:], np.eye(2)[info["regime"]])


@pytest.mark.parametrize("problem, size", [
    (paper_problem(4), 6), (BASE, DECISION_FLAGS_START + K)], ids=["paper", "general"])
def test_observations_without_regimes_are_unchanged(problem, size) -> None:
    assert problem.market.regime_count == 1
    assert GBWMEnv(problem=problem).observation_space.shape == (size,)
    assert GBWMVecEnv(4, problem=problem, seed=0).reset().shape == (4, size)
    obs, info = GBWMEnv(problem=problem).reset(seed=0)
    assert "regime" not in info and GBWMEnv(problem=problem).regime is None
    assert GBWMVecEnv(4, problem=problem, seed=0).regimes is None


# ----------------------------------------------------------------------------- evaluator
def test_market_paths_draw_the_normals_and_a_regime_stream_of_their_own() -> None:
    seed, horizon = 9, PROBLEM.horizon
    shocks, regimes = market_paths(MARKET, seed, horizon, 100, 9000)
    assert regimes is not None and regimes.shape == shocks.shape == (horizon, 8900)
    normals = normal_draws(seed, horizon, 100, 9000)
    np.testing.assert_array_equal(regimes, MARKET.regime_paths(
        regime_uniforms(seed, horizon, 100, 9000)))
    np.testing.assert_array_equal(shocks, normals)
    assert not np.array_equal(regime_uniforms(seed, horizon, 0, 50),
                              survival_uniforms(seed, horizon, 0, 50))
    # path k gets the same draws whatever the chunk
    part_shocks, part_regimes = market_paths(MARKET, seed, horizon, 8000, 8500)
    np.testing.assert_array_equal(part_shocks, shocks[:, 7900:8400])
    np.testing.assert_array_equal(part_regimes, regimes[:, 7900:8400])
    plain, none = market_paths(BASE.market, seed, horizon, 0, 10)
    assert none is None
    np.testing.assert_array_equal(plain, market_shocks(BASE.market, seed, horizon, 0, 10))
    # a regime market's shocks are the innovations: the lognormal market's normal draws
    np.testing.assert_array_equal(market_shocks(MARKET, seed, horizon, 0, 10),
                                  normal_draws(seed, horizon, 0, 10))


def test_long_run_regime_frequencies_are_stationary() -> None:
    """Years 30..119 of the evaluator's regime paths spend the stationary shares in each
    regime (the chains forget their start within a few years)."""
    for market in (MARKET, THREE):
        _, regimes = market_paths(market, 3, 120, 0, 4000)
        assert regimes is not None
        share = np.bincount(regimes[30:].ravel(), minlength=market.regime_count) / \
            regimes[30:].size
        # 360,000 regime-years, effectively ~100,000 independent: s.e. about 0.0015
        np.testing.assert_allclose(share, market.stationary_distribution(), atol=0.01)


def test_evaluate_gives_every_policy_the_same_regimes_and_shocks() -> None:
    seed, n_paths = 4, 3000
    aware = RegimeAware(PROBLEM_3.num_portfolios)
    policies = {"aware": aware, "regime": PortfolioIsRegime(), "blind": Blind(),
                "hold": BuyAndHold(1, problem=PROBLEM_3)}
    first = evaluate(policies, PROBLEM_3, n_paths=n_paths, seed=seed, chunk_size=700)
    _, regimes = market_paths(THREE, seed, PROBLEM_3.horizon, 0, n_paths)
    assert regimes is not None
    for t in range(PROBLEM_3.horizon):
        np.testing.assert_array_equal(aware.seen(t), regimes[t])
    again = evaluate(policies, PROBLEM_3, n_paths=n_paths, seed=seed)

    def scores(report) -> dict:
        data = report.to_dict()
        for result in data["results"].values():
            result.pop("seconds")
        return data

    assert scores(first) == scores(again)
    share = np.bincount(regimes.ravel(), minlength=3) / regimes.size
    assert first.regime_share == pytest.approx(dict(zip(THREE.names, share, strict=True)))
    assert "years in each market regime" in str(first)
    assert EvaluationReport.from_json(first.to_json()).regime_share == first.regime_share
    plain = evaluate({"blind": Blind()}, BASE, n_paths=100)
    assert plain.regime_share is None and "regime_share" not in plain.to_dict()
    # the plots simulate the evaluator's paths: the same regimes, the same utilities
    paths = simulate_paths(PROBLEM_3, PortfolioIsRegime(), n_paths=200, seed=seed)
    assert paths.regime is not None
    np.testing.assert_array_equal(paths.regime, regimes[:, :200])
    np.testing.assert_array_equal(paths.portfolio, paths.regime)
    full = simulate_paths(PROBLEM_3, PortfolioIsRegime(), n_paths=n_paths, seed=seed)
    assert first["regime"].mean_utility == pytest.approx(float(full.utility.mean()), rel=1e-12)


def test_policy_grid_reads_decisions_in_a_regime() -> None:
    """``policy_grid`` reads decisions in a given regime (default: the initial one)."""
    wealth = np.linspace(1.0, 30.0, 5)
    for regime in range(3):
        portfolio, _ = policy_grid(PROBLEM_3, PortfolioIsRegime(), wealth, regime=regime)
        assert (portfolio == regime).all()
    portfolio, _ = policy_grid(PROBLEM_3, PortfolioIsRegime(), wealth)
    assert (portfolio == THREE.initial_index).all()
    with pytest.raises(ValueError, match="regime"):
        policy_grid(PROBLEM_3, PortfolioIsRegime(), wealth, regime=3)


# ----------------------------------------------------------------------------- training
@pytest.mark.filterwarnings("error:FastPPO")  # the fused update handles the regime columns
def test_tiny_ppo_on_a_regime_problem_trains_and_is_scored() -> None:
    from gbwm_sb3.dp import solve_dp
    from gbwm_sb3.evaluation import SB3Policy
    from gbwm_sb3.ppo import paper_ppo
    from gbwm_sb3.ppo.fused_update import fused_path_available

    model = paper_ppo(problem=PROBLEM, n_trajectories_per_rollout=128, batch_size=256,
                      seed=0)
    assert model.observation_space.shape == (DECISION_FLAGS_START + K + 2,)
    assert model.policy.regime_columns == 2 and fused_path_available(model.policy)
    model.learn(3 * 128 * PROBLEM.horizon)
    policy = SB3Policy(model, PROBLEM)
    assert sees_regime(policy)
    with pytest.raises(ValueError, match="regime"):
        policy.act(0, np.array([10.0]))
    report = evaluate({"ppo": policy, "dp": solve_dp(PROBLEM),
                       "hold": BuyAndHold(1, problem=PROBLEM)}, PROBLEM, n_paths=4000)
    assert report.reference == "dp"
    assert report["ppo"].efficiency is not None and 0.3 < report["ppo"].efficiency < 1.02


def test_universal_observation_and_pretrained_refuse_regimes() -> None:
    from gbwm_sb3.pretrained.loading import bind_policy, pretrained_network, pretrained_policy

    with pytest.raises(ValueError, match="a market with 2 regimes is not supported"):
        MultiProblemVecEnv(2, problems=[PROBLEM])
    with pytest.raises(ValueError, match="market: regimes"):
        pretrained_policy(PROBLEM)
    with pytest.raises(ValueError, match="cannot act in a market with regimes"):
        bind_policy(pretrained_network(), PROBLEM)
