"""GBWMPolicy / MaskableGBWMPolicy: masking semantics, SB3 integration, save/load."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from torch import nn
from torch.distributions import Categorical

import gbwm_sb3  # noqa: F401  (registers GBWM-v0)
from gbwm_sb3.common.threads import configure_torch_threads
from gbwm_sb3.envs.observation import GOAL_AFFORDABLE_INDEX, observation_bounds
from gbwm_sb3.envs.vec_env import GBWMVecEnv
from gbwm_sb3.policies import (
    GBWMActionDistribution,
    GBWMPolicy,
    MaskableGBWMPolicy,
    goal_active_from_obs,
    legendre_portfolio_basis,
    masked_log_prob_entropy,
)

N_PORT = 15
LOW, HIGH = observation_bounds()
OBS_SPACE = spaces.Box(LOW, HIGH, dtype=np.float32)
ACT_SPACE = spaces.MultiDiscrete([2, N_PORT])
POLICIES = [GBWMPolicy, MaskableGBWMPolicy]

configure_torch_threads()


def _dist(batch: int = 64, seed: int = 0, scale: float = 2.0):
    gen = th.Generator().manual_seed(seed)
    goal_logits = scale * th.randn(batch, 2, generator=gen)
    port_logits = scale * th.randn(batch, N_PORT, generator=gen)
    active = th.arange(batch) % 2 == 0  # alternate active / inactive rows
    dist = GBWMActionDistribution(N_PORT).proba_distribution(goal_logits, port_logits, active)
    return dist, goal_logits, port_logits, active


def _obs(batch: int, seed: int = 0) -> th.Tensor:
    """Observations inside the space, half with the goal-affordable flag set."""
    rng = np.random.default_rng(seed)
    obs = rng.uniform(LOW, HIGH, size=(batch, len(LOW))).astype(np.float32)
    obs[:, GOAL_AFFORDABLE_INDEX] = (np.arange(batch) % 2 == 0).astype(np.float32)
    return th.as_tensor(obs)


# ---------------------------------------------------------------- distribution semantics
def test_inactive_goal_contributes_nothing_whatever_the_action():
    dist, _, port_logits, active = _dist()
    port = th.arange(64) % N_PORT
    lp_skip = dist.log_prob(th.stack([th.zeros(64, dtype=th.long), port], 1))
    lp_take = dist.log_prob(th.stack([th.ones(64, dtype=th.long), port], 1))
    port_cat = Categorical(logits=port_logits)
    inactive = ~active
    th.testing.assert_close(lp_skip[inactive], port_cat.log_prob(port)[inactive])
    th.testing.assert_close(lp_take[inactive], port_cat.log_prob(port)[inactive])
    th.testing.assert_close(dist.entropy()[inactive], port_cat.entropy()[inactive])
    # where active the two goal actions have different log-probabilities
    assert not th.allclose(lp_skip[active], lp_take[active])


def test_active_goal_matches_independent_categoricals():
    dist, goal_logits, port_logits, active = _dist(seed=1)
    gen = th.Generator().manual_seed(3)
    actions = th.stack(
        [th.randint(0, 2, (64,), generator=gen), th.randint(0, N_PORT, (64,), generator=gen)], 1
    )
    goal_cat, port_cat = Categorical(logits=goal_logits), Categorical(logits=port_logits)
    expected_lp = goal_cat.log_prob(actions[:, 0]) + port_cat.log_prob(actions[:, 1])
    expected_ent = goal_cat.entropy() + port_cat.entropy()
    th.testing.assert_close(dist.log_prob(actions.float())[active], expected_lp[active])
    th.testing.assert_close(dist.entropy()[active], expected_ent[active])


def test_plain_tensor_form_equals_distribution():
    dist, goal_logits, port_logits, active = _dist(seed=2)
    actions = th.stack([th.arange(64) % 2, th.arange(64) % N_PORT], 1)
    log_prob, entropy = masked_log_prob_entropy(goal_logits, port_logits, active, actions)
    th.testing.assert_close(log_prob, dist.log_prob(actions))
    th.testing.assert_close(entropy, dist.entropy())


def test_sampling_and_mode_never_take_where_inactive():
    gen = th.Generator().manual_seed(0)
    goal_logits = th.tensor([[-30.0, 30.0]]).repeat(200, 1)  # "take" almost surely
    port_logits = th.randn(200, N_PORT, generator=gen)
    active = th.arange(200) < 100
    dist = GBWMActionDistribution(N_PORT).proba_distribution(goal_logits, port_logits, active)
    for actions in (dist.sample(), dist.mode()):
        assert actions.shape == (200, 2)
        assert th.all(actions[:100, 0] == 1) and th.all(actions[100:, 0] == 0)
    th.testing.assert_close(dist.mode()[:, 1], port_logits.argmax(1))
    th.testing.assert_close(dist.get_actions(deterministic=True), dist.mode())


def test_sample_frequencies_follow_the_heads():
    th.manual_seed(0)
    goal_logits = th.log(th.tensor([[0.3, 0.7]])).repeat(20000, 1)
    port_logits = th.log(th.tensor([[0.5, 0.25, 0.25]])).repeat(20000, 1)
    dist = GBWMActionDistribution(3).proba_distribution(
        goal_logits, port_logits, th.ones(20000, dtype=th.bool)
    )
    sample = dist.sample()
    assert abs(sample[:, 0].float().mean().item() - 0.7) < 0.02
    freq = th.bincount(sample[:, 1], minlength=3).float() / 20000
    th.testing.assert_close(freq, th.tensor([0.5, 0.25, 0.25]), atol=0.02, rtol=0)


def test_masks_restrict_actions_and_renormalise():
    dist, goal_logits, port_logits, active = _dist(batch=8, seed=4)
    masks = np.ones((8, 2 + N_PORT), dtype=bool)
    masks[:, 1] = False  # take forbidden everywhere
    masks[:, 2 + 5 :] = False  # only portfolios 0..4
    dist.apply_masking(masks)
    for _ in range(5):
        actions = dist.sample()
        assert th.all(actions[:, 0] == 0) and th.all(actions[:, 1] < 5)
    port_lp = th.log_softmax(port_logits[:, :5], dim=1)
    actions = th.stack([th.zeros(8, dtype=th.long), th.full((8,), 3)], 1)
    th.testing.assert_close(dist.log_prob(actions), port_lp[:, 3])  # goal part: log 1 = 0
    th.testing.assert_close(dist.entropy(), -(port_lp.exp() * port_lp).sum(1))
    dist.apply_masking(None)  # restores the unmasked distribution
    fresh = GBWMActionDistribution(N_PORT).proba_distribution(goal_logits, port_logits, active)
    th.testing.assert_close(dist.entropy(), fresh.entropy())


# ---------------------------------------------------------------- the policy modules
@pytest.mark.parametrize("cls", POLICIES)
def test_modules_architecture_and_init(cls):
    policy = cls(OBS_SPACE, ACT_SPACE, lambda _: 1e-3)
    assert isinstance(policy.goal_head, nn.Linear) and policy.goal_head.out_features == 2
    assert policy.portfolio_head.out_features == N_PORT
    assert policy.value_net.out_features == 1
    pi_layers = [m for m in policy.mlp_extractor.policy_net if isinstance(m, nn.Linear)]
    vf_layers = [m for m in policy.mlp_extractor.value_net if isinstance(m, nn.Linear)]
    assert [m.out_features for m in pi_layers] == [64, 64] == [m.out_features for m in vf_layers]
    assert any(isinstance(m, nn.Tanh) for m in policy.mlp_extractor.policy_net)
    # SB3's orthogonal init: rows orthogonal with norm = gain, zero biases
    for head, gain in ((policy.goal_head, 0.01), (policy.portfolio_head, 0.01),
                       (policy.value_net, 1.0)):
        w = head.weight.detach()
        th.testing.assert_close(w @ w.T, gain**2 * th.eye(w.shape[0]), atol=1e-6, rtol=1e-4)
        assert th.all(head.bias == 0)
    w = pi_layers[1].weight.detach()
    th.testing.assert_close(w @ w.T, 2.0 * th.eye(64), atol=1e-4, rtol=1e-4)
    # no leftover SB3 action_net: the heads are the only action parameters
    assert not hasattr(policy, "action_net")


def test_net_arch_and_activation_are_configurable():
    policy = GBWMPolicy(OBS_SPACE, ACT_SPACE, lambda _: 1e-3,
                        net_arch=dict(pi=[32], vf=[16, 16, 16]), activation_fn=nn.ReLU)
    assert policy.goal_head.in_features == 32 and policy.value_net.in_features == 16
    assert any(isinstance(m, nn.ReLU) for m in policy.mlp_extractor.value_net)


@pytest.mark.parametrize(
    "obs_space, act_space",
    [
        (OBS_SPACE, spaces.MultiDiscrete([3, N_PORT])),
        (OBS_SPACE, spaces.Discrete(30)),
        (spaces.Box(-1, 1, (2,), np.float32), ACT_SPACE),
    ],
)
def test_wrong_spaces_are_rejected(obs_space, act_space):
    with pytest.raises(ValueError, match="_space must be"):
        GBWMPolicy(obs_space, act_space, lambda _: 1e-3)


@pytest.mark.parametrize("cls", POLICIES)
def test_goal_head_gets_no_gradient_where_inactive(cls):
    policy = cls(OBS_SPACE, ACT_SPACE, lambda _: 1e-3)
    obs = _obs(32)
    obs[:, GOAL_AFFORDABLE_INDEX] = 0.0
    actions = th.stack([th.arange(32) % 2, th.arange(32) % N_PORT], 1).float()
    _, log_prob, entropy = policy.evaluate_actions(obs, actions)
    (log_prob.sum() + entropy.sum()).backward()
    assert th.all(policy.goal_head.weight.grad == 0)
    assert th.any(policy.portfolio_head.weight.grad != 0)


@pytest.mark.parametrize("cls", POLICIES)
def test_forward_evaluate_predict_agree(cls):
    policy = cls(OBS_SPACE, ACT_SPACE, lambda _: 1e-3)
    obs = _obs(40)
    with th.no_grad():
        actions, values, log_prob = policy(obs)
        values2, log_prob2, entropy = policy.evaluate_actions(obs, actions.float())
        latent = policy.mlp_extractor.forward_actor(obs)
        goal_arg = policy.goal_head(latent).argmax(1)
        port_arg = policy.portfolio_head(latent).argmax(1)
    th.testing.assert_close(values, values2)
    th.testing.assert_close(values, policy.predict_values(obs).detach())
    th.testing.assert_close(log_prob, log_prob2)
    assert entropy.shape == (40,)
    assert th.all(actions[obs[:, GOAL_AFFORDABLE_INDEX] == 0, 0] == 0)
    det, _ = policy.predict(obs.numpy(), deterministic=True)
    active = obs[:, GOAL_AFFORDABLE_INDEX].numpy() > 0.5
    np.testing.assert_array_equal(det[:, 0], np.where(active, goal_arg.numpy(), 0))
    np.testing.assert_array_equal(det[:, 1], port_arg.numpy())
    single, _ = policy.predict(obs[0].numpy(), deterministic=True)
    np.testing.assert_array_equal(single, det[0])


def test_maskable_policy_respects_masks():
    policy = MaskableGBWMPolicy(OBS_SPACE, ACT_SPACE, lambda _: 1e-3)
    obs = _obs(50)
    obs[:, GOAL_AFFORDABLE_INDEX] = 1.0
    masks = np.zeros((50, 2 + N_PORT), dtype=bool)
    masks[:, 0] = True  # skip only
    masks[:, 2 + 7] = True  # portfolio 7 only
    for deterministic in (True, False):
        actions, _ = policy.predict(obs.numpy(), deterministic=deterministic, action_masks=masks)
        assert np.all(actions[:, 0] == 0) and np.all(actions[:, 1] == 7)
    masks[:, 0], masks[:, 1] = False, True  # take only
    actions, _ = policy.predict(obs.numpy(), action_masks=masks)
    assert np.all(actions[:, 0] == 1)
    with th.no_grad():
        _, log_prob, entropy = policy.evaluate_actions(obs, th.as_tensor(actions).float(),
                                                       action_masks=th.as_tensor(masks))
    th.testing.assert_close(log_prob, th.zeros(50), atol=1e-5, rtol=0)
    th.testing.assert_close(entropy, th.zeros(50), atol=1e-5, rtol=0)


# ---------------------------------------------------------------- training and persistence
def _assert_same_after_reload(model, algo, path, obs):
    before, _ = model.predict(obs, deterministic=True)
    model.save(path)
    loaded = algo.load(path, device="cpu")
    after, _ = loaded.predict(obs, deterministic=True)
    np.testing.assert_array_equal(before, after)
    for (name, p), (_, q) in zip(model.policy.state_dict().items(),
                                 loaded.policy.state_dict().items(), strict=True):
        th.testing.assert_close(p, q, msg=name)
    assert type(loaded.policy) is type(model.policy)
    return loaded


def test_ppo_learns_on_vec_env_and_survives_save_load(tmp_path):
    env = GBWMVecEnv(128, seed=1)
    model = PPO(GBWMPolicy, env, n_steps=16, batch_size=256, n_epochs=2, learning_rate=1e-2,
                gamma=1.0, seed=1, device="cpu")
    init = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(3 * 128 * 16)
    assert model.num_timesteps == 3 * 128 * 16
    assert any(not th.equal(a, b) for a, b in zip(init, model.policy.parameters(), strict=True))
    obs = _obs(256, seed=5).numpy()
    loaded = _assert_same_after_reload(model, PPO, tmp_path / "ppo_gbwm", obs)
    assert isinstance(loaded.policy, GBWMPolicy)


def test_ppo_with_env_id_and_dummy_vec_env():
    model = PPO(GBWMPolicy, "GBWM-v0", n_steps=64, batch_size=64, n_epochs=1, seed=0,
                device="cpu")
    model.learn(128)
    vec = make_vec_env("GBWM-v0", n_envs=4, seed=0)
    model = PPO(GBWMPolicy, vec, n_steps=32, batch_size=64, n_epochs=2, seed=0, device="cpu")
    model.learn(2 * 4 * 32)
    # rollout actions never "take" where the goal flag is 0
    buf = model.rollout_buffer
    flag = buf.observations[..., GOAL_AFFORDABLE_INDEX]
    assert np.all(buf.actions[..., 0][flag == 0] == 0)


def test_maskable_ppo_learns_and_survives_save_load(tmp_path):
    env = GBWMVecEnv(128, seed=2)
    model = MaskablePPO(MaskableGBWMPolicy, env, n_steps=16, batch_size=256, n_epochs=2,
                        gamma=1.0, seed=2, device="cpu")
    model.learn(2 * 128 * 16)
    masks = model.rollout_buffer.action_masks
    actions = model.rollout_buffer.actions
    assert np.all(actions[..., 0][masks[..., 1] == 0] == 0)
    obs = _obs(256, seed=6).numpy()
    _assert_same_after_reload(model, MaskablePPO, tmp_path / "mppo_gbwm", obs)
    single = MaskablePPO(MaskableGBWMPolicy, gym.make("GBWM-v0"), n_steps=64, batch_size=64,
                         n_epochs=1, seed=0, device="cpu")
    single.learn(128)


# ---------------------------------------------------------------- portfolio head given the goal
def _conditional_dist(batch: int = 64, seed: int = 0):
    gen = th.Generator().manual_seed(seed)
    goal_logits = 2.0 * th.randn(batch, 2, generator=gen)
    port_logits = 2.0 * th.randn(batch, 2 * N_PORT, generator=gen)
    active = th.arange(batch) % 2 == 0
    dist = GBWMActionDistribution(N_PORT, portfolio_given_goal=True)
    return dist.proba_distribution(goal_logits, port_logits, active), goal_logits, \
        port_logits.view(batch, 2, N_PORT), active


def test_conditional_log_prob_uses_the_branch_of_the_goal_decision():
    dist, goal_logits, port_logits, active = _conditional_dist()
    gen = th.Generator().manual_seed(1)
    take = th.randint(0, 2, (64,), generator=gen)
    port = th.randint(0, N_PORT, (64,), generator=gen)
    log_prob = dist.log_prob(th.stack([take, port], 1))
    goal_lp = th.log_softmax(goal_logits, 1)
    port_lp = th.log_softmax(port_logits, 2)
    rows = th.arange(64)
    branch = take * active  # where the goal decision has no effect: the "skip" row
    expected = th.where(active, goal_lp[rows, take], th.zeros(64)) + port_lp[rows, branch, port]
    th.testing.assert_close(log_prob, expected)
    # the two branches really differ, so a wrong row would show
    other = port_lp[rows, 1 - branch, port]
    assert not th.allclose(port_lp[rows, branch, port][active], other[active])


def test_conditional_entropy_is_the_exact_joint_entropy():
    dist, goal_logits, port_logits, active = _conditional_dist(seed=2)
    goal_p = th.softmax(goal_logits, 1)
    port_p = th.softmax(port_logits, 2)
    joint = goal_p.unsqueeze(2) * port_p  # (batch, 2, n): p(take) p(portfolio | take)
    h_active = -(joint * joint.log()).sum((1, 2))
    h_inactive = -(port_p[:, 0] * port_p[:, 0].log()).sum(1)
    th.testing.assert_close(dist.entropy(), th.where(active, h_active, h_inactive))
    actions = th.stack([th.arange(64) % 2, th.arange(64) % N_PORT], 1)
    log_prob, entropy = masked_log_prob_entropy(goal_logits, port_logits, active, actions)
    th.testing.assert_close(log_prob, dist.log_prob(actions))
    th.testing.assert_close(entropy, dist.entropy())


def test_conditional_sampling_and_mode_follow_the_goal_decision():
    n = 20000
    goal_logits = th.log(th.tensor([[0.4, 0.6]])).repeat(n, 1)
    skip_row = th.log(th.tensor([0.8, 0.1, 0.1]))
    take_row = th.log(th.tensor([0.1, 0.1, 0.8]))
    port_logits = th.cat([skip_row, take_row]).repeat(n, 1)
    active = th.arange(n) < n // 2
    dist = GBWMActionDistribution(3, portfolio_given_goal=True)
    dist.proba_distribution(goal_logits, port_logits, active)
    th.manual_seed(0)
    sample = dist.sample()
    assert th.all(sample[~active, 0] == 0)
    for take, row in ((1, take_row), (0, skip_row)):
        chosen = sample[active & (sample[:, 0] == take), 1]
        freq = th.bincount(chosen, minlength=3).float() / chosen.numel()
        th.testing.assert_close(freq, row.exp(), atol=0.02, rtol=0)
    freq = th.bincount(sample[~active, 1], minlength=3).float() / (n // 2)
    th.testing.assert_close(freq, skip_row.exp(), atol=0.02, rtol=0)
    mode = dist.mode()  # take where it counts, then the take row's argmax
    assert th.all(mode[active] == th.tensor([1, 2])) and th.all(mode[~active] == th.tensor([0, 0]))
    th.testing.assert_close(dist.portfolio_probs(mode[:, 0]),
                            th.where(active.unsqueeze(1), take_row.exp(), skip_row.exp()))


def test_conditional_masks_apply_to_both_branches():
    dist, *_ = _conditional_dist(batch=8, seed=4)
    masks = np.ones((8, 2 + N_PORT), dtype=bool)
    masks[:, 2 + 5:] = False
    dist.apply_masking(masks)
    for _ in range(5):
        assert th.all(dist.sample()[:, 1] < 5)


@pytest.mark.parametrize("algo,cls", [(PPO, GBWMPolicy), (MaskablePPO, MaskableGBWMPolicy)])
def test_conditional_policy_trains_and_survives_save_load(tmp_path, algo, cls):
    env = GBWMVecEnv(128, seed=3)
    model = algo(cls, env, n_steps=16, batch_size=256, n_epochs=2, gamma=1.0, seed=3,
                 device="cpu", policy_kwargs=dict(portfolio_given_goal=True))
    assert model.policy.portfolio_head.out_features == 2 * N_PORT
    model.learn(2 * 128 * 16)
    loaded = _assert_same_after_reload(model, algo, tmp_path / "cond", _obs(256, seed=7).numpy())
    assert loaded.policy.portfolio_given_goal is True


def test_portfolio_given_goal_must_be_a_bool():
    with pytest.raises(ValueError, match="portfolio_given_goal must be True or False"):
        GBWMPolicy(OBS_SPACE, ACT_SPACE, lambda _: 1e-3, portfolio_given_goal="yes")


# ---------------------------------------------------------------- polynomial portfolio head
def test_legendre_basis_rows():
    basis = legendre_portfolio_basis(5, 3).double()
    u = th.linspace(-1, 1, 5, dtype=th.float64)
    th.testing.assert_close(basis[0], u)
    th.testing.assert_close(basis[1], (3 * u**2 - 1) / 2)
    th.testing.assert_close(basis[2], (5 * u**3 - 3 * u) / 2)


@pytest.mark.parametrize("free", [False, True])
@pytest.mark.parametrize("conditional", [False, True])
def test_polynomial_head_logits_are_the_polynomial_of_its_coefficients(conditional, free):
    policy = GBWMPolicy(OBS_SPACE, ACT_SPACE, lambda _: 1e-3, portfolio_degree=2,
                        portfolio_given_goal=conditional, portfolio_free_logits=free)
    rows, width = (2 if conditional else 1), 2 + (N_PORT if free else 0)
    assert policy.portfolio_head.out_features == rows * width
    obs = _obs(32, seed=8)
    latent = policy.mlp_extractor.forward_actor(obs)
    out = policy.portfolio_head(latent).view(32, rows, width)
    u = th.linspace(-1, 1, N_PORT)
    expected = out[..., :1] * u + out[..., 1:2] * (3 * u**2 - 1) / 2
    if free:
        expected = expected + out[..., 2:]
    logits = policy.portfolio_logits(latent).view(32, rows, N_PORT)
    th.testing.assert_close(logits, expected)
    dist = policy.get_distribution(obs)
    take = th.ones(32, dtype=th.long)
    probs = dist.portfolio_probs(take)
    row = th.where(goal_active_from_obs(obs), take, 0) if conditional else th.zeros(32, dtype=int)
    th.testing.assert_close(probs, th.softmax(expected[th.arange(32), row], dim=1))


def test_polynomial_head_trains_and_survives_save_load(tmp_path):
    env = GBWMVecEnv(128, seed=4)
    model = PPO(GBWMPolicy, env, n_steps=16, batch_size=256, n_epochs=2, gamma=1.0, seed=4,
                device="cpu", policy_kwargs=dict(portfolio_degree=2))
    basis = model.policy.portfolio_basis.clone()
    model.learn(2 * 128 * 16)
    th.testing.assert_close(model.policy.portfolio_basis, basis)  # a constant, not trained
    assert all(p is not model.policy.portfolio_basis for p in model.policy.parameters())
    loaded = _assert_same_after_reload(model, PPO, tmp_path / "poly", _obs(256, seed=9).numpy())
    assert loaded.policy.portfolio_degree == 2


@pytest.mark.parametrize("degree", [0, 15, 2.0, True, "2"])
def test_portfolio_degree_is_validated(degree):
    with pytest.raises(ValueError, match=r"portfolio_degree must be None or an integer in 1\.\.14"):
        GBWMPolicy(OBS_SPACE, ACT_SPACE, lambda _: 1e-3, portfolio_degree=degree)
    with pytest.raises(ValueError, match="portfolio_free_logits must be True or False"):
        GBWMPolicy(OBS_SPACE, ACT_SPACE, lambda _: 1e-3, portfolio_degree=2,
                   portfolio_free_logits=1)
