"""The universal observation and the multi-problem vectorised env."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gbwm_sb3.envs.dynamics import ProblemTable
from gbwm_sb3.envs.multi_problem_vec_env import MultiProblemVecEnv
from gbwm_sb3.envs.universal_observation import (
    DECISION_FEATURES,
    K_MAX,
    N_MAX,
    TRAJECTORY_FEATURES,
    UNIVERSAL_OBSERVATION_SIZE,
    UPCOMING_GOAL_YEARS,
    UniversalObservation,
    split_universal_observation,
    split_upcoming_goals,
    universal_observation,
    universal_observation_bounds,
)
from gbwm_sb3.envs.vec_env import GBWMVecEnv
from gbwm_sb3.pretrained.mixture import mixture_envelope, mixture_problem
from gbwm_sb3.problem.files import problem_to_dict
from gbwm_sb3.problem.model import GBWMProblem, Goal, Portfolios, paper_problem
from gbwm_sb3.problem.sampler import (
    DEFAULT_ENVELOPE,
    ProblemEnvelope,
    discount_rate,
    sample_problem,
    sample_problems,
)

SAMPLED = sample_problems(12, seed=3)
SMALL_ENVELOPE = ProblemEnvelope(horizon=(1, 6), num_goals=(1, 6))


def _feature(name: str) -> int:
    return TRAJECTORY_FEATURES.index(name)


def _family_problem() -> GBWMProblem:
    """Two goals at year 1 (one with levels), one at 3, savings in years 0 and 2."""
    return GBWMProblem(
        horizon=3, initial_wealth=100.0,
        goals=[Goal(time=1, cost=30.0, utility=10.0),
               Goal(time=1, levels=[(20.0, 4.0), (50.0, 6.0)]),
               Goal(time=3, cost=80.0, utility=20.0)],
        portfolios=Portfolios(means=[0.04, 0.06, 0.08], volatilities=[0.05, 0.1, 0.2]),
        infusions=[10.0, 0.0, 5.0],
    )


# ----- the observation -----
def test_layout_and_size() -> None:
    assert UNIVERSAL_OBSERVATION_SIZE == len(TRAJECTORY_FEATURES) \
        + K_MAX * len(DECISION_FEATURES) + N_MAX * 3 + UPCOMING_GOAL_YEARS * 9
    for problem in [paper_problem(1), paper_problem(16), *SAMPLED]:
        obs = universal_observation(problem, 0, [problem.initial_wealth, 1e-9, 1e9])
        assert obs.shape == (3, UNIVERSAL_OBSERVATION_SIZE) and obs.dtype == np.float32
        low, high = universal_observation_bounds()
        assert np.all(obs >= low) and np.all(obs <= high)


@pytest.mark.parametrize("problem", SAMPLED[:6] + [_family_problem()])
def test_scale_invariance(problem: GBWMProblem) -> None:
    scaled = problem.scaled(1e4)
    wealth = problem.initial_wealth * np.array([0.001, 0.3, 1.0, 2.7, 40.0])
    for t in sorted({0, problem.horizon // 2, problem.horizon}):
        obs = universal_observation(problem, t, wealth)
        obs_scaled = universal_observation(scaled, t, wealth * 1e4)
        np.testing.assert_allclose(obs_scaled, obs, rtol=0, atol=2e-6)
        _, decisions, _ = split_universal_observation(obs)
        _, decisions_scaled, _ = split_universal_observation(obs_scaled)
        np.testing.assert_array_equal(decisions_scaled[..., :2], decisions[..., :2])


def test_upcoming_goal_years_by_hand() -> None:
    problem = _family_problem()  # goals at 1 (two, top levels 50 + 30) and 3 (80)
    cash = 60.0
    upcoming = split_upcoming_goals(universal_observation(problem, 0, [cash - 10.0]))[0]
    remaining_utility = sum(g.max_utility for g in problem.goals)
    growth = float(problem.portfolios.log_drifts.max())
    costs = problem.cost_by_time
    for k, year in enumerate((1, 3)):
        utility = sum(g.max_utility for g in problem.goals if g.time == year)
        assert upcoming[k, 0] == 1.0
        assert upcoming[k, 1] == pytest.approx(year / 40)
        assert upcoming[k, 2] == pytest.approx(np.log(costs[year] / cash), abs=1e-6)
        assert upcoming[k, 3] == pytest.approx(utility / remaining_utility, abs=1e-6)
        assert upcoming[k, 4] == pytest.approx(np.log(costs[year] / cash) - growth * year,
                                               abs=1e-6)
    # What a partly funded client can buy: at year 1 the cheapest decision is the lower
    # level of the second goal (20 for 4), the most utility per cost the first goal alone
    # (30 for 10: 1/3 against 4/20, 14/50, 6/50, 16/80); year 3 has one decision (80 for 20).
    for k, entry, efficient in ((0, (20.0, 4.0), (30.0, 10.0)), (1, (80.0, 20.0), (80.0, 20.0))):
        for column, (cost, utility) in ((5, entry), (7, efficient)):
            assert upcoming[k, column] == pytest.approx(np.log(cost / cash), abs=1e-6)
            assert upcoming[k, column + 1] == pytest.approx(utility / remaining_utility, abs=1e-6)
    assert (upcoming[2:] == 0).all() and upcoming.shape == (UPCOMING_GOAL_YEARS, 9)
    later = split_upcoming_goals(universal_observation(problem, 1, [cash]))[0]
    assert later[0, 1] == pytest.approx(2 / 40) and (later[1:] == 0).all()


def test_feature_values_by_hand() -> None:
    problem = _family_problem()
    rate = discount_rate(problem)
    assert rate == 0.04
    obs = universal_observation(problem, 1, [60.0])[0]
    trajectory, decisions, portfolios = split_universal_observation(obs)
    cash = 60.0  # no infusion at year 1
    pv_cost = 80.0 + 80.0 / 1.04**2  # goals due at 1 (top levels) and 3
    pv_infusions = 5.0 / 1.04
    assert trajectory[_feature("time_fraction")] == pytest.approx(1 / 3)
    assert trajectory[_feature("years_left")] == pytest.approx(2 / 40)
    assert trajectory[_feature("log_cash_to_initial_wealth")] == pytest.approx(np.log(0.6))
    assert trajectory[_feature("log_cash_to_remaining_cost")] == pytest.approx(np.log(60 / 160))
    assert trajectory[_feature("log_cash_to_discounted_cost")] == pytest.approx(
        np.log(cash / pv_cost), rel=1e-6)
    assert trajectory[_feature("log_resources_to_discounted_cost")] == pytest.approx(
        np.log((cash + pv_infusions) / pv_cost), rel=1e-6)
    assert trajectory[_feature("log_future_infusions_to_cash")] == pytest.approx(
        np.log1p(pv_infusions / cash), rel=1e-6)
    assert trajectory[_feature("remaining_utility_fraction")] == pytest.approx(1.0)
    assert trajectory[_feature("current_utility_fraction")] == pytest.approx(16 / 36)
    assert trajectory[_feature("log_cash_to_next_cost")] == pytest.approx(np.log(60 / 80))
    assert trajectory[_feature("years_to_next_goal")] == pytest.approx(2 / 40)
    assert trajectory[_feature("goals_left")] == pytest.approx(3 / 20)
    assert trajectory[_feature("cost_weighted_years_to_goals")] == pytest.approx(
        (2 * 80 / 160) / 40)
    assert trajectory[_feature("decisions_now")] == pytest.approx(6 / K_MAX)
    # decisions of year 1: (skip, skip), (skip, 20), (skip, 50), (30, skip), (30, 20), (30, 50)
    costs = np.array([0.0, 20.0, 50.0, 30.0, 50.0, 80.0])
    utilities = np.array([0.0, 4.0, 6.0, 10.0, 14.0, 16.0])
    np.testing.assert_array_equal(decisions[:6, 0], 1.0)
    np.testing.assert_array_equal(decisions[6:], 0.0)
    np.testing.assert_array_equal(decisions[:6, 1], costs <= cash)
    np.testing.assert_allclose(decisions[:6, 2], np.minimum(costs / cash, 4.0), rtol=1e-6)
    np.testing.assert_allclose(decisions[:6, 3], utilities / 36.0, rtol=1e-6)
    np.testing.assert_allclose(decisions[:6, 4], costs / pv_cost, rtol=1e-6)
    later = 80.0 / 1.04**2
    with np.errstate(invalid="ignore"):
        funding = np.where(costs <= cash, np.log((cash - costs + pv_infusions) / later), -7.0)
    np.testing.assert_allclose(decisions[:6, 5], funding, rtol=1e-5)
    np.testing.assert_array_equal(portfolios[:3, 0], 1.0)
    np.testing.assert_allclose(portfolios[:3, 1], [0.04, 0.06, 0.08])
    np.testing.assert_allclose(portfolios[:3, 2], [0.05, 0.1, 0.2])
    np.testing.assert_array_equal(portfolios[3:], 0.0)


def test_terminal_and_no_goal_years() -> None:
    problem = _family_problem()
    terminal = universal_observation(problem, 3, [500.0])[0]
    trajectory, decisions, _ = split_universal_observation(terminal)
    assert trajectory[_feature("time_fraction")] == 1.0
    assert trajectory[_feature("decisions_now")] == 0.0
    np.testing.assert_array_equal(decisions, 0.0)  # the choice at T is automatic
    year2 = universal_observation(problem, 2, [50.0])[0]
    _, decisions, _ = split_universal_observation(year2)
    assert decisions[0].tolist() == pytest.approx([1, 1, 0, 0, 0, np.log((50 + 5) / 80 * 1.04)],
                                                  rel=1e-5)
    np.testing.assert_array_equal(decisions[1:], 0.0)
    with pytest.raises(ValueError, match=r"t must be an integer in 0\.\.3"):
        universal_observation(problem, 4, [1.0])


# ----- the multi-problem env -----
def _random_actions(env: MultiProblemVecEnv, rng: np.random.Generator) -> np.ndarray:
    """Random valid actions: a decision the mask allows and a portfolio the problem has."""
    masks = env.action_masks()
    decisions = masks[:, :K_MAX]
    choice = (rng.random(decisions.shape) * decisions).argmax(axis=1)
    portfolios = (rng.random(env.num_envs) * masks[:, K_MAX:].sum(axis=1)).astype(int)
    return np.stack([choice, portfolios], axis=1)


@pytest.mark.parametrize("problem", [paper_problem(4), paper_problem(16), _family_problem(),
                                     *SAMPLED[:4]])
def test_agrees_with_gbwm_vec_env_on_one_problem(problem: GBWMProblem) -> None:
    n = 128
    reference = GBWMVecEnv(n, problem=problem, seed=0)
    multi = MultiProblemVecEnv(n, problems=[problem], seed=1, normalize_rewards=False)
    reference.reset()
    multi.reset()
    rng = np.random.default_rng(0)
    k = reference.num_decisions
    draws = rng.standard_normal((problem.horizon, n))
    reference.queue_normal_draws(draws)
    multi.queue_normal_draws(draws)
    for t in range(problem.horizon):
        # any decision index of the problem, affordable or not: both take nothing if not
        actions = np.stack([rng.integers(0, k, n), rng.integers(0, problem.num_portfolios, n)],
                           axis=1)
        np.testing.assert_array_equal(multi.wealth, reference.wealth)
        _, rewards_ref, dones_ref, infos_ref = reference.step(actions)
        _, rewards, dones, infos = multi.step(actions)
        np.testing.assert_array_equal(rewards, rewards_ref)
        np.testing.assert_array_equal(dones, dones_ref)
        assert dones.all() == (t + 1 == problem.horizon)
    totals = [info["episode"]["r"] for info in infos]
    assert totals == [info["episode"]["r"] for info in infos_ref]
    np.testing.assert_array_equal(multi.wealth, reference.wealth)  # both restarted at W0


def test_agrees_with_gbwm_vec_env_per_problem_in_a_mixed_pool() -> None:
    pool = [paper_problem(4), _family_problem(), SAMPLED[1], SAMPLED[2]]
    n = 80
    multi = MultiProblemVecEnv(n, problems=pool, seed=3, normalize_rewards=False)
    multi.reset()
    owners = multi.problems
    assert len({id(p) for p in owners}) == len(pool)
    longest = max(p.horizon for p in pool)
    rng = np.random.default_rng(5)
    draws = rng.standard_normal((longest, n))
    decisions = np.array([rng.integers(0, p.max_decisions, longest) for p in owners]).T
    portfolios = np.array([rng.integers(0, p.num_portfolios, longest) for p in owners]).T
    multi.queue_normal_draws(draws)
    rewards = np.zeros((longest, n))
    for t in range(longest):
        # after its first episode a trajectory runs on another problem: any valid action
        actions = np.stack([decisions[t], portfolios[t]], axis=1)
        restarted = multi.time != t
        actions[restarted] = 0
        rewards[t] = multi.step(actions)[1]
    for problem in pool:
        mine = np.flatnonzero([owner is problem for owner in owners])
        reference = GBWMVecEnv(mine.size, problem=problem, seed=0)
        reference.reset()
        reference.queue_normal_draws(draws[: problem.horizon, mine])
        for t in range(problem.horizon):
            actions = np.stack([decisions[t, mine], portfolios[t, mine]], axis=1)
            np.testing.assert_array_equal(reference.step(actions)[1], rewards[t, mine])


def test_reset_step_shapes_and_episode_ends() -> None:
    env = MultiProblemVecEnv(48, envelope=SMALL_ENVELOPE, seed=0, pool_size=16)
    obs = env.reset()
    assert obs.shape == (48, UNIVERSAL_OBSERVATION_SIZE) and obs.dtype == np.float32
    assert env.observation_space.contains(obs[0])
    assert env.action_space.nvec.tolist() == [K_MAX, N_MAX]
    assert len({p for p in env.problems}) > 5  # trajectories of different problems
    rng = np.random.default_rng(1)
    horizon = env.horizon
    collected = np.zeros(48)
    ended = 0
    for _ in range(24):
        time_before = env.time
        previous = env.problems
        obs, rewards, dones, infos = env.step(_random_actions(env, rng))
        assert obs.shape == (48, UNIVERSAL_OBSERVATION_SIZE)
        assert rewards.shape == (48,) and rewards.dtype == np.float32 and dones.dtype == bool
        assert np.all(rewards >= 0) and np.all(np.isfinite(obs))
        np.testing.assert_array_equal(dones, time_before + 1 == horizon)
        collected += rewards
        for i in np.flatnonzero(dones):
            info = infos[i]
            assert info["episode"]["l"] == previous[i].horizon
            assert info["terminal_observation"].shape == (UNIVERSAL_OBSERVATION_SIZE,)
            assert info["terminal_observation"][0] == 1.0  # time fraction at T
            fraction = info["episode"]["r"] / previous[i].total_utility
            assert collected[i] == pytest.approx(fraction, rel=1e-5)
            collected[i] = 0.0
            ended += 1
        assert all(not infos[i] for i in np.flatnonzero(~dones))
        restarted = env.time[dones]
        assert np.all(restarted == 0)
        starts = [p.initial_wealth for p in env.problems]
        np.testing.assert_array_equal(env.wealth[dones], np.array(starts)[dones])
        unchanged = [env.problems[i] is previous[i] for i in np.flatnonzero(~dones)]
        assert all(unchanged)  # a trajectory keeps its problem until its episode ends
        horizon = env.horizon
    assert ended > 48
    stats = env.pop_episode_statistics()
    assert stats["episodes"] == ended and 0.0 <= stats["mean_utility_fraction"] <= 1.0
    assert env.pop_episode_statistics() == {}
    assert env.problems_drawn > 16  # the pool was renewed as episodes ended


def test_same_seed_same_run_and_reseed() -> None:
    def run(seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
        env = MultiProblemVecEnv(16, envelope=SMALL_ENVELOPE, seed=seed, pool_size=8)
        first = env.reset()
        rng = np.random.default_rng(0)
        rewards = [env.step(_random_actions(env, rng))[1] for _ in range(10)]
        return first, rewards

    a, b, c = run(4), run(4), run(5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(np.array(a[1]), np.array(b[1]))
    assert not np.array_equal(a[0], c[0])
    fresh = MultiProblemVecEnv(16, envelope=SMALL_ENVELOPE, seed=4, pool_size=8)
    fresh.seed(4)
    expected = fresh.reset()
    env = MultiProblemVecEnv(16, envelope=SMALL_ENVELOPE, seed=9, pool_size=8)
    env.step(_random_actions(env, np.random.default_rng(0)))
    env.seed(4)  # redraws the pool and restarts as a new env seeded with 4 would
    np.testing.assert_array_equal(env.reset(), expected)
    assert env.problems == fresh.problems


def test_action_masks() -> None:
    env = MultiProblemVecEnv(64, seed=2, pool_size=32)
    obs = env.reset()
    rng = np.random.default_rng(2)
    for _ in range(6):
        masks = env.action_masks()
        assert masks.shape == (64, K_MAX + N_MAX) and masks.dtype == bool
        _, decisions, portfolios = split_universal_observation(obs)
        np.testing.assert_array_equal(masks[:, :K_MAX], decisions[..., 1] == 1.0)
        assert masks[:, 0].all()
        np.testing.assert_array_equal(masks[:, K_MAX:], portfolios[..., 0] == 1.0)
        np.testing.assert_array_equal(masks[:, K_MAX:].sum(axis=1),
                                      [p.num_portfolios for p in env.problems])
        for i, problem in enumerate(env.problems):
            t = int(env.time[i])
            cash = env.wealth[i] + problem.infusion_by_time[t]
            expected = [d.cost <= cash for d in problem.decisions(t)]
            assert masks[i, : len(expected)].tolist() == [True] + expected[1:]
            assert not masks[i, len(expected):K_MAX].any()
        assert all(env.observation_space.contains(row) for row in obs)
        obs = env.step(_random_actions(env, rng))[0]


def test_masked_decision_takes_nothing() -> None:
    problem = dataclasses.replace(_family_problem(), initial_wealth=40.0)
    env = MultiProblemVecEnv(2, problems=[problem], seed=0, normalize_rewards=False)
    env.reset()
    env.queue_normal_draws(np.zeros((1, 2)))
    env.step(np.array([[0, 0], [0, 0]]))  # year 0: no goal
    wealth = env.wealth
    masks = env.action_masks()
    assert not masks[0, 5] and wealth[0] < 80.0  # decision 5 costs 80
    _, rewards, _, _ = env.step(np.array([[5, 0], [K_MAX - 1, 1]]))  # unaffordable, absent
    np.testing.assert_array_equal(rewards, [0.0, 0.0])


def test_invalid_actions_and_arguments() -> None:
    env = MultiProblemVecEnv(4, problems=[paper_problem(4)], seed=0)
    env.reset()
    with pytest.raises(ValueError, match=r"actions must have shape \(4, 2\)"):
        env.step(np.zeros((3, 2), dtype=int))
    with pytest.raises(ValueError, match=r"actions\[2, 1\] \(portfolio index\) must be in 0\.\.14"):
        env.step(np.array([[0, 0], [0, 1], [0, 15], [0, 0]]))
    with pytest.raises(ValueError, match=r"decision index\) must be in 0\.\.63"):
        env.step(np.array([[64, 0]] * 4))
    with pytest.raises(ValueError, match="actions must be integers"):
        env.step(np.full((4, 2), 0.5))
    with pytest.raises(ValueError, match="num_envs must be an integer >= 1"):
        MultiProblemVecEnv(0)
    with pytest.raises(ValueError, match="max_decisions_per_year must be <= 64"):
        MultiProblemVecEnv(2, envelope=ProblemEnvelope(max_decisions_per_year=128))
    with pytest.raises(ValueError, match="problems must contain at least 1 problem"):
        MultiProblemVecEnv(2, problems=[])
    with pytest.raises(ValueError, match=r"draws must have shape \(steps, 4\)"):
        env.queue_normal_draws(np.zeros((2, 3)))


def test_problem_table_refuses_what_does_not_fit() -> None:
    table = ProblemTable(1, time_steps=5, max_decisions=4, max_portfolios=20)
    with pytest.raises(ValueError, match="horizon: 16 years do not fit"):
        table.write([0], [paper_problem(4)])
    with pytest.raises(ValueError, match="decisions: 6 in one year do not fit"):
        table.write([0], [_family_problem()])


def test_vec_env_interface_and_maskable_ppo_rollout() -> None:
    from sb3_contrib import MaskablePPO

    env = MultiProblemVecEnv(16, envelope=SMALL_ENVELOPE, seed=0, pool_size=16)
    assert env.has_attr("action_masks") and not env.has_attr("nonsense")
    assert len(env.get_attr("problem")) == 16
    assert env.get_attr("time", [0, 1]) == [0, 0]
    assert len(env.env_method("action_masks", indices=[3])[0]) == K_MAX + N_MAX
    with pytest.raises(AttributeError):
        env.set_attr("wealth", 1.0)
    model = MaskablePPO("MlpPolicy", env, n_steps=8, batch_size=64, n_epochs=1, seed=0,
                        policy_kwargs={"net_arch": [16]}, device="cpu")
    model.learn(total_timesteps=128)
    assert model.num_timesteps == 128


def test_rewriting_a_row_leaves_nothing_of_the_old_problem() -> None:
    long_problem = max(SAMPLED, key=lambda p: (p.horizon, p.max_decisions))
    short_problem = _family_problem()
    table = ProblemTable(2, time_steps=41, max_decisions=K_MAX, max_portfolios=N_MAX)
    encoder = UniversalObservation(table)
    for row, problem in ((0, long_problem), (0, short_problem), (1, short_problem)):
        table.write([row], [problem])
        encoder.write([row], [problem])
    for name in ("horizon", "initial_wealth", "total_utility", "decision_cost",
                 "decision_utility", "decisions_per_year", "infusions", "final_order",
                 "num_portfolios", "means", "volatilities", "log_drifts"):
        np.testing.assert_array_equal(getattr(table, name)[0], getattr(table, name)[1], name)
    for t in range(short_problem.horizon + 1):
        wealth = np.array([5.0, 60.0, 400.0])
        expected = universal_observation(short_problem, t, wealth)
        np.testing.assert_array_equal(encoder.encode(np.zeros(3, int), np.full(3, t), wealth),
                                      expected)


def test_a_sampler_fills_the_pool_and_its_draws_are_checked() -> None:
    wide = mixture_envelope("wide")

    def make(seed: int) -> MultiProblemVecEnv:
        return MultiProblemVecEnv(32, envelope=wide, seed=seed, pool_size=24,
                                  sampler=lambda rng: mixture_problem(rng, "wide"))

    env = make(3)
    env.reset()
    assert all(wide.contains(p) == [] for p in env.table.problems)
    assert any(DEFAULT_ENVELOPE.contains(p) != [] for p in env.table.problems)
    rng = np.random.default_rng(0)
    for _ in range(12):
        env.step(_random_actions(env, rng))
    assert env.problems_drawn > 24 and all(wide.contains(p) == [] for p in env.table.problems)
    pools = [[problem_to_dict(p) for p in make(seed).table.problems] for seed in (3, 3, 4)]
    assert pools[0] == pools[1] and pools[0] != pools[2]
    with pytest.raises(ValueError, match="sampler drew a problem outside the envelope: horizon"):
        MultiProblemVecEnv(4, seed=0, pool_size=2, sampler=lambda rng: sample_problem(
            rng, ProblemEnvelope(horizon=(41, 60))))
    with pytest.raises(ValueError, match="sampler must be a function"):
        MultiProblemVecEnv(4, seed=0, sampler=3)  # type: ignore[arg-type]
