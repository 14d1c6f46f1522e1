"""Model directories: round trips, and the safe loader never running code from the files."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO

from gbwm_sb3 import paper_problem
from gbwm_sb3.envs.dynamics import problem_table
from gbwm_sb3.envs.observation import encode_observation
from gbwm_sb3.envs.vec_env import GBWMVecEnv
from gbwm_sb3.model_io import (
    MANIFEST_FILE,
    PROBLEM_FILE,
    SB3_ZIP_FILE,
    WEIGHTS_FILE,
    UnsafeModelFileError,
    load_model_safely,
    read_manifest,
    save_model,
)
from gbwm_sb3.policies import MaskableGBWMPolicy
from gbwm_sb3.ppo.presets import paper_ppo
from gbwm_sb3.problem.files import ProblemFileError

PROBLEM = paper_problem(2)


class _Payload:
    """Unpickling this writes ``marker``: stands in for any code an attacker might run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: D105
        code = f"import pathlib; pathlib.Path({str(self.marker)!r}).write_text('pwned')"
        return (exec, (code,))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[PPO, Path]:
    model = paper_ppo(problem=PROBLEM, fast=False, seed=3, n_trajectories_per_rollout=64,
                      batch_size=64)
    model.learn(64 * PROBLEM.horizon * 2)
    directory = tmp_path_factory.mktemp("models") / "paper2"
    save_model(model, directory, PROBLEM, "paper", {"efficiency": np.float64(0.5), "runs": 1})
    return model, directory


def observations(n: int = 500) -> np.ndarray:
    """The env's observations at random years and wealth levels around W0."""
    rng = np.random.default_rng(1)
    table = problem_table(PROBLEM)
    years = rng.integers(0, PROBLEM.horizon, n)
    wealth = PROBLEM.initial_wealth * np.exp(rng.normal(0, 0.7, n))
    return np.concatenate([encode_observation(table, t, wealth[years == t])
                           for t in range(PROBLEM.horizon)])


def assert_same_predictions(a: PPO, b: PPO) -> None:
    obs = observations()
    actions_a, _ = a.predict(obs, deterministic=True)
    actions_b, _ = b.predict(obs, deterministic=True)
    np.testing.assert_array_equal(actions_a, actions_b)
    with torch.no_grad():
        values_a = a.policy.predict_values(torch.as_tensor(obs))
        values_b = b.policy.predict_values(torch.as_tensor(obs))
    torch.testing.assert_close(values_a, values_b, rtol=0, atol=0)


def copy_dir(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for item in src.iterdir():
        (dst / item.name).write_bytes(item.read_bytes())
    return dst


def rehash(directory: Path, name: str) -> None:
    """Update the manifest's hash of ``name``, as someone crafting a whole directory would."""
    manifest = json.loads((directory / MANIFEST_FILE).read_text())
    digest = hashlib.sha256((directory / name).read_bytes()).hexdigest()
    manifest["files"][name]["sha256"] = digest
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest))


def test_round_trip_gives_identical_predictions(trained: tuple[PPO, Path]) -> None:
    model, directory = trained
    loaded, problem = load_model_safely(directory)
    assert problem == PROBLEM
    assert type(loaded) is type(model)
    assert loaded.num_timesteps == model.num_timesteps
    assert_same_predictions(model, loaded)
    manifest = read_manifest(directory)
    assert manifest["preset"] == "paper"
    assert manifest["metrics"] == {"efficiency": 0.5, "runs": 1}
    assert manifest["hyperparameters"]["n_envs"] == 64
    assert manifest["versions"]["torch"] == torch.__version__
    # The untrained network differs, so equal predictions come from the stored weights.
    fresh = paper_ppo(problem=PROBLEM, fast=False, seed=3, n_trajectories_per_rollout=64,
                      batch_size=64)
    with pytest.raises(AssertionError):
        assert_same_predictions(model, fresh)


def test_fast_ppo_round_trip(tmp_path: Path) -> None:
    model = paper_ppo(problem=PROBLEM, fast=True, seed=4, n_trajectories_per_rollout=64,
                      batch_size=64, learning_rate=0.02)
    model.learn(64 * PROBLEM.horizon * 2)
    save_model(model, tmp_path / "fast", PROBLEM, "paper")
    loaded, _ = load_model_safely(tmp_path / "fast")
    assert type(loaded) is type(model) and type(model).__name__ == "FastPPO"
    assert read_manifest(tmp_path / "fast")["hyperparameters"]["learning_rate_initial"] == 0.02
    assert_same_predictions(model, loaded)


def test_portfolio_head_options_round_trip(tmp_path: Path) -> None:
    model = paper_ppo(problem=PROBLEM, seed=5, n_trajectories_per_rollout=64, batch_size=64,
                      portfolio_given_goal=True, portfolio_degree=2)
    model.learn(64 * PROBLEM.horizon * 2)
    save_model(model, tmp_path / "cond", PROBLEM, "tuned")
    kwargs = read_manifest(tmp_path / "cond")["policy_kwargs"]
    assert kwargs["portfolio_given_goal"] is True and kwargs["portfolio_degree"] == 2
    loaded, _ = load_model_safely(tmp_path / "cond")
    assert loaded.policy.portfolio_given_goal is True and loaded.policy.portfolio_degree == 2
    assert_same_predictions(model, loaded)
    manifest = json.loads((tmp_path / "cond" / MANIFEST_FILE).read_text())
    manifest["policy_kwargs"]["portfolio_given_goal"] = "yes"
    (tmp_path / "cond" / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(UnsafeModelFileError, match="portfolio_given_goal must be true or false"):
        load_model_safely(tmp_path / "cond")


def test_loaded_model_keeps_training(trained: tuple[PPO, Path]) -> None:
    loaded, _ = load_model_safely(trained[1])
    before = loaded.num_timesteps
    loaded.learn(64 * PROBLEM.horizon, reset_num_timesteps=False)
    assert loaded.num_timesteps > before


def test_maskable_ppo_round_trip(tmp_path: Path) -> None:
    model = MaskablePPO(MaskableGBWMPolicy, GBWMVecEnv(32, problem=PROBLEM, seed=0),
                        n_steps=PROBLEM.horizon, batch_size=64, learning_rate=3e-3, seed=0,
                        policy_kwargs=dict(net_arch=dict(pi=[16], vf=[8])))
    model.learn(32 * PROBLEM.horizon * 2)
    save_model(model, tmp_path / "m", PROBLEM)
    loaded, _ = load_model_safely(tmp_path / "m")
    assert type(loaded) is MaskablePPO and loaded.policy.goal_head.in_features == 16
    assert_same_predictions(model, loaded)


def test_refuses_to_overwrite(trained: tuple[PPO, Path], tmp_path: Path) -> None:
    model, _ = trained
    target = tmp_path / "out"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_model(model, target, PROBLEM, "paper")
    save_model(model, target, PROBLEM, "paper", overwrite=True)
    assert (target / "notes.txt").read_text() == "mine"
    assert load_model_safely(target)[1] == PROBLEM


def test_save_rejects_mismatched_problem(trained: tuple[PPO, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not fit problem"):
        save_model(trained[0], tmp_path / "x", paper_problem(4))
    with pytest.raises(ValueError, match="metrics.bad must be JSON data"):
        save_model(trained[0], tmp_path / "y", PROBLEM, metrics={"bad": object()})


def test_malicious_pickle_in_sb3_zip_is_not_executed(trained: tuple[PPO, Path],
                                                     tmp_path: Path) -> None:
    model, source = trained
    directory = copy_dir(source, tmp_path / "evil")
    marker = tmp_path / "marker.txt"
    zip_path = directory / SB3_ZIP_FILE
    with zipfile.ZipFile(zip_path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    data = json.loads(entries["data"])
    import pickle

    data["policy_class"][":serialized:"] = base64.b64encode(
        pickle.dumps(_Payload(marker))).decode()
    entries["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(zip_path, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    # The payload is real: SB3's own loader runs it ...
    try:
        PPO.load(zip_path)
    except Exception:  # noqa: BLE001 - the class it expected is gone; the damage is done
        pass
    assert marker.read_text() == "pwned"
    marker.unlink()
    # ... while the safe loader never opens the zip.
    loaded, _ = load_model_safely(directory)
    assert not marker.exists()
    assert_same_predictions(model, loaded)


def test_malicious_weights_file_is_refused(trained: tuple[PPO, Path], tmp_path: Path) -> None:
    directory = copy_dir(trained[1], tmp_path / "evil")
    marker = tmp_path / "marker.txt"
    torch.save({"mlp_extractor.policy_net.0.weight": _Payload(marker)}, directory / WEIGHTS_FILE)
    rehash(directory, WEIGHTS_FILE)
    with pytest.raises(UnsafeModelFileError, match="weights_only"):
        load_model_safely(directory)
    assert not marker.exists()
    torch.load(directory / WEIGHTS_FILE, weights_only=False)  # the payload is real
    assert marker.exists()


def test_manifest_cannot_name_arbitrary_classes(trained: tuple[PPO, Path],
                                                tmp_path: Path) -> None:
    cases = {
        "algorithm": ("os.system", "algorithm must be one of"),
        "policy_class": ("MaskableGBWMPolicy", "policy_class must be 'GBWMPolicy'"),
        "format_version": (2, "format_version must be 1"),
        "format": ("other", "format must be"),
    }
    for i, (key, (value, message)) in enumerate(cases.items()):
        directory = copy_dir(trained[1], tmp_path / f"m{i}")
        manifest = json.loads((directory / MANIFEST_FILE).read_text())
        manifest[key] = value
        (directory / MANIFEST_FILE).write_text(json.dumps(manifest))
        with pytest.raises(UnsafeModelFileError, match=message):
            load_model_safely(directory)
    directory = copy_dir(trained[1], tmp_path / "act")
    manifest = json.loads((directory / MANIFEST_FILE).read_text())
    manifest["policy_kwargs"]["activation_fn"] = "builtins.eval"
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(UnsafeModelFileError, match="activation_fn must be one of"):
        load_model_safely(directory)


def test_damaged_directories(trained: tuple[PPO, Path], tmp_path: Path) -> None:
    with pytest.raises(UnsafeModelFileError, match="no such directory"):
        load_model_safely(tmp_path / "nothing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UnsafeModelFileError, match="manifest.json: missing"):
        load_model_safely(empty)
    edited = copy_dir(trained[1], tmp_path / "edited")
    (edited / PROBLEM_FILE).write_text((edited / PROBLEM_FILE).read_text() + "\n# edit\n")
    with pytest.raises(UnsafeModelFileError, match="SHA-256 differs"):
        load_model_safely(edited)
    bad_problem = copy_dir(trained[1], tmp_path / "bad_problem")
    text = (bad_problem / PROBLEM_FILE).read_text()
    (bad_problem / PROBLEM_FILE).write_text(text.replace("horizon: 16", "horizon: -1"))
    rehash(bad_problem, PROBLEM_FILE)
    with pytest.raises(ProblemFileError, match="problem.yaml: horizon"):
        load_model_safely(bad_problem)
    shrunk = copy_dir(trained[1], tmp_path / "shrunk")
    state = torch.load(shrunk / WEIGHTS_FILE, weights_only=True)
    state["goal_head.weight"] = state["goal_head.weight"][:, :3]
    torch.save(state, shrunk / WEIGHTS_FILE)
    rehash(shrunk, WEIGHTS_FILE)
    with pytest.raises(UnsafeModelFileError, match="goal_head.weight"):
        load_model_safely(shrunk)


def test_interrupted_overwrite_keeps_the_earlier_model(trained: tuple[PPO, Path],
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A save that stops half-way (Ctrl-C, a full disk) leaves the saved model loadable."""
    model, _ = trained
    directory = save_model(model, tmp_path / "keep", PROBLEM, "paper")
    before = {p.name: p.read_bytes() for p in directory.iterdir()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(model, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_model(model, directory, PROBLEM, "paper", overwrite=True)
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".keep.saving-")]
    load_model_safely(directory)
