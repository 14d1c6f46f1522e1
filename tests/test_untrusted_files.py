"""Files from anyone: problem files, model directories and pretrained weights are read in
bounded time and memory, and every refusal is the documented error naming the file.

One regression test per refusal, then property-based tests (Hypothesis) feeding random
and hostile inputs to the loaders: they must load or raise the documented error, never
anything else. The ``slow`` variants run the same properties on many more examples.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gbwm_sb3 import paper_problem
from gbwm_sb3.cli.main import main as gbwm
from gbwm_sb3.common import untrusted
from gbwm_sb3.model_io import (
    MANIFEST_FILE,
    MAX_HIDDEN_WEIGHTS,
    MAX_LAYER_WIDTH,
    MAX_LAYERS,
    MAX_MANIFEST_BYTES,
    MAX_N_EPOCHS,
    OPTIMIZER_FILE,
    PROBLEM_FILE,
    WEIGHTS_FILE,
    UnsafeModelFileError,
    load_model_safely,
    read_manifest,
    save_model,
)
from gbwm_sb3.ppo.presets import paper_ppo
from gbwm_sb3.pretrained.loading import pretrained_policy
from gbwm_sb3.pretrained.policy import UniversalGBWMPolicy
from gbwm_sb3.pretrained.weights import (
    MAX_NETWORK_LAYERS,
    MAX_NETWORK_WIDTH,
    WeightsFileError,
    load_network,
    network_spaces,
    read_weights_manifest,
    save_weights,
)
from gbwm_sb3.problem.files import (
    MAX_FRONTIER_PORTFOLIOS,
    MAX_LIST_LENGTH,
    MAX_NUMBER_CHARS,
    MAX_PROBLEM_DEPTH,
    MAX_PROBLEM_FILE_BYTES,
    MAX_PROBLEM_VALUES,
    ProblemFileError,
    load_problem,
    problem_from_dict,
    read_problem_file,
)
from gbwm_sb3.problem.model import GBWMProblem

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "problems"
GOOD = """\
name: Client
horizon: 10
initial_wealth: 100.0
goals:
  - {time: 4, cost: 40, utility: 10, name: car}
  - {time: 10, cost: 80, utility: 30}
portfolios:
  means: [0.03, 0.05, 0.07]
  volatilities: [0.04, 0.08, 0.14]
"""


def write(directory: Path, text: str | bytes, name: str = "p.yaml") -> Path:
    path = directory / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def alias_bomb(levels: int = 9) -> str:
    """A "billion laughs" in the name field: ``levels`` anchors, each 9 aliases of the last
    (9**levels strings once expanded, from about 40 bytes a level)."""
    lines = ["name:", "  - &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"  - &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n" + GOOD.split("\n", 1)[1]


def rehash(directory: Path, name: str) -> None:
    """Update a model manifest's hash of ``name``, as whoever crafts a directory would."""
    manifest = json.loads((directory / MANIFEST_FILE).read_text())
    digest = hashlib.sha256((directory / name).read_bytes()).hexdigest()
    manifest["files"][name]["sha256"] = digest
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest))


def edit_manifest(directory: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    manifest = json.loads((directory / MANIFEST_FILE).read_text())
    edit(manifest)
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest))


def rehash_weights(directory: Path) -> None:
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["sha256"] = hashlib.sha256((directory / "weights.npz").read_bytes()).hexdigest()
    (directory / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny untrained model directory (paper problem with one goal)."""
    problem = paper_problem(1)
    model = paper_ppo(problem=problem, fast=False, seed=0, n_trajectories_per_rollout=4,
                      batch_size=4)
    directory = tmp_path_factory.mktemp("untrusted") / "model"
    save_model(model, directory, problem, "paper")
    load_model_safely(directory)  # pays the one-off import costs here
    return directory


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny universal network's weights directory."""
    observation_space, action_space = network_spaces()
    policy = UniversalGBWMPolicy(observation_space, action_space, lambda _: 0.0,
                                 embedding=[4], head=4, value=[4])
    directory = save_weights(policy, tmp_path_factory.mktemp("untrusted") / "weights")
    load_network(directory)
    return directory


@pytest.fixture
def model_copy(model_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(model_dir, tmp_path / "model"))


@pytest.fixture
def weights_copy(weights_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(weights_dir, tmp_path / "weights"))


# ============================================================================ problem files
def test_yaml_alias_bomb_is_refused_as_it_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, alias_bomb())
    assert path.stat().st_size < 1000
    with pytest.raises(ProblemFileError) as info:
        load_problem(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert f"more than {MAX_PROBLEM_VALUES:,} values" in message
    assert "line 7, column" in message  # the first alias that goes over the bound
    assert len(message) < 300


def test_alias_bomb_in_a_model_directory_is_refused(model_copy: Path) -> None:
    (model_copy / PROBLEM_FILE).write_text(alias_bomb())
    rehash(model_copy, PROBLEM_FILE)
    with pytest.raises(ProblemFileError, match=f"{PROBLEM_FILE}: not valid YAML at line 7"):
        load_model_safely(model_copy)


def test_ordinary_aliases_still_load(tmp_path: Path) -> None:
    text = GOOD.replace("  - {time: 10, cost: 80, utility: 30}",
                        "  - &late {time: 10, cost: 80, utility: 30}\n  - *late")
    text = text.replace("means: [0.03", "means: &m [0.03")
    problem = load_problem(write(tmp_path, text))
    assert len(problem.goals) == 3
    merged = "defaults: &d {cost: 40, utility: 10}\n"
    with pytest.raises(ProblemFileError, match="defaults: unknown field"):
        load_problem(write(tmp_path, merged + GOOD, "q.yaml"))


def test_recursive_alias_is_refused_with_its_place(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("goals:\n", "extra: &g [*g]\ngoals:\n"))
    with pytest.raises(ProblemFileError, match=r"line 4, column 12: alias \*g is inside"):
        load_problem(path)


def test_problem_file_size_is_capped_before_parsing(tmp_path: Path) -> None:
    path = write(tmp_path, "#" * MAX_PROBLEM_FILE_BYTES + "\n" + GOOD)
    size = path.stat().st_size
    with pytest.raises(ProblemFileError) as info:
        load_problem(path)
    assert str(info.value) == (f"{path}: {size:,} bytes, more than the "
                               f"{MAX_PROBLEM_FILE_BYTES:,} bytes allowed for a problem file")
    load_problem(write(tmp_path, "#" * (MAX_PROBLEM_FILE_BYTES - len(GOOD) - 2) + "\n" + GOOD,
                       "q.yaml"))


def test_errors_show_a_bounded_prefix_of_huge_values() -> None:
    bomb: Any = ["lol"] * 9
    for _ in range(15):  # 9**16 strings: its repr would never finish
        bomb = [bomb] * 9
    loop: list[Any] = []
    loop.append(loop)
    for value in (bomb, loop, "x" * 10**6, 10**4000, {1, 2, 3}, [{"k" * 10**6: 1}]):
        with pytest.raises(ProblemFileError) as info:
            problem_from_dict({"paper": value}, "data")
        message = str(info.value)
        assert message.startswith("data: paper: number of goals must be one of 1, 2, 4, 8, 16; "
                                  f"got {type(value).__name__} "), message
        assert len(message) < 160, message
    with pytest.raises(ProblemFileError, match=r"got list \[+'lol', 'lol'.*\.\.\.$"):
        problem_from_dict({"name": bomb}, "data")
    with pytest.raises(ProblemFileError, match=r"data: 'kkkk[k.]*: unknown field"):
        problem_from_dict({"k" * 10**6: 1}, "data")
    small = {"name": [1, (2,), {3: None}]}
    with pytest.raises(ProblemFileError, match=r"got list \[1, \(2,\), \{3: None\}\]$"):
        problem_from_dict(small, "data")


def test_deep_json_is_a_problem_file_error(tmp_path: Path) -> None:
    for depth in (100_000, MAX_PROBLEM_DEPTH + 1):
        path = write(tmp_path, "[" * depth + "]" * depth, "deep.json")
        with pytest.raises(ProblemFileError, match=f"nested more than {MAX_PROBLEM_DEPTH} deep"):
            load_problem(path)
    path = write(tmp_path, "[" * 100_000 + "]" * 100_000, "deep.yaml")
    with pytest.raises(ProblemFileError, match=f"deep.yaml: not valid YAML at line 1, column "
                                               f"{MAX_PROBLEM_DEPTH + 1}: lists and mappings"):
        load_problem(path)
    path = write(tmp_path, "[" * (MAX_PROBLEM_DEPTH - 1) + "]" * (MAX_PROBLEM_DEPTH - 1),
                 "ok.json")
    with pytest.raises(ProblemFileError, match="<top level>: must be a mapping"):
        load_problem(path)


def test_byte_order_mark_is_ignored_in_yaml_and_json(tmp_path: Path) -> None:
    for name in ("listed_portfolios.yaml", "listed_portfolios.json"):
        plain = (EXAMPLES / name).read_text(encoding="utf-8")
        path = write(tmp_path, b"\xef\xbb\xbf" + plain.encode("utf-8"), name)
        assert load_problem(path) == load_problem(EXAMPLES / name)


def test_unhashable_keys_are_located_errors(tmp_path: Path) -> None:
    for text, kind in (("? [a, b]\n: 1\n", "list"), ("? {a: 1}\n: 1\n", "dict"),
                       (GOOD + "savings:\n  - {? [1]: 2}\n", "list")):
        with pytest.raises(ProblemFileError,
                           match=rf"p.yaml: not valid YAML at line \d+, column \d+: a {kind} "
                                 "cannot be a key"):
            load_problem(write(tmp_path, text))


def test_values_python_cannot_build_are_located_errors(tmp_path: Path) -> None:
    cases = {
        "horizon: " + "1" * 5000: "a number of more than 100 characters",
        "horizon: 1" + ":1" * 50_000: "a number of more than 100 characters",
        "horizon: !!float " + "1" * 500: "a number of more than 100 characters",
        "name: 2001-13-45": "cannot read this value: month must be in 1..12",
        "horizon: !!int abc": "cannot read this value",
    }
    for text, message in cases.items():
        with pytest.raises(ProblemFileError, match=f"p.yaml: not valid YAML at line 1, column "
                                                   f"\\d+: {message}"):
            load_problem(write(tmp_path, text + "\n"))
    with pytest.raises(ProblemFileError, match=f"p.json: not valid JSON: a number of more than "
                                               f"{MAX_NUMBER_CHARS} characters"):
        load_problem(write(tmp_path, '{"horizon": ' + "1" * 5000 + "}", "p.json"))


def test_sizes_in_a_problem_file_are_bounded(tmp_path: Path) -> None:
    with pytest.raises(ProblemFileError, match=r"horizon: must be an integer >= 1 \(at most "
                                               r"100\); got 100000000$"):
        load_problem(write(tmp_path, GOOD.replace("horizon: 10", "horizon: 100000000")))
    goals = "goals: [" + ", ".join(["1"] * (MAX_LIST_LENGTH + 1)) + "]\n"
    text = GOOD.split("goals:")[0] + goals + "portfolios:" + GOOD.split("portfolios:")[1]
    with pytest.raises(ProblemFileError, match=f"goals: must list at most {MAX_LIST_LENGTH:,} "
                                               f"goals .*; got {MAX_LIST_LENGTH + 1:,}$"):
        load_problem(write(tmp_path, text))
    asset_classes = ("asset_classes: {means: [0.03, 0.07], covariance: [[0.01, 0], [0, 0.04]], "
                     "n_portfolios: 100000000}\n")
    text = GOOD.split("portfolios:")[0] + asset_classes
    with pytest.raises(ProblemFileError, match=r"asset_classes.n_portfolios: must be an integer "
                                               rf">= 1 \(at most {MAX_FRONTIER_PORTFOLIOS:,}\)"):
        load_problem(write(tmp_path, text))


# ============================================================================ model directories
MANIFEST_BOUNDS = {
    "n_envs": (lambda m: m["hyperparameters"].update(n_envs=10**9),
               r"hyperparameters.n_envs must be an integer in 1..1,000,000, got 1000000000"),
    "n_steps zero": (lambda m: m["hyperparameters"].update(n_steps=0),
                     r"hyperparameters.n_steps must be an integer in 1..10,000,000, got 0"),
    "rollout": (lambda m: m["hyperparameters"].update(n_envs=1_000_000, n_steps=16),
                r"n_envs \* hyperparameters.n_steps \(the rollout\) must be in 2..10,000,000"),
    "batch_size": (lambda m: m["hyperparameters"].update(batch_size=1),
                   r"hyperparameters.batch_size must be an integer in 2..10,000,000, got 1"),
    "n_epochs": (lambda m: m["hyperparameters"].update(n_epochs=10**7),
                 rf"hyperparameters.n_epochs must be an integer in 1..{MAX_N_EPOCHS:,}"),
    "net_arch width": (lambda m: m["policy_kwargs"].update(net_arch=[12000, 12000]),
                       rf"policy_kwargs.net_arch\[0\] must be an integer in "
                       rf"1..{MAX_LAYER_WIDTH:,}, got 12000"),
    "net_arch depth": (lambda m: m["policy_kwargs"].update(net_arch={"pi": [8] * 100}),
                       rf"policy_kwargs.net_arch.pi must be a list of at most {MAX_LAYERS} "
                       "layer sizes"),
    "net_arch weights": (lambda m: m["policy_kwargs"].update(net_arch=[4096, 4096]),
                         rf"describes 33,554,432 weights between hidden layers, more than the "
                         rf"{MAX_HIDDEN_WEIGHTS:,} allowed"),
    "net_arch keys": (lambda m: m["policy_kwargs"].update(net_arch={"qf": [8]}),
                      r"policy_kwargs.net_arch must be a list of layer sizes or a mapping"),
    "portfolio_degree": (lambda m: m["policy_kwargs"].update(portfolio_degree=10**6),
                         r"policy_kwargs.portfolio_degree \(or null\) must be an integer in "
                         r"1..64"),
    "seed": (lambda m: m.update(seed=2**40),
             r"seed must be an integer in 0..4,294,967,295, got 1099511627776"),
}


@pytest.mark.parametrize("case", list(MANIFEST_BOUNDS))
def test_manifest_sizes_are_checked_before_anything_is_built(
        case: str, model_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    edit, message = MANIFEST_BOUNDS[case]
    edit_manifest(model_copy, edit)

    def built(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was built before the manifest was checked")

    monkeypatch.setattr("gbwm_sb3.model_io._rebuild", built)
    for load in (read_manifest, load_model_safely):
        with pytest.raises(UnsafeModelFileError, match=message) as info:
            load(model_copy)
        assert str(info.value).startswith(f"{model_copy / MANIFEST_FILE}: ")


def test_manifest_that_sb3_would_reject_is_an_unsafe_model_file_error(model_copy: Path) -> None:
    edit_manifest(model_copy, lambda m: m["hyperparameters"].update(n_steps=15))
    with pytest.raises(UnsafeModelFileError, match=rf"{MANIFEST_FILE}: hyperparameters.n_steps "
                                                   r"\(15\) must be a multiple of the problem's "
                                                   r"horizon \(16\)"):
        load_model_safely(model_copy)
    edit_manifest(model_copy, lambda m: m["hyperparameters"].update(n_steps=16, n_envs=1,
                                                                    batch_size=2))
    edit_manifest(model_copy, lambda m: m["policy_kwargs"].update(portfolio_degree=40))
    with pytest.raises(UnsafeModelFileError, match=f"{MANIFEST_FILE}: does not describe a model "
                                                   f"that can be built .*portfolio_degree"):
        load_model_safely(model_copy)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_policy_with_nan_or_inf_is_refused(value: float, model_copy: Path) -> None:
    state = torch.load(model_copy / WEIGHTS_FILE, weights_only=True)
    name = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
    state[name].view(-1)[1] = value
    torch.save(state, model_copy / WEIGHTS_FILE)
    rehash(model_copy, WEIGHTS_FILE)
    with pytest.raises(UnsafeModelFileError,
                       match=f"{WEIGHTS_FILE}: parameter {name} holds NaN or infinite values"):
        load_model_safely(model_copy)
    assert gbwm(["evaluate", str(model_copy), "--paths", "100"]) == 2


def test_optimizer_with_nan_is_refused(model_copy: Path) -> None:
    state = torch.load(model_copy / OPTIMIZER_FILE, weights_only=True)
    state["param_groups"][0]["lr"] = math.nan
    torch.save(state, model_copy / OPTIMIZER_FILE)
    rehash(model_copy, OPTIMIZER_FILE)
    with pytest.raises(UnsafeModelFileError, match=f"{OPTIMIZER_FILE}: state.*'lr'.* NaN"):
        load_model_safely(model_copy)
    load_model_safely(model_copy, load_optimizer=False)


@pytest.mark.parametrize("text, message", [
    ('{"format": ', "not valid JSON"),
    ("[" * 100_000 + "]" * 100_000, "not valid JSON (lists and mappings nested more than 32"),
    ('{"a": ' * 40 + "1" + "}" * 40, "lists and mappings are nested more than 32 deep"),
    ('{"seed": ' + "9" * 5000 + "}", "not valid JSON (Exceeds the limit"),
    (b"\xff\xfe{}", "not valid JSON ('utf-8' codec can't decode"),
])
def test_bad_manifest_json_is_an_unsafe_model_file_error(text: str | bytes, message: str,
                                                         model_copy: Path) -> None:
    write(model_copy, text, MANIFEST_FILE)
    with pytest.raises(UnsafeModelFileError) as info:
        load_model_safely(model_copy)
    assert str(info.value).startswith(f"{model_copy / MANIFEST_FILE}: {message}")


def test_manifest_with_a_byte_order_mark_loads(model_copy: Path) -> None:
    raw = (model_copy / MANIFEST_FILE).read_bytes()
    (model_copy / MANIFEST_FILE).write_bytes(b"\xef\xbb\xbf" + raw)
    load_model_safely(model_copy)


def test_model_files_are_capped(model_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = model_copy / MANIFEST_FILE
    edit_manifest(model_copy, lambda m: m.update(extra={"padding": "x" * MAX_MANIFEST_BYTES}))
    with pytest.raises(UnsafeModelFileError, match=rf"{MANIFEST_FILE}: {manifest.stat().st_size:,}"
                                                   rf" bytes, more than the "
                                                   rf"{MAX_MANIFEST_BYTES:,} bytes allowed"):
        read_manifest(model_copy)
    edit_manifest(model_copy, lambda m: m.update(extra={}))
    monkeypatch.setattr("gbwm_sb3.model_io.MAX_TENSOR_FILE_BYTES", 1000)
    with pytest.raises(UnsafeModelFileError, match=f"{WEIGHTS_FILE}: .* bytes, more than the "
                                                   "1,000 bytes allowed for weights"):
        load_model_safely(model_copy)
    monkeypatch.undo()
    monkeypatch.setattr("gbwm_sb3.common.untrusted.MAX_ZIP_DIRECTORY_BYTES", 100)
    with pytest.raises(UnsafeModelFileError, match=f"{WEIGHTS_FILE}: the archive's list of "
                                                   "entries takes .* more than the 100 allowed"):
        load_model_safely(model_copy)


def test_legacy_torch_format_is_refused(model_copy: Path) -> None:
    """The pre-zip format declares each storage's size in its pickle: a few bytes could
    ask for any allocation, so only torch's zip format (what save_model writes) is read."""
    state = torch.load(model_copy / WEIGHTS_FILE, weights_only=True)
    torch.save(state, model_copy / WEIGHTS_FILE, _use_new_zipfile_serialization=False)
    rehash(model_copy, WEIGHTS_FILE)
    with pytest.raises(UnsafeModelFileError, match=f"{WEIGHTS_FILE}: refused: not an archive "
                                                   r"written by torch.save \(zip format\)"):
        load_model_safely(model_copy)


def test_archive_of_many_entries_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(30_000):
            archive.writestr(f"{i}.npy", b"")
    assert untrusted.zip_directory_bytes(path) > untrusted.MAX_ZIP_DIRECTORY_BYTES
    with pytest.raises(WeightsFileError, match="many.zip: the archive's list of entries takes"):
        untrusted.check_zip_directory(path, WeightsFileError)
    assert untrusted.zip_directory_bytes(write(tmp_path, b"not a zip", "x.npz")) is None


# ============================================================================ pretrained weights
def save_arrays(directory: Path, edit: Callable[[dict[str, np.ndarray]], None]) -> None:
    with np.load(directory / "weights.npz") as data:
        arrays = {name: data[name] for name in data.files}
    edit(arrays)
    np.savez(directory / "weights.npz", **arrays)
    rehash_weights(directory)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_weights_with_nan_or_inf_are_refused(value: float, weights_copy: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    def poison(arrays: dict[str, np.ndarray]) -> None:
        arrays["value_net.2.weight"] = np.full_like(arrays["value_net.2.weight"], value)

    save_arrays(weights_copy, poison)
    with pytest.raises(WeightsFileError, match=r"weights.npz: tensor value_net.2.weight: holds "
                                               "NaN or infinite values"):
        load_network(weights_copy)
    with pytest.raises(WeightsFileError):
        pretrained_policy(paper_problem(4), weights_copy)
    assert gbwm(["advise", "paper:4", "--weights", str(weights_copy), "--year", "4",
                 "--wealth", "30"]) == 2
    captured = capsys.readouterr()
    assert "nan" not in captured.out and "NaN or infinite" in captured.err


WEIGHTS_MANIFESTS = {
    "bad json": (lambda d: write(d, "{", "manifest.json"), "manifest.json: not valid JSON"),
    "deep json": (lambda d: write(d, "[" * 10**5 + "]" * 10**5, "manifest.json"),
                  r"manifest.json: not valid JSON \(lists and mappings nested more than 32 "
                  r"deep\)"),
    "no network": (lambda d: edit_weights(d, lambda m: m.pop("network")),
                   "manifest.json: network is missing"),
    "unknown envelope key": (lambda d: edit_weights(d, lambda m: m["envelope"].update(bogus=1)),
                             "manifest.json: envelope.'bogus' is not a known key"),
    "bad envelope": (lambda d: edit_weights(d, lambda m: m["envelope"].update(horizon=[5, 1])),
                     r"manifest.json: envelope: horizon must satisfy 1 <= lo <= hi"),
    "unknown accepted key": (lambda d: edit_weights(d, lambda m: m.update(
        accepted_envelope={"bogus": 1})),
        "manifest.json: accepted_envelope.'bogus' is not a known key"),
    "bad accepted envelope": (lambda d: edit_weights(d, lambda m: m.update(
        accepted_envelope=[])), r"manifest.json: accepted_envelope must be a mapping, got \[\]"),
    "deep network": (lambda d: edit_weights(d, lambda m: m["network"].update(
        embedding=[4096] * 2000)), rf"network.embedding must be a list of "
                                   rf"1..{MAX_NETWORK_LAYERS} layer sizes, got a list of 2000"),
    "wide network": (lambda d: edit_weights(d, lambda m: m["network"].update(head=10**9)),
                     rf"network.head must be an integer in 1..{MAX_NETWORK_WIDTH:,}, "
                     "got 1000000000"),
    "heavy network": (lambda d: edit_weights(d, lambda m: m["network"].update(
        embedding=[4096] * 4)), r"network describes 50,364,416 weights between hidden layers"),
    "unknown network key": (lambda d: edit_weights(d, lambda m: m["network"].update(x=1)),
                            r"network.'x' is not a known key"),
    "activation": (lambda d: edit_weights(d, lambda m: m["network"].update(activation="eval")),
                   r"network.activation must be one of Tanh, ReLU, SiLU, ELU, got 'eval'"),
    "weighted reach": (lambda d: edit_weights(d, lambda m: m["network"].update(
        weighted_reach="yes")), r"network.weighted_reach must be true or false, got 'yes'"),
    "entry reach": (lambda d: edit_weights(d, lambda m: m["network"].update(
        entry_reach=1)), r"network.entry_reach must be true or false, got 1"),
    "decision margins": (lambda d: edit_weights(d, lambda m: m["network"].update(
        decision_margins="no")), r"network.decision_margins must be true or false, got 'no'"),
    "decision reach": (lambda d: edit_weights(d, lambda m: m["network"].update(
        decision_reach=0)), r"network.decision_reach must be true or false, got 0"),
    "tensor shape": (lambda d: edit_weights(d, lambda m: m["tensors"].update(x=[10**12])),
                     r"tensors.'x'\[0\] must be an integer in 0..4,096"),
    "parameters": (lambda d: edit_weights(d, lambda m: m.update(parameters=10**15)),
                   r"parameters must be an integer in 0..67,108,864"),
    "metadata": (lambda d: edit_weights(d, lambda m: m.update(metadata=[])),
                 r"metadata must be a mapping, got \[\]"),
    "sha256": (lambda d: edit_weights(d, lambda m: m.update(sha256=None)),
               r"sha256 must be the 64 hexadecimal digits"),
}


def edit_weights(directory: Path, edit: Callable[[dict[str, Any]], Any]) -> None:
    manifest = json.loads((directory / "manifest.json").read_text())
    edit(manifest)
    (directory / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("case", list(WEIGHTS_MANIFESTS))
def test_bad_weights_manifests_are_refused_naming_file_and_field(case: str,
                                                                 weights_copy: Path) -> None:
    damage, message = WEIGHTS_MANIFESTS[case]
    damage(weights_copy)
    for load in (read_weights_manifest, load_network):
        with pytest.raises(WeightsFileError, match=message) as info:
            load(weights_copy)
        assert str(info.value).startswith(str(weights_copy / "manifest.json"))


def object_array_npz() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **{"value_net.2.bias": np.array([None], dtype=object)})
    return buffer.getvalue()


WEIGHTS_ARRAYS = {
    "truncated": (lambda raw: raw[: len(raw) // 2], r"weights.npz: not an .npz archive"),
    "garbage": (lambda raw: b"\x93NUMPY garbage" * 10, r"weights.npz: not an .npz archive"),
    "pickled objects": (lambda raw: object_array_npz(), "tensors do not match the network"),
}


@pytest.mark.parametrize("case", list(WEIGHTS_ARRAYS))
def test_damaged_weights_arrays_are_refused(case: str, weights_copy: Path) -> None:
    damage, message = WEIGHTS_ARRAYS[case]
    path = weights_copy / "weights.npz"
    path.write_bytes(damage(path.read_bytes()))
    rehash_weights(weights_copy)
    with pytest.raises(WeightsFileError, match=message) as info:
        load_network(weights_copy)
    assert "allow_pickle" not in str(info.value)


@pytest.mark.parametrize("dtype, shape, message", [
    (object, None, "holds object values; only floating-point numbers are read"),
    (np.int64, None, "holds int64 values; only floating-point numbers are read"),
    (np.complex64, None, "holds complex64 values"),
    (np.float32, (10**6,), r"unpacks to 4,000,128 bytes, more than an array of shape"),
    (np.float32, (2, 2), r"has shape \(2, 2\), expected \(1, 4\)"),
])
def test_weights_arrays_of_another_type_or_shape_are_refused(
        dtype: Any, shape: tuple[int, ...] | None, message: str, weights_copy: Path) -> None:
    def replace(arrays: dict[str, np.ndarray]) -> None:
        old = arrays["value_net.2.weight"]
        arrays["value_net.2.weight"] = np.zeros(shape or old.shape, dtype=dtype)

    save_arrays(weights_copy, replace)
    with pytest.raises(WeightsFileError, match="weights.npz: tensor value_net.2.weight: "
                                               + message) as info:
        load_network(weights_copy)
    assert "allow_pickle" not in str(info.value)


def test_array_header_claiming_a_huge_shape_is_refused_before_reading(weights_copy: Path) -> None:
    path = weights_copy / "weights.npz"
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    npy = io.BytesIO()  # 16 GB of float32 by its header, 16 bytes of data in the file
    np.lib.format.write_array_header_1_0(
        npy, {"descr": "<f4", "fortran_order": False, "shape": (1, 4_000_000_000)})
    members["value_net.2.weight.npy"] = npy.getvalue() + bytes(16)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    rehash_weights(weights_copy)
    with pytest.raises(WeightsFileError, match=r"value_net.2.weight: has shape \(1, 4000000000\)"):
        load_network(weights_copy)


def test_shipped_weights_still_load() -> None:
    from gbwm_sb3.pretrained.loading import DEFAULT_WEIGHTS

    manifest = read_weights_manifest(DEFAULT_WEIGHTS)
    network = load_network(DEFAULT_WEIGHTS)
    assert sum(p.numel() for p in network.state_dict().values()) == manifest["parameters"]


# ============================================================================ properties
JSON_SCALARS = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
                | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
                | st.sampled_from([0, 1, -1, 2**31, 10**9, "", "NaN", 1e308, -0.0]))
JSON_VALUES = st.recursive(JSON_SCALARS,
                           lambda children: st.lists(children, max_size=5)
                           | st.dictionaries(st.text(max_size=10), children, max_size=5),
                           max_leaves=20)
HOSTILE = "&*[]{},:?-!|>#'\"\n\t \\%@`<=~0123456789.eE+ab\ufeff\x00"


def paths_of(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path (keys and indices) into ``data``, the root included."""
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths_of(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += paths_of(value, (*prefix, i))
    return found


@st.composite
def mutated(draw: st.DrawFn, data: Any) -> Any:
    """``data`` (JSON-like) with one to three random edits: a value replaced, a key removed
    or added, a list item duplicated."""
    data = json.loads(json.dumps(data))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths_of(data)))
        replacement = draw(JSON_VALUES)
        if not path:
            data = replacement
            continue
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "remove", "add", "duplicate"]))
        key = path[-1]
        if action == "replace":
            parent[key] = replacement
        elif action == "remove":
            del parent[key]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = replacement
        elif isinstance(parent, list):
            parent.insert(key, parent[key])
    return data


def example_data() -> list[tuple[str, Any]]:
    files = sorted(EXAMPLES.glob("*.y*ml")) + sorted(EXAMPLES.glob("*.json"))
    texts = [(path.suffix, path.read_text(encoding="utf-8")) for path in files]
    texts.append((".yaml", GOOD))
    return [(suffix, yaml.safe_load(text)) for suffix, text in texts]


EXAMPLE_DATA = example_data()
EXAMPLE_TEXTS = [(".yaml", GOOD)] + [(path.suffix, path.read_text(encoding="utf-8"))
                                     for path in sorted(EXAMPLES.glob("*.*"))]


def dump(data: Any, suffix: str) -> str:
    if suffix == ".json":
        return json.dumps(data)
    return yaml.safe_dump(data, allow_unicode=True)


def loads_or_refuses(path: Path) -> None:
    """The property: a problem, or a ProblemFileError naming the file."""
    try:
        info = read_problem_file(path)
    except ProblemFileError as exc:
        assert str(exc).startswith(str(path)), exc
        assert len(str(exc)) < 1000, exc
        field = exc.field.split("[")[0].split(".")[0]
        event(f"refused at {field if field.isidentifier() else 'parsing or an unknown field'}")
        return
    event("loaded")
    assert isinstance(info.problem, GBWMProblem)
    assert load_problem(path) == info.problem


@st.composite
def problem_texts(draw: st.DrawFn) -> tuple[str, bytes]:
    """Hostile problem-file contents: random structures, mutated examples, random edits of
    example texts, random bytes, random YAML-ish text."""
    kind = draw(st.sampled_from(["structure", "mutated", "edited", "bytes", "yamlish"]))
    if kind == "structure":
        suffix = draw(st.sampled_from([".yaml", ".json"]))
        return suffix, dump(draw(JSON_VALUES), suffix).encode("utf-8")
    if kind == "mutated":
        suffix, data = draw(st.sampled_from(EXAMPLE_DATA))
        return suffix, dump(draw(mutated(data)), suffix).encode("utf-8")
    if kind == "edited":
        suffix, text = draw(st.sampled_from(EXAMPLE_TEXTS))
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(text)))
            cut = draw(st.integers(0, 10))
            text = text[:at] + draw(st.text(alphabet=HOSTILE, max_size=8)) + text[at + cut:]
        return suffix, text.encode("utf-8", "surrogatepass")
    suffix = draw(st.sampled_from([".yaml", ".yml", ".json"]))
    if kind == "bytes":
        return suffix, draw(st.binary(max_size=300))
    return suffix, draw(st.text(alphabet=HOSTILE, max_size=200)).encode("utf-8")


def check_problem_text(directory: Path, case: tuple[str, bytes]) -> None:
    suffix, raw = case
    loads_or_refuses(write(directory, raw, "problem" + suffix))


@given(case=problem_texts())
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_problem_files_load_or_raise_problem_file_error(tmp_path_factory: pytest.TempPathFactory,
                                                        case: tuple[str, bytes]) -> None:
    check_problem_text(tmp_path_factory.mktemp("p"), case)


@pytest.mark.slow
@given(case=problem_texts())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_problem_files_load_or_raise_problem_file_error_long(
        tmp_path_factory: pytest.TempPathFactory, case: tuple[str, bytes]) -> None:
    check_problem_text(tmp_path_factory.mktemp("p"), case)


def small_model_bounds(patch: pytest.MonkeyPatch) -> None:
    """Lower the model bounds so that every manifest the property accepts builds quickly."""
    for name, value in (("MAX_N_ENVS", 64), ("MAX_ROLLOUT_STEPS", 1024), ("MAX_N_EPOCHS", 8),
                        ("MAX_LAYER_WIDTH", 64), ("MAX_HIDDEN_WEIGHTS", 2 * 64 * 64)):
        patch.setattr(f"gbwm_sb3.model_io.{name}", value)


def check_model_manifest(model_dir: Path, directory: Path, data: Any, raw: bytes | None) -> None:
    if directory.exists():
        shutil.rmtree(directory)
    shutil.copytree(model_dir, directory)
    if raw is None:
        raw = json.dumps(data).encode("utf-8")
    (directory / MANIFEST_FILE).write_bytes(raw)
    with pytest.MonkeyPatch.context() as patch:
        small_model_bounds(patch)
        for load in (read_manifest, load_model_safely):
            try:
                load(directory)
            except UnsafeModelFileError as exc:
                assert str(directory) in str(exc), exc
                assert len(str(exc)) < 1000, exc
                event(f"{load.__name__} refused")
                break
            event(f"{load.__name__} loaded")


@st.composite
def manifests(draw: st.DrawFn, model_dir: Path) -> tuple[Any, bytes | None]:
    """A model manifest with random edits, or its text with random byte edits."""
    original = (model_dir / MANIFEST_FILE).read_bytes()
    if draw(st.booleans()):
        return draw(mutated(json.loads(original))), None
    raw = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(raw) - 1))
        raw[at:at + draw(st.integers(0, 5))] = draw(st.binary(max_size=5))
    return None, bytes(raw)


@given(data=st.data())
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_model_manifests_load_or_raise_unsafe_model_file_error(
        model_dir: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    manifest, raw = data.draw(manifests(model_dir))
    check_model_manifest(model_dir, tmp_path_factory.mktemp("m") / "model", manifest, raw)


@pytest.mark.slow
@given(data=st.data())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_model_manifests_load_or_raise_unsafe_model_file_error_long(
        model_dir: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    manifest, raw = data.draw(manifests(model_dir))
    check_model_manifest(model_dir, tmp_path_factory.mktemp("m") / "model", manifest, raw)


def small_network_bounds(patch: pytest.MonkeyPatch) -> None:
    """Lower the network bound so that every manifest the property accepts builds quickly."""
    patch.setattr("gbwm_sb3.pretrained.weights.MAX_NETWORK_WEIGHTS", 4096)


@st.composite
def weights_damage(draw: st.DrawFn, weights_dir: Path) -> tuple[Any, bytes | None, bytes | None]:
    """A weights manifest with random edits, its text with byte edits, or weights.npz with
    byte edits (and the manifest's sha256 updated to match)."""
    manifest = json.loads((weights_dir / "manifest.json").read_text())
    kind = draw(st.sampled_from(["manifest", "manifest bytes", "arrays"]))
    if kind == "manifest":
        return draw(mutated(manifest)), None, None
    raw = bytearray((weights_dir / ("manifest.json" if kind == "manifest bytes"
                                    else "weights.npz")).read_bytes())
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(raw) - 1))
        raw[at:at + draw(st.integers(0, 5))] = draw(st.binary(max_size=5))
    if kind == "manifest bytes":
        return None, bytes(raw), None
    manifest["sha256"] = hashlib.sha256(bytes(raw)).hexdigest()
    return manifest, None, bytes(raw)


def check_weights(weights_dir: Path, directory: Path,
                  case: tuple[Any, bytes | None, bytes | None]) -> None:
    manifest, manifest_raw, arrays_raw = case
    if directory.exists():
        shutil.rmtree(directory)
    shutil.copytree(weights_dir, directory)
    if manifest_raw is None:
        manifest_raw = json.dumps(manifest).encode("utf-8")
    (directory / "manifest.json").write_bytes(manifest_raw)
    if arrays_raw is not None:
        (directory / "weights.npz").write_bytes(arrays_raw)
    with pytest.MonkeyPatch.context() as patch:
        small_network_bounds(patch)
        for load in (read_weights_manifest, load_network):
            try:
                load(directory)
            except WeightsFileError as exc:
                assert str(directory) in str(exc), exc
                assert "allow_pickle" not in str(exc)
                assert len(str(exc)) < 1000, exc
                event(f"{load.__name__} refused")
                break
            event(f"{load.__name__} loaded")


@given(data=st.data())
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_weights_load_or_raise_weights_file_error(
        weights_dir: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    case = data.draw(weights_damage(weights_dir))
    check_weights(weights_dir, tmp_path_factory.mktemp("w") / "weights", case)


@pytest.mark.slow
@given(data=st.data())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_weights_load_or_raise_weights_file_error_long(
        weights_dir: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    case = data.draw(weights_damage(weights_dir))
    check_weights(weights_dir, tmp_path_factory.mktemp("w") / "weights", case)


def test_property_inputs_start_from_valid_files(tmp_path: Path) -> None:
    """The mutation strategies start from files that load (so they explore near-valid input)."""
    assert len(EXAMPLE_DATA) >= 2
    for suffix, data in EXAMPLE_DATA:
        path = write(tmp_path, dump(data, suffix), "example" + suffix)
        assert load_problem(path) == problem_from_dict(data)


def test_a_weights_file_where_a_directory_belongs_is_named(tmp_path: Path) -> None:
    from gbwm_sb3.pretrained.weights import WeightsFileError, read_weights_manifest

    file = tmp_path / "weights.npz"
    file.write_bytes(b"not a directory")
    with pytest.raises(WeightsFileError, match="is not a directory"):
        read_weights_manifest(file)
