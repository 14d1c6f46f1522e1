"""The universal network, its safe weights, resumable pretraining and fine-tuning."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO

from gbwm_sb3.envs.multi_problem_vec_env import MultiProblemVecEnv
from gbwm_sb3.envs.universal_observation import K_MAX
from gbwm_sb3.pretrained import UniversalGBWMPolicy, load_network, save_weights
from gbwm_sb3.pretrained.advisor import PretrainedPolicy
from gbwm_sb3.pretrained.loading import DEFAULT_WEIGHTS, PPO_WEIGHTS
from gbwm_sb3.pretrained.mixture import MIXTURE_VALIDATION_SEED, WIDE_ENVELOPE, mixture_problems
from gbwm_sb3.pretrained.training import (
    PAPER_LIKE_VALIDATION,
    VALIDATION_SEED,
    PretrainConfig,
    pretrain,
    validation_problems,
)
from gbwm_sb3.pretrained.weights import read_weights_manifest
from gbwm_sb3.problem import paper_problem
from gbwm_sb3.problem.files import problem_to_dict
from gbwm_sb3.problem.model import GBWMProblem, Goal, paper_portfolios
from gbwm_sb3.problem.sampler import sample_problems

TINY = dict(total_timesteps=512, stage_timesteps=256, n_envs=64, n_steps=4, batch_size=128,
            n_epochs=2, pool_size=16, validation_problems=2, validation_paths=200,
            embedding=(16,), head=8, value=(16,))


@pytest.fixture(scope="module")
def model() -> PPO:
    env = MultiProblemVecEnv(32, seed=3, pool_size=16)
    return PPO(UniversalGBWMPolicy, env, n_steps=4, batch_size=64, n_epochs=1, seed=0,
               gamma=1.0, device="cpu", policy_kwargs={"embedding": (16,), "head": 8,
                                                       "value": (16,)})


def test_actions_are_valid_and_log_probs_agree(model: PPO) -> None:
    env = model.env
    obs = env.reset()
    masks = env.action_masks()
    policy = model.policy
    th.manual_seed(0)
    with th.no_grad():
        actions, values, log_prob = policy(th.as_tensor(obs))
        values2, log_prob2, entropy = policy.evaluate_actions(th.as_tensor(obs), actions)
    actions = actions.numpy()
    assert masks[np.arange(len(obs)), actions[:, 0]].all()
    assert masks[np.arange(len(obs)), K_MAX + actions[:, 1]].all()
    assert th.allclose(log_prob, log_prob2, atol=1e-5)
    assert th.allclose(values, values2)
    assert (entropy >= -1e-6).all()
    assert values.shape == (len(obs), 1)


def test_probabilities_are_zero_where_not_allowed(model: PPO) -> None:
    env = model.env
    obs = env.reset()
    for _ in range(3):  # reach years with goals
        obs, *_ = env.step(np.zeros((env.num_envs, 2), dtype=np.int64))
    masks = env.action_masks()
    with th.no_grad():
        goal, portfolio = model.policy.action_probabilities(th.as_tensor(obs))
    assert th.allclose(goal.sum(1), th.ones(len(obs)), atol=1e-5)
    assert th.allclose(portfolio.sum(1), th.ones(len(obs)), atol=1e-5)
    assert (goal.numpy()[~masks[:, :K_MAX]] == 0).all()
    assert (portfolio.numpy()[~masks[:, K_MAX:]] == 0).all()


def test_plain_ppo_trains_it_without_masks(model: PPO) -> None:
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(256)
    after = list(model.policy.parameters())
    assert any(not th.equal(a, b) for a, b in zip(before, after, strict=True))


def test_spaces_are_checked() -> None:
    from gymnasium import spaces

    with pytest.raises(ValueError, match="observation_space"):
        UniversalGBWMPolicy(spaces.Box(0, 1, (6,)), spaces.MultiDiscrete([64, 20]),
                            lambda _: 1e-3)
    with pytest.raises(ValueError, match="head"):
        env = MultiProblemVecEnv(2, seed=0, pool_size=2)
        UniversalGBWMPolicy(env.observation_space, env.action_space, lambda _: 1e-3, head=0)


def test_weights_round_trip_and_refusals(model: PPO, tmp_path) -> None:
    directory = save_weights(model.policy, tmp_path / "w", {"note": "test"})
    with pytest.raises(FileExistsError):
        save_weights(model.policy, directory)
    network = load_network(directory)
    obs = th.as_tensor(model.env.reset())
    with th.no_grad():
        a = model.policy.action_probabilities(obs)
        b = network.action_probabilities(obs)
    assert all(th.equal(x, y) for x, y in zip(a, b, strict=True))
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["metadata"] == {"note": "test"}
    with np.load(directory / "weights.npz", allow_pickle=False) as data:  # no pickle inside
        assert set(data.files) == set(manifest["tensors"])
    raw = bytearray((directory / "weights.npz").read_bytes())
    raw[-10] ^= 0xFF
    (directory / "weights.npz").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="sha256"):
        load_network(directory)


def test_pretraining_resumes_to_the_same_weights(tmp_path) -> None:
    config = PretrainConfig(**TINY)
    pretrain(config, tmp_path / "a", threads=1, log=None)
    pretrain(config, tmp_path / "b", threads=1, log=None, max_stages=1)
    state = json.loads((tmp_path / "b" / "state.json").read_text())
    assert state["stage"] == 1
    pretrain(config, tmp_path / "b", threads=1, log=None)
    with np.load(tmp_path / "a" / "final" / "weights.npz") as a, \
            np.load(tmp_path / "b" / "final" / "weights.npz") as b:
        assert a.files == b.files
        assert all(np.array_equal(a[name], b[name]) for name in a.files)
    other = PretrainConfig(**{**TINY, "seed": 1})
    with pytest.raises(ValueError, match="different settings"):
        pretrain(other, tmp_path / "a", threads=1, log=None)
    pretrain(other, tmp_path / "c", threads=1, log=None)
    with np.load(tmp_path / "a" / "final" / "weights.npz") as a, \
            np.load(tmp_path / "c" / "final" / "weights.npz") as c:
        assert not all(np.array_equal(a[name], c[name]) for name in a.files)
    # the manifest names the libraries and the CPU path the run's sums took
    environment = read_weights_manifest(tmp_path / "a" / "final")["metadata"]["environment"]
    assert environment["torch"] == th.__version__
    assert environment["cpu_capability"] == th.backends.cpu.get_cpu_capability()
    # every stage's weights are kept, and each problem's validation efficiency
    state = json.loads((tmp_path / "a" / "state.json").read_text())
    for entry in state["history"]:
        assert (tmp_path / "a" / "stages" / f"stage-{entry['stage']:03d}" / "weights.npz").exists()
        assert len(entry["validation"]) == TINY["validation_problems"]
        assert entry["validation_min"] == pytest.approx(min(entry["validation"]), abs=1e-5)


def test_until_stage_stops_at_the_same_stage_when_rerun(tmp_path) -> None:
    config = PretrainConfig(**TINY)
    assert pretrain(config, tmp_path / "a", threads=1, log=None, until_stage=0)["stage"] == 0
    assert pretrain(config, tmp_path / "a", threads=1, log=None, until_stage=1)["stage"] == 1
    assert pretrain(config, tmp_path / "a", threads=1, log=None, until_stage=1)["stage"] == 1
    state = pretrain(config, tmp_path / "a", threads=1, log=None, until_stage=5)
    assert state["stage"] == config.stages == 2
    with pytest.raises(ValueError, match="until_stage must be an integer >= 0"):
        pretrain(config, tmp_path / "a", threads=1, log=None, until_stage=-1)


def test_validation_with_the_lookahead_is_recorded(tmp_path) -> None:
    config = PretrainConfig(**{**TINY, "total_timesteps": 256, "validation_lookahead": 4})
    state = pretrain(config, tmp_path / "l", threads=1, log=None)
    saved = json.loads((tmp_path / "l" / "config.json").read_text())
    assert saved["validation_lookahead"] == 4
    assert len(state["history"][0]["validation"]) == TINY["validation_problems"]
    with pytest.raises(ValueError, match="validation_lookahead must be 1 with"):
        PretrainConfig(**{**TINY, "validation_lookahead": 4, "reward_normalization": "optimum"})


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="stage_timesteps must be a multiple"):
        PretrainConfig(**{**TINY, "stage_timesteps": 300})
    with pytest.raises(ValueError, match="learning_rate"):
        PretrainConfig(**{**TINY, "learning_rate": -1.0})
    with pytest.raises(ValueError, match="unknown pretraining settings: nope"):
        PretrainConfig.from_dict({"nope": 1})
    with pytest.raises(ValueError, match=r"validation_paper_like must be an integer in 0\.\.6"):
        PretrainConfig(**{**TINY, "validation_paper_like": 7})


def test_a_validation_problem_the_optimum_cannot_fund_is_left_out(tmp_path) -> None:
    # the near-ties mixture's second validation draw is a goal far beyond the wealth: no
    # efficiency is defined there; the mean and minimum are over the other problems
    config = PretrainConfig(**{**TINY, "total_timesteps": 256, "mixture": "near_ties",
                               "validation_mixture": 2})
    state = pretrain(config, tmp_path / "w", threads=1, log=None)
    entry = state["history"][0]
    assert len(entry["validation"]) == 4 and entry["validation"][3] is None
    assert entry["validation_mean"] == pytest.approx(np.mean(entry["validation"][:3]), abs=1e-5)
    assert entry["validation_min"] == pytest.approx(min(entry["validation"][:3]), abs=1e-5)
    assert state["best"]["stage"] == 1
    json.loads((tmp_path / "w" / "state.json").read_text())  # strict JSON: no NaN


def test_a_run_can_draw_from_a_mixture_and_validate_on_it(tmp_path) -> None:
    config = PretrainConfig(**{**TINY, "total_timesteps": 256, "mixture": "wide",
                               "validation_mixture": 2})
    assert config.envelope == WIDE_ENVELOPE
    problems = config.validation_set()
    assert problems[:2] == validation_problems(2)
    assert [problem_to_dict(p) for p in problems[2:]] == \
        [problem_to_dict(p) for p in mixture_problems(2, MIXTURE_VALIDATION_SEED, "wide")]
    state = pretrain(config, tmp_path / "w", threads=1, log=None)
    assert len(state["history"][0]["validation"]) == 4
    assert "start_validation" not in state  # a fresh network has no start to beat
    manifest = json.loads((tmp_path / "w" / "best" / "manifest.json").read_text())
    assert manifest["envelope"]["funding_ratio"] == [0.1, 4.0]
    assert manifest["envelope"]["horizon"] == [1, 100]
    assert PretrainConfig.from_dict(json.loads((tmp_path / "w" / "config.json").read_text())) \
        == config
    # an older config.json (without these settings) reads as the sampler and a fresh start
    old = {k: v for k, v in PretrainConfig(**TINY).to_dict().items()
           if k not in ("mixture", "start", "validation_mixture", "weighted_reach",
                        "entry_reach")}
    assert PretrainConfig.from_dict(old) == PretrainConfig(**TINY)


@pytest.mark.parametrize(("start", "directory", "inputs"),
                         [("shipped", DEFAULT_WEIGHTS, {"entry_reach": True}),
                          ("ppo", PPO_WEIGHTS, {})])
def test_a_run_can_continue_from_the_shipped_or_the_ppo_weights(
        tmp_path, start: str, directory: Path, inputs: dict[str, bool]) -> None:
    shipped_shape = {k: v for k, v in TINY.items() if k not in ("embedding", "head", "value")}
    config = PretrainConfig(**{**shipped_shape, **inputs, "total_timesteps": 256,
                               "start": start, "learning_rate": 1e-9,
                               "learning_rate_final": 1e-9})
    state = pretrain(config, tmp_path / "s", threads=1, log=None)
    begun = state["start_validation"]
    assert len(begun["validation"]) == 2
    assert begun["min"] == pytest.approx(min(begun["validation"]), abs=1e-5)
    assert state["start_weights_sha256"] == read_weights_manifest(directory)["sha256"]
    source = load_network(directory).state_dict()
    trained = load_network(tmp_path / "s" / "final").state_dict()
    assert source.keys() == trained.keys()
    # a learning rate of 1e-9 leaves every weight within a few 1e-8 of the source's
    assert max(float((source[k] - trained[k]).abs().max()) for k in source) < 1e-6


def test_a_stage_is_kept_only_where_it_beats_the_start(tmp_path) -> None:
    shipped_shape = {k: v for k, v in TINY.items() if k not in ("embedding", "head", "value")}
    # a stage is kept as best only where it beats the starting weights: a wrecking
    # learning rate leaves no best stage at all
    wrecked = PretrainConfig(**{**shipped_shape, "total_timesteps": 256, "start": "ppo",
                                "learning_rate": 0.5, "learning_rate_final": 0.5})
    state = pretrain(wrecked, tmp_path / "x", threads=1, log=None)
    assert state["history"][0]["validation_mean"] < state["start_validation"]["mean"]
    assert state["best"] is None and not (tmp_path / "x" / "best").exists()
    with pytest.raises(ValueError, match="start 'ppo': the network must have the source "
                                         "network's shape"):
        pretrain(PretrainConfig(**{**TINY, "start": "ppo"}), tmp_path / "t", threads=1,
                 log=None)


def test_a_run_can_continue_from_any_weights_directory(tmp_path) -> None:
    first = pretrain(PretrainConfig(**TINY), tmp_path / "a", threads=1, log=None)
    assert "start_validation" not in first
    origin = tmp_path / "a" / "final"
    config = PretrainConfig(**{**TINY, "start": str(origin), "entry_reach": True,
                               "learning_rate": 1e-9, "learning_rate_final": 1e-9})
    state = pretrain(config, tmp_path / "b", threads=1, log=None)
    # the start is scored as those weights act, and recorded with their digest
    assert state["start_validation"]["mean"] == pytest.approx(
        first["history"][-1]["validation_mean"], abs=1e-12)
    assert state["start_weights_sha256"] == json.loads(
        (origin / "manifest.json").read_text())["sha256"]
    before = load_network(origin).state_dict()
    after = load_network(tmp_path / "b" / "final").state_dict()
    assert max(float((before[k] - after[k]).abs().max()) for k in before
               if k != "portfolio_scorer.0.weight") < 1e-6
    with pytest.raises(ValueError, match=r"start must be one of scratch, shipped, ppo or a weights "
                                         r"directory \(holding manifest.json\), got 'nowhere'"):
        PretrainConfig(**{**TINY, "start": "nowhere"})


@pytest.mark.parametrize(("flag", "layer", "inputs", "first_new"),
                         [("weighted_reach", "portfolio_scorer", 12, 10),
                          ("entry_reach", "portfolio_scorer", 15, 10),
                          ("decision_margins", "decision_scorer", 12, 9),
                          ("decision_reach", "decision_scorer", 12, 9)])
def test_a_run_with_more_inputs_starts_as_the_ppo_weights_and_saves_them(
        tmp_path, flag: str, layer: str, inputs: int, first_new: int) -> None:
    from gbwm_sb3.pretrained import fine_tune

    shipped_shape = {k: v for k, v in TINY.items() if k not in ("embedding", "head", "value")}
    config = PretrainConfig(**{**shipped_shape, "total_timesteps": 256, "start": "ppo",
                               flag: True, "learning_rate": 1e-9,
                               "learning_rate_final": 1e-9})
    state = pretrain(config, tmp_path / "r", threads=1, log=None)
    plain = PretrainConfig(**{**shipped_shape, "total_timesteps": 256, "start": "ppo"})
    # zero weights on the new inputs: the start is scored exactly as the PPO weights
    assert state["start_validation"] == pretrain(plain, tmp_path / "p", threads=1,
                                                 log=None)["start_validation"]
    manifest = json.loads((tmp_path / "r" / "final" / "manifest.json").read_text())
    assert manifest["network"][flag] is True
    assert flag not in json.loads(
        (tmp_path / "p" / "final" / "manifest.json").read_text())["network"]
    trained = load_network(tmp_path / "r" / "final")
    first = trained.state_dict()[f"{layer}.0.weight"]
    assert getattr(trained, flag) and first.shape[1] == inputs
    assert float(first[:, first_new:].abs().max()) < 1e-6  # moved by at most a few 1e-9 steps
    # fine_tune builds the same network from such weights
    tuned = fine_tune(paper_problem(2), 32, weights=str(tmp_path / "r" / "final"), n_envs=16,
                      holdout_paths=0)
    assert getattr(tuned.network, flag)
    assert PretrainConfig.from_dict(json.loads((tmp_path / "r" / "config.json").read_text())) \
        == config
    with pytest.raises(ValueError, match=f"{flag} must be True or False, got 1"):
        PretrainConfig(**{**TINY, flag: 1})


def test_mixture_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="mixture must be one of sampler, teacher, wide, blend"):
        PretrainConfig(**{**TINY, "mixture": "broad"})
    with pytest.raises(ValueError, match=r"start must be one of scratch, shipped, ppo or a weights "
                                         r"directory \(holding manifest.json\), got 'v2'"):
        PretrainConfig(**{**TINY, "start": "v2"})
    with pytest.raises(ValueError, match="validation_mixture must be 0 with mixture 'sampler'"):
        PretrainConfig(**{**TINY, "validation_mixture": 3})
    with pytest.raises(ValueError, match=r"validation_mixture must be an integer in 0\.\.1000"):
        PretrainConfig(**{**TINY, "mixture": "wide", "validation_mixture": -1})


def test_validation_set_adds_paper_like_problems() -> None:
    problems = validation_problems(3, paper_like=2)
    assert problems[:3] == sample_problems(3, seed=VALIDATION_SEED)
    for problem, (goals, scale) in zip(problems[3:], PAPER_LIKE_VALIDATION, strict=False):
        base = paper_problem(goals)
        assert problem.goals == base.goals and problem.portfolios == base.portfolios
        assert problem.initial_wealth == pytest.approx(scale * base.initial_wealth)
        assert problem.initial_wealth != base.initial_wealth  # never a benchmark problem


def test_policy_acts_for_any_problem_of_the_envelope(model: PPO) -> None:
    for problem in [paper_problem(4), *sample_problems(3, seed=5)]:
        policy = PretrainedPolicy(model.policy, problem)
        wealth = np.linspace(0.1, 3.0, 7) * problem.initial_wealth
        take, portfolio = policy.act(0, wealth)
        assert take.shape == portfolio.shape == (7,)
        assert ((portfolio >= 0) & (portfolio < problem.num_portfolios)).all()
        advice = policy.advise(0, problem.initial_wealth)
        assert 0 <= advice.portfolio < problem.num_portfolios
        assert abs(sum(advice.decision_probabilities) - 1) < 1e-5
        assert len(advice.decision_probabilities) == len(problem.decisions(0))


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> str:
    directory = tmp_path_factory.mktemp("tiny")
    pretrain(PretrainConfig(**{**TINY, "total_timesteps": 256}), directory, threads=1, log=None)
    return str(directory / "final")


def test_fine_tune_is_reproducible_and_changes_the_network(tiny_weights: str) -> None:
    from gbwm_sb3.pretrained import fine_tune, pretrained_network

    problem = paper_problem(2)
    before = {k: v.clone() for k, v in pretrained_network(tiny_weights).state_dict().items()}
    a = fine_tune(problem, 64, weights=tiny_weights, n_envs=32, seed=1, holdout_paths=0)
    b = fine_tune(problem, 64, weights=tiny_weights, n_envs=32, seed=1, holdout_paths=0)
    after = pretrained_network(tiny_weights).state_dict()
    assert all(th.equal(before[k], after[k]) for k in before)  # the shared network is untouched
    sa, sb = a.network.state_dict(), b.network.state_dict()
    assert all(th.equal(sa[k], sb[k]) for k in sa)
    assert any(not th.equal(sa[k], before[k]) for k in sa)
    take, portfolio = a.act(3, np.array([50.0, 100.0]))
    assert take.dtype == bool and portfolio.shape == (2,)
    with pytest.raises(ValueError, match="n_trajectories"):
        fine_tune(problem, 0, weights=tiny_weights)
    with pytest.raises(ValueError, match="unknown fine-tuning settings: lr"):
        fine_tune(problem, 8, weights=tiny_weights, lr=0.1)


def test_fine_tune_returns_the_best_network_on_the_held_out_markets(tiny_weights: str) -> None:
    """A harmful learning rate: the result is still at least the zero-shot policy on the
    held-out markets, and it is the best of the networks scored there."""
    from gbwm_sb3.evaluation import evaluate
    from gbwm_sb3.pretrained import fine_tune
    from gbwm_sb3.pretrained.fine_tuning import HOLDOUT_SEED

    problem = paper_problem(2)
    tuned = fine_tune(problem, 256, weights=tiny_weights, n_envs=32, seed=2, lookahead=1,
                      learning_rate=0.3, holdout_paths=2000, holdout_every=2,
                      critic_lookahead=False)
    assert tuned.critic_lookahead is None and tuned.fine_tune_critic_check is None
    scores = tuned.fine_tune_scores
    assert len(scores) >= 3 and scores[0][0] == 0 and scores[0][2]
    held_out = evaluate({"p": tuned}, problem, n_paths=2000, seed=HOLDOUT_SEED,
                        reference=None)["p"].mean_utility
    adopted = [score for _, score, kept in scores if kept]
    assert held_out == adopted[-1] >= scores[0][1]  # the last network adopted is returned
    # a network is adopted only when it beats the best so far
    assert all(later > earlier for earlier, later in zip(adopted, adopted[1:], strict=False))
    with pytest.raises(ValueError, match="holdout_paths"):
        fine_tune(problem, 8, weights=tiny_weights, holdout_paths=-1)


def test_fine_tune_keeps_the_critic_lookahead_only_where_it_scores_better(
        tiny_weights: str) -> None:
    """By default the fine-tuned network is compared on the held-out markets with and
    without its critic's lookahead, and the better (by the margin) is returned."""
    from gbwm_sb3.evaluation import evaluate
    from gbwm_sb3.pretrained import fine_tune
    from gbwm_sb3.pretrained.fine_tuning import HOLDOUT_MARGIN, HOLDOUT_SEED

    problem = paper_problem(4)
    settings = {"weights": tiny_weights, "n_envs": 32, "seed": 3, "holdout_paths": 2000}
    tuned = fine_tune(problem, 128, **settings)
    assert tuned.fine_tune_critic_check is not None
    alone, with_critic, adopted = tuned.fine_tune_critic_check
    assert adopted == (tuned.critic_lookahead is not None)
    plain = fine_tune(problem, 128, critic_lookahead=False, **settings)
    improved = fine_tune(problem, 128, critic_lookahead=True, **settings)
    assert plain.critic_lookahead is None and improved.critic_lookahead is not None
    report = evaluate({"plain": plain, "improved": improved, "tuned": tuned}, problem,
                      n_paths=2000, seed=HOLDOUT_SEED, reference="plain")
    assert report["plain"].mean_utility == pytest.approx(alone, rel=1e-12)
    assert report["improved"].mean_utility == pytest.approx(with_critic, rel=1e-12)
    error = report["improved"].difference_std_error or 0.0
    assert adopted == (with_critic - alone > HOLDOUT_MARGIN * error)
    assert report["tuned"].mean_utility == (with_critic if adopted else alone)
    # without held-out markets nothing is compared: the network acts alone
    last = fine_tune(problem, 64, weights=tiny_weights, n_envs=32, holdout_paths=0)
    assert last.critic_lookahead is None and last.fine_tune_critic_check is None
    with pytest.raises(ValueError, match="critic_lookahead must be True, False or None"):
        fine_tune(problem, 8, weights=tiny_weights, critic_lookahead=1)


def test_a_policy_with_the_critic_lookahead_acts_and_advises_as_the_lookahead(
        tiny_weights: str) -> None:
    from gbwm_sb3.evaluation import CriticLookahead
    from gbwm_sb3.pretrained import pretrained_policy

    problem = GBWMProblem(horizon=6, initial_wealth=40.0, portfolios=paper_portfolios(),
                          goals=(Goal(2, levels=[(20.0, 6.0), (30.0, 10.0)]),
                                 Goal(2, 12.0, 5.0), Goal(5, 30.0, 8.0)))
    policy = pretrained_policy(problem, tiny_weights, lookahead=4)
    improved = policy.with_critic_lookahead()
    assert policy.critic_lookahead is None  # the original is unchanged
    assert improved.critic_lookahead is not None
    assert improved.critic_lookahead.decisions == 4  # the policy's own breadth
    wealth = np.linspace(5.0, 90.0, 40)
    reference = CriticLookahead(policy, problem, decisions=4)
    for t in range(problem.horizon):
        decision, portfolio = improved.act(t, wealth)
        expected = reference.act(t, wealth)
        assert np.array_equal(decision, expected[0])
        assert np.array_equal(portfolio, expected[1])
    for w in (18.0, 33.0, 55.0):
        advice = improved.advise(2, w)
        decision, portfolio = improved.act(2, np.array([w]))
        assert (advice.decision, advice.portfolio) == (int(decision[0]), int(portfolio[0]))
    assert pretrained_policy(problem, tiny_weights, lookahead=1).with_critic_lookahead(
        ).critic_lookahead.decisions == 1
    with pytest.raises(ValueError, match="decisions must be an integer in 1..64"):
        policy.with_critic_lookahead(0)
    with pytest.raises(ValueError, match="t must be an integer year"):
        improved.act(6, wealth)


def test_the_default_lookahead_is_the_one_the_weights_record(tiny_weights: str, tmp_path,
                                                              capsys) -> None:
    """No lookahead given: 8 for weights that record none, else theirs (library and CLI)."""
    from gbwm_sb3.cli import main
    from gbwm_sb3.cli.main import build_parser
    from gbwm_sb3.pretrained import pretrained_network, pretrained_policy
    from gbwm_sb3.pretrained.loading import recommended_lookahead
    from gbwm_sb3.pretrained.lookahead import DEFAULT_CANDIDATES, LookaheadPolicy

    assert build_parser().parse_args(["advise", "paper:4"]).lookahead is None
    assert recommended_lookahead(tiny_weights) == DEFAULT_CANDIDATES == 8
    assert isinstance(pretrained_policy(paper_problem(4), tiny_weights), LookaheadPolicy)
    greedy = save_weights(pretrained_network(tiny_weights), tmp_path / "greedy", lookahead=1)
    assert recommended_lookahead(greedy) == 1
    policy = pretrained_policy(paper_problem(4), greedy)
    assert not isinstance(policy, LookaheadPolicy)
    assert isinstance(pretrained_policy(paper_problem(4), greedy, lookahead=4), LookaheadPolicy)
    assert main(["advise", "paper:4", "--weights", str(greedy), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["lookahead"] == 1
    with pytest.raises(ValueError, match="lookahead must be an integer in 1..64"):
        save_weights(pretrained_network(tiny_weights), tmp_path / "bad", lookahead=0)


def test_cli_advise_prints_the_decision_and_refuses_bad_input(tiny_weights: str, capsys) -> None:
    from gbwm_sb3.cli import main

    assert main(["advise", "paper:4", "--weights", tiny_weights, "--json"]) == 0
    advice = json.loads(capsys.readouterr().out)
    assert advice["year"] == 0 and 0 <= advice["portfolio"] < 15
    assert advice["advice_ms"] > 0 and advice["lookahead"] == 8
    with pytest.raises(SystemExit):
        main(["advise", "paper:4", "--weights", tiny_weights, "--lookahead", "0"])
    assert "--lookahead: must be an integer in [1, 64]" in capsys.readouterr().err
    assert main(["advise", "examples/problems/family_plan.yaml", "--weights", tiny_weights,
                 "--year", "3", "--wealth", "100000"]) == 0
    out = capsys.readouterr().out
    assert "fund now:" in out and "portfolio: #" in out
    assert main(["advise", "paper:4", "--weights", tiny_weights, "--year", "16",
                 "--wealth", "10"]) == 2
    assert "--year must be in [0, 15]" in capsys.readouterr().err
    assert main(["advise", "paper:4", "--weights", tiny_weights, "--year", "2"]) == 2
    assert "--wealth is required" in capsys.readouterr().err


def test_rewards_can_be_divided_by_the_optimum() -> None:
    from gbwm_sb3.dp import solve_dp
    from gbwm_sb3.pretrained.training import optimum_value

    problem = paper_problem(2)
    plain = MultiProblemVecEnv(8, problems=[problem], seed=0)
    scaled = MultiProblemVecEnv(8, problems=[problem], seed=0,
                                reward_scale=lambda p: 2 * p.total_utility)
    plain.reset(), scaled.reset()
    actions = np.tile([1, 7], (8, 1))
    total = np.zeros(8)
    for _ in range(problem.horizon):
        _, r1, _, _ = plain.step(actions)
        _, r2, _, _ = scaled.step(actions)
        np.testing.assert_allclose(r2, r1 / 2, rtol=1e-6)
        total += r1
    assert total.max() > 0
    exact = float(solve_dp(problem).value_at(0, np.array([problem.initial_wealth]))[0])
    assert optimum_value(problem) == pytest.approx(exact, rel=1e-2)
    with pytest.raises(ValueError, match="reward_scale"):
        MultiProblemVecEnv(8, problems=[problem], reward_scale=3.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reward_normalization"):
        PretrainConfig(**{**TINY, "reward_normalization": "dp"})


def _example(name: str):
    path = Path(__file__).resolve().parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compare_script_scores_weights_on_the_validation_problems(tiny_weights: str,
                                                                  tmp_path, capsys) -> None:
    compare = _example("compare_pretrained")
    copy = shutil.copytree(tiny_weights, tmp_path / "copy")
    assert compare.main(["--weights", tiny_weights, str(copy), "--problems", "1",
                         "--paper-like", "1", "--paths", "200"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines
            if line.startswith((tiny_weights[-60:], str(copy)[-60:]))]
    assert len(rows) == 2 and rows[0][1:] == rows[1][1:]  # same weights, same markets
    assert 0.0 < float(rows[0][1]) <= 1.0 + 1e-9
    with pytest.raises(SystemExit):
        compare.main(["--weights", "/nonexistent"])
    assert "holds no manifest.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        compare.main(["--weights", tiny_weights, "--paper-like", "7"])
    assert "argument --paper-like" in capsys.readouterr().err
    assert compare.main(["--weights", tiny_weights, "--problems", "1", "--paper-like", "0",
                         "--paths", "200", "--lookahead", "1", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.endswith("nan") and "lookahead" in line for line in lines) == 2


def test_weights_for_another_observation_size_are_refused(tiny_weights: str, tmp_path) -> None:
    from gbwm_sb3.envs.universal_observation import UNIVERSAL_OBSERVATION_SIZE

    copy = Path(shutil.copytree(tiny_weights, tmp_path / "older"))
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["observation_size"] = 500  # weights trained before the entry/efficient features
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=f"observations of 500 entries and actions "
                                         rf"\[64, 20\], this version uses "
                                         f"{UNIVERSAL_OBSERVATION_SIZE}"):
        load_network(copy)


def test_decision_margins_compare_each_decision_with_the_best_that_costs_no_more() -> None:
    from gbwm_sb3.pretrained.policy import MARGIN_RATIO_CLIP, decision_margins

    # skip; a full level (cost 20.5) adding almost nothing to a basic one (cost 10.8); two
    # decisions of equal cost (the worse one dominated); a decision that does not exist
    utility = th.tensor([[0.0, 15.568, 15.562, 3.0, 5.0, 0.0]])
    cost = th.tensor([[0.0, 20.5, 10.8, 2.0, 2.0, 0.0]])
    exists = th.tensor([[True, True, True, True, True, False]])
    margins = decision_margins(utility, cost, exists)[0]
    gain, extra, ratio = margins.unbind(dim=1)
    assert (margins[0] == 0).all()  # skip: nothing to compare with
    # the basic level against the cheaper decision with the most utility (cost 2, utility 5)
    assert gain[2].item() == pytest.approx(10.562, abs=1e-5)
    assert extra[2].item() == pytest.approx(8.8, abs=1e-5)
    assert ratio[2].item() == pytest.approx(10.562 / 8.8, rel=1e-5)
    # the full level: 0.006 more utility for 9.7 more cost
    assert gain[1].item() == pytest.approx(0.006, abs=1e-5)
    assert extra[1].item() == pytest.approx(9.7, abs=1e-5)
    assert 0 < ratio[1].item() < 1e-3
    # equal cost: the better one is compared with skip, the worse one with the better one
    assert (gain[4].item(), extra[4].item()) == pytest.approx((5.0, 2.0))
    assert (gain[3].item(), extra[3].item(), ratio[3].item()) == \
        pytest.approx((-2.0, 0.0, -MARGIN_RATIO_CLIP))
    assert th.isfinite(margins).all()
    # the order of the decisions in the year does not matter
    permutation = th.tensor([3, 1, 5, 0, 4, 2])
    shuffled = decision_margins(utility[:, permutation], cost[:, permutation],
                                exists[:, permutation])[0]
    assert th.equal(shuffled[exists[0, permutation]], margins[permutation][exists[0, permutation]])
    # a gain for (almost) nothing reads as the clip
    free = decision_margins(th.tensor([[0.0, 1.0, 2.0]]), th.tensor([[0.0, 1.0, 1.001]]),
                            th.ones((1, 3), dtype=th.bool))[0]
    assert free[2, 2].item() == MARGIN_RATIO_CLIP and free[1, 2].item() == pytest.approx(1.0)


def test_decision_reach_values_each_decision_by_what_the_next_goal_year_keeps() -> None:
    from gbwm_sb3.pretrained.families import family
    from gbwm_sb3.pretrained.policy import decision_reach
    from gbwm_sb3.pretrained.weights import network_spaces

    values = decision_reach(th.tensor([0.0, 0.2, 0.3]), th.tensor([1.0, 0.1, 0.0]),
                            th.tensor([1.0, 0.5, 0.0]), th.tensor([0.4, 0.4, 0.4]),
                            th.tensor([0.1, 0.1, 0.1]))
    assert th.allclose(values, th.tensor([[0.4, 0.1, 0.4], [0.04, 0.05, 0.25],
                                          [0.0, 0.0, 0.3]]))
    # underfunded-00, year 6: a goal worth 51.8 for 27.7, next year one worth 99.6 for
    # 30.2; with cash for one of them, skipping reads as worth more than taking, and
    # with cash for both, taking does
    problem = family("underfunded").problem(0)
    network = UniversalGBWMPolicy(*network_spaces(), lambda _: 0.0, decision_reach=True)
    scored: dict[int, th.Tensor] = {}
    hook = network.decision_scorer[0].register_forward_hook(
        lambda module, args, out: scored.update({len(scored): args[0][:, -1].clone()}))
    obs = th.as_tensor(PretrainedPolicy(network, problem).observe(6, np.array([40.0, 74.0])))
    network.top_decisions(obs, 1)
    hook.remove()
    skip_poor, take_poor, skip_rich, take_rich = scored[0].tolist()
    assert skip_poor > take_poor + 0.1 and take_rich > skip_rich + 0.1


def test_the_margins_flag_is_checked() -> None:
    with pytest.raises(ValueError, match="decision_margins must be True or False, got 'yes'"):
        PretrainConfig(**{**TINY, "decision_margins": "yes"})
    from gbwm_sb3.pretrained.weights import network_spaces

    network = UniversalGBWMPolicy(*network_spaces(), lambda _: 0.0, decision_margins=True)
    assert network.decision_input_names[-3:] == ("utility_gain", "cost_increase",
                                                  "gain_per_cost")
    assert network.decision_scorer[0].in_features == 12
    assert network.portfolio_inputs == 10
