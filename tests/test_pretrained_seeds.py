"""Several pretraining seeds side by side (local pool, Ray) and the pick of the best."""

from __future__ import annotations

import importlib.util
import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from gbwm_sb3.pretrained.seeds import SeedRun, best_seed, pretrain_seeds, seed_directory
from gbwm_sb3.pretrained.training import PretrainConfig, pretrain
from gbwm_sb3.pretrained.weights import load_network

TINY = PretrainConfig(total_timesteps=512, stage_timesteps=256, n_envs=64, n_steps=4,
                      batch_size=128, n_epochs=2, pool_size=16, validation_problems=2,
                      validation_paths=200, embedding=(16,), head=8, value=(16,))


def _arrays(directory: Path) -> dict[str, np.ndarray]:
    with np.load(directory / "weights.npz", allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def _same_arrays(a: Path, b: Path) -> bool:
    left, right = _arrays(a), _arrays(b)
    return left.keys() == right.keys() and all(np.array_equal(left[k], right[k]) for k in left)


@pytest.fixture(scope="module")
def alone(tmp_path_factory) -> dict[int, Path]:
    """Seeds 3 and 4 of TINY, each run alone in this process."""
    out = tmp_path_factory.mktemp("alone")
    runs = {}
    for seed in (3, 4):
        runs[seed] = out / str(seed)
        pretrain(replace(TINY, seed=seed), runs[seed], progress=False, log=None)
    return runs


def test_seeds_side_by_side_give_each_seed_its_own_weights(alone, tmp_path, capfd) -> None:
    runs = pretrain_seeds(TINY, tmp_path, [4, 3], workers=2)
    assert [run.seed for run in runs] == [4, 3]  # the order asked for
    for run in runs:
        assert Path(run.directory) == seed_directory(tmp_path, run.seed)
        assert run.stages == 2 and run.num_timesteps == 512 and run.best_stage in (1, 2)
        state = json.loads((Path(run.directory) / "state.json").read_text())
        assert state["best"]["validation_mean"] == run.validation_mean
        assert _same_arrays(Path(run.directory) / "final", alone[run.seed] / "final")
    assert not _same_arrays(Path(runs[0].directory) / "final", Path(runs[1].directory) / "final")
    printed = capfd.readouterr().out  # the workers' lines too
    assert "[seed 3] stage 2/2" in printed and "seed 4: 2 stages, 512 steps" in printed


def test_seeds_resume_where_they_stopped(tmp_path) -> None:
    first = pretrain_seeds(TINY, tmp_path, [3], workers=0, until_stage=1, log=None)
    assert first[0].stages == 1
    again = pretrain_seeds(TINY, tmp_path, [3], workers=0, until_stage=1, log=None)
    assert again == first  # nothing more to train
    done = pretrain_seeds(TINY, tmp_path, [3], workers=0, log=None)
    assert done[0].stages == 2


def test_a_failed_seed_is_named_and_the_others_kept(tmp_path) -> None:
    pretrain(replace(TINY, seed=5, n_epochs=1), seed_directory(tmp_path, 5), progress=False,
             log=None, until_stage=1)  # another run's settings in seed 5's directory
    with pytest.raises(RuntimeError, match=r"seed 5 in .*seed-5: ValueError: .*different "
                                           r"settings"):
        pretrain_seeds(TINY, tmp_path, [3, 5], workers=0, log=None)
    assert json.loads((seed_directory(tmp_path, 3) / "state.json").read_text())["stage"] == 2


@pytest.mark.parametrize("seeds, message", [
    ([], "seeds must be a non-empty list"),
    ([1, -1], "seeds must be integers >= 0, got -1"),
    ([1, True], "seeds must be integers >= 0, got True"),
    ([2, 2], r"seeds must be distinct, got \[2, 2\]"),
    (3, "seeds must be a non-empty list"),
])
def test_bad_seeds_are_refused(tmp_path, seeds, message) -> None:
    with pytest.raises(ValueError, match=message):
        pretrain_seeds(TINY, tmp_path, seeds)
    assert not any(tmp_path.iterdir())


def test_bad_engine_and_config_are_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="engine must be one of local, ray, got 'dask'"):
        pretrain_seeds(TINY, tmp_path, [1], engine="dask")
    with pytest.raises(ValueError, match="config must be a PretrainConfig"):
        pretrain_seeds({"seed": 1}, tmp_path, [1])  # type: ignore[arg-type]


def _run(seed: int, mean: float | None) -> SeedRun:
    return SeedRun(seed=seed, directory=f"d{seed}", stages=1, num_timesteps=1, wall_time_s=1.0,
                   best_stage=None if mean is None else 1, validation_mean=mean)


def test_best_seed_is_the_best_validation_and_the_lowest_seed_among_equals() -> None:
    assert best_seed([_run(1, 0.98), _run(2, 0.99), _run(3, None)]).seed == 2
    assert best_seed([_run(4, 0.99), _run(2, 0.99)]).seed == 2
    with pytest.raises(ValueError, match="no run has a validation score"):
        best_seed([_run(1, None)])


def _pretrain_script():
    path = Path(__file__).resolve().parents[1] / "examples" / "pretrain.py"
    spec = importlib.util.spec_from_file_location("pretrain_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_SCRIPT_ARGS = ["--total-timesteps", "512", "--stage-timesteps", "256", "--n-envs", "16",
                "--n-steps", "16", "--batch-size", "128", "--n-epochs", "1", "--pool-size", "16",
                "--validation-problems", "2", "--validation-paths", "200"]


def test_script_exports_the_best_seed(tmp_path, capsys) -> None:
    script = _pretrain_script()
    export = tmp_path / "weights"
    argv = ["--out", str(tmp_path / "runs"), "--seeds", "1", "2", "--workers", "0",
            *_SCRIPT_ARGS, "--export", str(export)]
    assert script.main(argv) == 0
    printed = capsys.readouterr().out
    states = {seed: json.loads((seed_directory(tmp_path / "runs", seed) / "state.json")
                               .read_text()) for seed in (1, 2)}
    best = max((1, 2), key=lambda s: (states[s]["best"]["validation_mean"], -s))
    assert f"best seed: seed-{best}" in printed
    assert _same_arrays(export, seed_directory(tmp_path / "runs", best) / "best")
    metadata = json.loads((export / "manifest.json").read_text())["metadata"]
    assert metadata["config"]["seed"] == best and "--seeds 1 2" in metadata["command"]
    assert "--export" not in metadata["command"]
    with pytest.raises(SystemExit):  # nothing saved is replaced without asking,
        script.main([*argv[:2], "--seeds", "7", *argv[5:]])
    assert "already holds weights" in capsys.readouterr().err
    assert not seed_directory(tmp_path / "runs", 7).exists()  # and refused before training


def test_script_passes_the_mixture_and_the_start(tmp_path, capsys) -> None:
    script = _pretrain_script()
    args = [*_SCRIPT_ARGS, "--total-timesteps", "256"]
    assert script.main(["--out", str(tmp_path / "run"), *args, "--mixture", "blend",
                        "--start", "shipped", "--entry-reach",  # the shipped weights read it
                        "--validation-mixture", "1"]) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["mixture"], config["start"], config["validation_mixture"]) == \
        ("blend", "shipped", 1)
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert len(state["start_validation"]["validation"]) == 3
    assert "start (shipped weights): validation efficiency mean" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        script.main(["--out", str(tmp_path / "other"), *args, "--validation-mixture", "2"])
    assert "validation_mixture must be 0 with mixture 'sampler'" in capsys.readouterr().err


def test_script_sets_the_actor_width(tmp_path, capsys) -> None:
    script = _pretrain_script()
    args = [*_SCRIPT_ARGS, "--total-timesteps", "256"]
    assert script.main(["--out", str(tmp_path / "run"), *args, "--width", "32"]) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["embedding"], config["head"], config["value"]) == ([32, 32], 32, [128, 128])
    network = load_network(tmp_path / "run" / "final")
    assert (list(network.embedding), network.head) == ([32, 32], 32)
    capsys.readouterr()
    with pytest.raises(SystemExit):  # another width than the start's, named in the error
        script.main(["--out", str(tmp_path / "other"), *args, "--width", "32",
                     "--start", "shipped", "--entry-reach"])
    assert "must have the source network's shape" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()  # refused before anything was written
    with pytest.raises(SystemExit):
        script.main(["--out", str(tmp_path / "bad"), *args, "--width", "0"])
    assert "--width: must be an integer" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--engine", "ray"], "--engine is only used with --seeds"),
    (["--workers", "2"], "--workers is only used with --seeds"),
    (["--seeds", "1", "--threads", "2"], "--seeds runs each seed with one thread"),
    (["--seeds", "1", "1"], "seeds must be distinct"),
    (["--seeds", "1", "--seed", "2"], "--seed and --seeds exclude each other"),
])
def test_script_refuses_inconsistent_seed_options(tmp_path, capsys, extra, message) -> None:
    with pytest.raises(SystemExit):
        _pretrain_script().main(["--out", str(tmp_path / "runs"), *_SCRIPT_ARGS, *extra])
    assert message in capsys.readouterr().err


def test_seeds_on_a_ray_cluster_give_the_same_weights(alone, tmp_path, monkeypatch) -> None:
    """No address: a local Ray cluster started for the call and stopped after it."""
    ray = pytest.importorskip("ray", reason='Ray is an extra: pip install "gbwm-sb3[ray]"')
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")  # never a cluster found on the machine
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    temp = tempfile.mkdtemp(prefix="gbwm-ray-", dir="/tmp")  # Ray's session files
    monkeypatch.setenv("RAY_TMPDIR", temp)
    try:
        runs = pretrain_seeds(TINY, tmp_path, [3, 4], engine="ray", workers=2, log=None)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    assert not ray.is_initialized()
    for run in runs:
        assert _same_arrays(Path(run.directory) / "final", alone[run.seed] / "final")
