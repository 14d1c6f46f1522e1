"""The gap-driven curriculum of PPO pretraining: bands, measured gaps, the stage's draw."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gbwm_sb3.pretrained.curriculum import (
    CURRICULUM_BANDS,
    CurriculumBand,
    band_draw,
    band_weights,
    curriculum_sampler,
    measure_band_gaps,
)
from gbwm_sb3.pretrained.loading import DEFAULT_WEIGHTS
from gbwm_sb3.pretrained.training import PretrainConfig, pretrain
from gbwm_sb3.pretrained.weights import load_network
from gbwm_sb3.problem.files import problem_to_dict
from gbwm_sb3.problem.sampler import ProblemEnvelope, funding_ratio, sample_problem

SMALL = ProblemEnvelope(horizon=(2, 8), num_goals=(1, 9))
TINY = dict(total_timesteps=512, stage_timesteps=256, n_envs=64, n_steps=4, batch_size=128,
            n_epochs=2, pool_size=16, validation_problems=2, validation_paths=200,
            embedding=(16,), head=8, value=(16,))


def small_draw(rng: np.random.Generator):
    return sample_problem(rng, SMALL)


def test_the_bands_split_every_problem_once() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        problem = sample_problem(rng)
        assert sum(band.contains(problem) for band in CURRICULUM_BANDS) == 1
    assert [band.name for band in CURRICULUM_BANDS[:4]] == [
        "goals 1, funding <0.5", "goals 1, funding 0.5-1", "goals 1, funding >=1",
        "goals 2-3, funding <0.5"]
    assert CURRICULUM_BANDS[-1].name == "goals 8+, funding >=1"


def test_band_draws_stay_in_their_band_or_give_up() -> None:
    rng = np.random.default_rng(1)
    band = CurriculumBand((2, 3), (0.5, 1.0))
    for _ in range(5):
        problem = band_draw(small_draw, band, rng)
        assert problem is not None and 2 <= len(problem.goals) <= 3
        assert 0.5 <= funding_ratio(problem) < 1.0
    assert band_draw(small_draw, CurriculumBand((30, 40), (0.0, math.inf)), rng) is None


def test_band_weights_follow_the_gaps() -> None:
    assert band_weights([0.03, 0.01, None, 0.0]) == pytest.approx([0.75, 0.25, 0.0, 0.0])
    assert band_weights([0.0, None, 0.0]) == pytest.approx([0.5, 0.0, 0.5])
    assert band_weights([-0.01, 0.02]) == pytest.approx([0.0, 1.0])  # a noisy gain is no gap


def test_the_curriculum_draw_mixes_bands_with_the_base_draw() -> None:
    bands = (CurriculumBand((1, 1), (0.0, 0.5)), CurriculumBand((4, 9), (1.0, math.inf)))
    every = curriculum_sampler(small_draw, bands, [0.0, 1.0], share=1.0)
    rng = np.random.default_rng(2)
    assert all(bands[1].contains(every(rng)) for _ in range(20))
    none = curriculum_sampler(small_draw, bands, [0.0, 1.0], share=0.0)
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    assert [problem_to_dict(none(a)) for _ in range(5)] == \
        [problem_to_dict(small_draw(b)) for _ in range(5)]
    half = curriculum_sampler(small_draw, bands, [0.0, 1.0], share=0.5)
    rng = np.random.default_rng(4)
    inside = np.mean([bands[1].contains(half(rng)) for _ in range(300)])
    natural = np.mean([bands[1].contains(small_draw(rng)) for _ in range(300)])
    assert inside > natural + 0.3
    with pytest.raises(ValueError, match=r"share must be a number in \[0, 1\], got 1.5"):
        curriculum_sampler(small_draw, bands, [0.0, 1.0], share=1.5)


def test_gaps_are_seeded_and_name_unreachable_bands() -> None:
    network = load_network(DEFAULT_WEIGHTS)
    bands = (CurriculumBand((1, 1), (0.5, 1.0)), CurriculumBand((2, 3), (0.0, 0.5)),
             CurriculumBand((30, 40), (0.0, math.inf)))
    first = measure_band_gaps(network, small_draw, bands, per_band=2, seed=5)
    assert first == measure_band_gaps(network, small_draw, bands, per_band=2, seed=5)
    assert first[2] is None
    assert all(g is not None and 0.0 <= g < 1.0 for g in first[:2])
    assert first != measure_band_gaps(network, small_draw, bands, per_band=2, seed=6)


def test_a_curriculum_run_records_its_bands_and_resumes_to_the_same_weights(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"curriculum_share must be a number in \[0.0, 1.0\]"):
        PretrainConfig(**{**TINY, "curriculum_share": 1.5})
    with pytest.raises(ValueError, match=r"curriculum_problems must be an integer in 1\.\.1000"):
        PretrainConfig(**{**TINY, "curriculum_problems": 0})
    config = PretrainConfig(**{**TINY, "curriculum_share": 0.5, "curriculum_problems": 1})
    pretrain(config, tmp_path / "a", threads=1, log=None)
    pretrain(config, tmp_path / "b", threads=1, log=None, max_stages=1)
    pretrain(config, tmp_path / "b", threads=1, log=None)
    with np.load(tmp_path / "a" / "final" / "weights.npz") as a, \
            np.load(tmp_path / "b" / "final" / "weights.npz") as b:
        assert all(np.array_equal(a[name], b[name]) for name in a.files)
    state = json.loads((tmp_path / "a" / "state.json").read_text())
    for entry in state["history"]:
        curriculum = entry["curriculum"]
        assert curriculum["bands"] == [band.name for band in CURRICULUM_BANDS]
        assert len(curriculum["gaps"]) == len(CURRICULUM_BANDS)
        assert sum(curriculum["weights"]) == pytest.approx(1.0, abs=1e-4)
    plain = pretrain(PretrainConfig(**TINY), tmp_path / "p", threads=1, log=None)
    assert all("curriculum" not in entry for entry in plain["history"])
    with np.load(tmp_path / "a" / "final" / "weights.npz") as a, \
            np.load(tmp_path / "p" / "final" / "weights.npz") as p:
        assert not all(np.array_equal(a[name], p[name]) for name in a.files)
