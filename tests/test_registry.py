"""Presets as data: one registry read by the model builders, the CLI and sweeps."""

from __future__ import annotations

import pytest

from gbwm_sb3.cli.main import build_parser
from gbwm_sb3.experiments.sweep import SweepConfig, make_jobs, preset_fingerprint
from gbwm_sb3.ppo import registry
from gbwm_sb3.ppo.presets import make_preset_model
from gbwm_sb3.ppo.registry import PRESETS, TUNED_HYPERPARAMS, Preset, get_preset, register_preset


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> Preset:
    monkeypatch.setattr(registry, "PRESETS", dict(PRESETS))
    return register_preset(Preset("wide", "tuned with wider networks",
                                  {**TUNED_HYPERPARAMS, "net_arch": [32, 32]}))


def test_builtin_presets() -> None:
    assert list(PRESETS)[:3] == ["paper", "paper-stock", "tuned"]
    assert get_preset("paper").overrides == {}
    assert get_preset("paper-stock").fast is False
    assert get_preset("tuned").settings()["n_minibatches"] == 20


def test_a_registered_preset_is_usable_everywhere(wide: Preset) -> None:
    model = make_preset_model("wide", seed=0, n_trajectories_per_rollout=8)
    assert model.policy.net_arch == dict(pi=[32, 32], vf=[32, 32])
    assert model.n_epochs == TUNED_HYPERPARAMS["n_epochs"]
    job = make_jobs([SweepConfig("w", preset="wide")], [2], [0], 100)[0]
    assert job.preset_fingerprint.startswith("wide:")
    assert preset_fingerprint("wide") != preset_fingerprint("tuned")
    args = build_parser().parse_args(["train", "paper:2", "--preset", "wide", "--out", "x"])
    assert args.preset == "wide"


def test_the_paper_preset_keeps_its_fingerprint() -> None:
    """Runs saved before presets became data still count for the paper preset."""
    assert preset_fingerprint("paper") == "paper:4b8646a211"


@pytest.mark.parametrize("preset, match", [
    (lambda: Preset("Bad Name", "x"), "preset name must be"),
    (lambda: Preset("x", "x", {"learning_rte": 0.1}), r"unknown key\(s\) \['learning_rte'\]"),
    (lambda: Preset("x", "x", ["batch_size"]), "overrides of preset 'x' must be a mapping"),
])
def test_bad_presets_are_refused(preset, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        preset()


def test_names_are_not_overwritten_without_asking(wide: Preset) -> None:
    with pytest.raises(ValueError, match="a preset named 'wide' exists; pass replace=True"):
        register_preset(Preset("wide", "again"))
    register_preset(Preset("wide", "again"), replace=True)
    assert get_preset("wide").description == "again"
    with pytest.raises(ValueError, match="preset must be one of paper, paper-stock, tuned"):
        get_preset("nope")


def test_preset_values_are_validated_when_a_model_is_built(wide: Preset) -> None:
    register_preset(Preset("bad", "x", {"clip_range": -1.0}))
    with pytest.raises(ValueError, match="clip_range must be a number in"):
        make_preset_model("bad", seed=0, n_trajectories_per_rollout=8)


@pytest.mark.parametrize("steps, n, size", [
    (19_200, 20, 960),    # tuned on the paper problems: 1,200 x 16
    (36_000, 20, 1_800),  # tuned on a 30-year problem
    (256, 20, 16),        # 20 does not divide 256: 16 minibatches of 16 (nearest divisor)
    (7, 3, 7),            # a prime: one minibatch
])
def test_minibatch_size_splits_the_rollout_evenly(steps: int, n: int, size: int) -> None:
    from gbwm_sb3.ppo.hyperparams import minibatch_size

    assert minibatch_size(steps, n) == size
    assert steps % size == 0


def test_tuned_minibatches_divide_the_rollout_for_any_horizon() -> None:
    import warnings

    from gbwm_sb3 import GBWMProblem, Goal
    from gbwm_sb3.problem import paper_portfolios

    for horizon in (3, 7, 30):
        problem = GBWMProblem(horizon=horizon, initial_wealth=10.0,
                              portfolios=paper_portfolios(),
                              goals=[Goal(time=horizon, cost=12.0, utility=1.0)])
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # SB3 warns about a truncated minibatch
            model = make_preset_model("tuned", problem=problem, seed=0)
        assert model.batch_size == 60 * horizon


def test_batch_size_and_n_minibatches_exclude_each_other() -> None:
    model = make_preset_model("tuned", seed=0, n_trajectories_per_rollout=8, batch_size=32)
    assert model.batch_size == 32  # an explicit minibatch replaces the preset's split
    model = make_preset_model("paper", seed=0, n_trajectories_per_rollout=8, n_minibatches=4)
    assert model.batch_size == 32
    with pytest.raises(ValueError, match="batch_size or n_minibatches, not both"):
        Preset("x", "x", {"batch_size": 64, "n_minibatches": 2})
    from gbwm_sb3.ppo import paper_ppo

    with pytest.raises(ValueError, match="batch_size or n_minibatches, not both"):
        paper_ppo(n_trajectories_per_rollout=8, batch_size=32, n_minibatches=4)
    with pytest.raises(ValueError, match="n_minibatches must be an integer >= 1"):
        paper_ppo(n_trajectories_per_rollout=8, n_minibatches=0)
