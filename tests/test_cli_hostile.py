"""The ``gbwm`` command line and the Python entry points under hostile and edge inputs.

Every invalid input gives one clear error line naming the option (or the problem) and
its allowed range, exit status 2 and no traceback, within seconds; secrets in storage
URLs are never shown; an interrupted ``train --force`` loses nothing that was there.
"""

from __future__ import annotations

import math
import re
import socket
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gbwm_sb3 import paper_problem
from gbwm_sb3.cli.main import main
from gbwm_sb3.common import limits
from gbwm_sb3.problem.model import GBWMProblem, Goal

TINY = """\
horizon: 4
initial_wealth: 10.0
goals:
  - {time: 2, cost: 6.0, utility: 5, name: early}
  - {time: 4, cost: 8.0, utility: 10, name: late}
portfolios:
  - {mean: 0.02, volatility: 0.03}
  - {mean: 0.06, volatility: 0.10}
  - {mean: 0.09, volatility: 0.20}
"""
TRAIN = ["--trajectories", "64", "--rollout-trajectories", "64", "--eval-paths", "100",
         "--eval-every", "1", "--no-progress"]
#: Every command must answer within this many seconds, even to hostile input.
ANSWER_SECONDS = 30.0


def _problem_text(horizon: int = 10, wealth: str = "10.0", cost: str = "10.0",
                  mean: str = "0.06", volatility: str = "0.10") -> str:
    return (f"horizon: {horizon}\ninitial_wealth: {wealth}\ngoals:\n"
            f"  - {{time: 5, cost: {cost}, utility: 5}}\nportfolios:\n"
            "  - {mean: 0.02, volatility: 0.03}\n"
            f"  - {{mean: {mean}, volatility: {volatility}}}\n")


def run_gbwm(argv: Sequence[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """``gbwm ARGV`` in this process: (exit status, stdout, stderr)."""
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own errors
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def assert_usage_error(code: int, err: str, *expected: str) -> str:
    """Exit status 2, no traceback, exactly one error line, naming every ``expected``."""
    assert code == 2, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert len(errors) == 1, err
    for text in expected:
        assert text in errors[0], (text, errors[0])
    return errors[0]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A current folder with a tiny problem, a file, a folder and an empty folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.yaml").write_text(TINY)
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "adir").mkdir()
    (tmp_path / "adir" / "x.txt").write_text("x")
    (tmp_path / "emptydir").mkdir()
    return tmp_path


# ------------------------------------------------------------------ 1. storage passwords
def _closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_storage_password_never_shown(tmp_path: Path, capsys: pytest.CaptureFixture,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("optuna")
    from gbwm_sb3.experiments import tuning

    monkeypatch.setattr(tuning.time, "sleep", lambda seconds: None)  # no retry waits
    monkeypatch.chdir(tmp_path)
    port = _closed_port()
    url = f"postgresql+psycopg://user:S3cretPW@127.0.0.1:{port}/db"
    masked = f"postgresql+psycopg://user:***@127.0.0.1:{port}/db"
    for argv in (["tune", "paper:1", "--study", "s", "--trials", "1", "--storage", url],
                 ["tune", "--study", "s", "--show", "--storage", url]):
        code, out, err = run_gbwm(argv, capsys)
        line = assert_usage_error(code, err, "--storage", masked)
        assert "S3cretPW" not in out + err, line
    # a URL that does not parse is echoed masked too
    code, out, err = run_gbwm(["tune", "--study", "s", "--show", "--storage",
                               "postgresql+psycopg://user:S3cretPW@host:notaport/db"], capsys)
    assert_usage_error(code, err, "--storage", "user:***@host")
    assert "S3cretPW" not in out + err


def test_saved_front_records_the_storage_masked(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The command written into front.md / front.json shows no password."""
    pytest.importorskip("optuna")
    import argparse

    from gbwm_sb3.cli import tune as tune_cli

    written: dict[str, str] = {}

    def write_front(study: object, out: Path, command: str) -> list[Path]:
        written["command"] = command
        return []

    monkeypatch.setattr(tune_cli.results, "front_rows", lambda study: [{}])
    monkeypatch.setattr(tune_cli.results, "describe_counts", lambda study: "1 trial")
    monkeypatch.setattr(tune_cli.results, "format_front", lambda study: "")
    monkeypatch.setattr(tune_cli.tuning, "study_settings",
                        lambda study: argparse.Namespace(to_attrs=dict))
    monkeypatch.setattr(tune_cli.results, "write_front", write_front)
    args = argparse.Namespace(study="s", out=str(tmp_path / "front"),
                              storage="postgresql+psycopg://user:S3cretPW@db.example/tune")
    tune_cli._show(args, study=None)
    assert "user:***@db.example/tune" in written["command"]
    assert "S3cretPW" not in written["command"]


def test_mask_url_password() -> None:
    pytest.importorskip("optuna")
    from gbwm_sb3.experiments.tuning import mask_secrets, mask_url_password

    assert mask_url_password("postgresql+psycopg://u:pw@h:5432/db") == \
        "postgresql+psycopg://u:***@h:5432/db"
    assert mask_url_password("postgresql://u:p@ss@h/db") == "postgresql://u:***@h/db"
    assert mask_url_password("postgresql://h/db?password=pw&x=1") == \
        "postgresql://h/db?password=***&x=1"
    for url in ("sqlite:///gbwm-tune.db", "postgresql://u@h/db", "sqlite:////a:b/x.db"):
        assert mask_url_password(url) == url
    text = mask_secrets("auth failed: p%40ss (p@ss) for postgresql://u:p%40ss@h/db",
                        "postgresql://u:p%40ss@h/db")
    assert "p@ss" not in text and "p%40ss" not in text and "u:***@h/db" in text
    # a short password masks itself, not the letters of other words
    assert mask_secrets("cannot import p", "mysql://u:p@h/d") == "cannot import ***"


# ------------------------------------------------------------------ 2. sizes at the entry
def test_train_refuses_an_enormous_horizon(workdir: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    (workdir / "long.yaml").write_text(_problem_text(horizon=10**6))
    for command in (["train", "long.yaml", "--out", "run"], ["solve", "long.yaml"],
                    ["advise", "long.yaml"]):
        start = time.perf_counter()
        code, _, err = run_gbwm(command, capsys)
        assert_usage_error(code, err, "horizon", "100")
        assert time.perf_counter() - start < 10.0
    assert not (workdir / "run").exists()


def test_the_argument_checks_name_the_field_and_the_range() -> None:
    import numpy as np

    assert limits.check_int(np.int64(3), "n", 1, 5) == 3
    assert type(limits.check_int(np.int64(3), "n", 1, 5)) is int
    for value in (True, np.bool_(True), 2.0, "3", None, 0, 6):
        with pytest.raises(ValueError, match=r"^n must be an integer in \[1, 5\], got "):
            limits.check_int(value, "n", 1, 5)
    for style, allowed in (("dots", "in 1..5"), ("bounds", ">= 1 and <= 5")):
        with pytest.raises(ValueError, match=f"^n must be an integer {re.escape(allowed)}, got 9"):
            limits.check_int(9, "n", 1, 5, style=style)
    with pytest.raises(ValueError, match="^n must be an integer >= 2, got 1$"):
        limits.check_int(1, "n", 2)
    with pytest.raises(ValueError, match="^n must be an integer <= 1,000, got 1001$"):
        limits.check_int(1001, "n", high=1000)
    with pytest.raises(ValueError, match="^n must be an integer, got 'x'$"):
        limits.check_int("x", "n")
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        limits.check_int(np.int64(3), "n", 1, exact=True)
    with pytest.raises(LookupError, match=r"^f: n must be an integer in 1\.\.2, got <0>$"):
        limits.check_int(0, "f: n", 1, 2, style="dots", error=LookupError,
                         show=lambda v: f"<{v}>")
    assert limits.check_float("0.5", "x", 0.0, 1.0) == 0.5
    for value in (math.nan, math.inf, True, "a", None, 2.0, 10**400):
        with pytest.raises(ValueError, match=r"^x must be a real number in \[0.0, 1.0\], got "):
            limits.check_float(value, "x", 0.0, 1.0)


def test_python_entry_points_bound_their_sizes() -> None:
    from gbwm_sb3.envs.vec_env import GBWMVecEnv
    from gbwm_sb3.evaluation.evaluator import evaluate
    from gbwm_sb3.evaluation.strategies import BuyAndHold
    from gbwm_sb3.experiments.options import SweepOptions
    from gbwm_sb3.ppo.presets import paper_ppo, paper_total_timesteps

    # the problem itself refuses a horizon beyond the bound, before any env allocates
    with pytest.raises(ValueError, match=r"horizon must be an integer in 1\.\.100"):
        GBWMProblem(horizon=limits.MAX_HORIZON + 1, initial_wealth=1.0,
                    goals=(Goal(5, 1.0, 1.0),))
    with pytest.raises(ValueError, match="n_paths must be an integer"):
        evaluate({"bh": BuyAndHold()}, paper_problem(4), n_paths=limits.MAX_PATHS + 1)
    with pytest.raises(ValueError, match="num_envs must be an integer >= 1 and <= 1,000,000"):
        GBWMVecEnv(limits.MAX_N_ENVS + 1)
    with pytest.raises(ValueError, match=r"n_trajectories_per_rollout must be in \[1, 625,000\]"):
        paper_ppo(problem=paper_problem(4), n_trajectories_per_rollout=1_000_000)
    with pytest.raises(ValueError, match="n_trajectories must be an integer >= 1 and <= "):
        paper_total_timesteps(paper_problem(4), limits.MAX_TRAJECTORIES + 1)
    with pytest.raises(ValueError, match="seeds must hold at most 1,000 seeds"):
        SweepOptions(seeds=range(2**64))
    with pytest.raises(ValueError, match=r"each seed must be an integer in \[0, 4,294,967,295\]"):
        SweepOptions(seeds=[2**32])
    with pytest.raises(ValueError, match=r"workers must be an integer in \[1, 256\]"):
        SweepOptions(seeds=[0], workers=10**6)


def test_tuning_settings_are_bounded(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    from gbwm_sb3.experiments import tuning

    for kwargs, name in (({"seeds": limits.MAX_SEEDS + 1}, "seeds"),
                         ({"n_trajectories": limits.MAX_TRAJECTORIES + 1}, "n_trajectories"),
                         ({"n_eval_paths": limits.MAX_PATHS + 1}, "n_eval_paths"),
                         ({"eval_seed": 2**64}, "eval_seed")):
        with pytest.raises(ValueError, match=f"{name} must be an integer >= .* and <= "):
            tuning.TuneSettings(problems=("paper:1",), **kwargs)
    settings_ = tuning.TuneSettings(problems=("paper:1",))
    with pytest.raises(ValueError, match="workers must be an integer >= 1 and <= 256"):
        tuning.optimize(f"sqlite:///{tmp_path / 'unused.db'}", "s", settings_, 1,
                        workers=10**6)


def test_train_refuses_a_rollout_too_large_before_building_it(
        workdir: Path, capsys: pytest.CaptureFixture) -> None:
    start = time.perf_counter()
    code, _, err = run_gbwm(["train", "paper:4", "--out", "run", "--rollout-trajectories",
                             "1000000"], capsys)
    assert_usage_error(code, err, "--rollout-trajectories must be in [1, 625,000]",
                       "10,000,000 steps")
    assert time.perf_counter() - start < 10.0


# ------------------------------------------------------------------ 3. evaluation memory
def test_evaluate_bounds_n_paths() -> None:
    from gbwm_sb3.evaluation.evaluator import evaluate
    from gbwm_sb3.evaluation.strategies import BuyAndHold

    with pytest.raises(ValueError, match=r"n_paths must be an integer in \[2, 10,000,000\]"):
        evaluate({"bh": BuyAndHold()}, paper_problem(4), n_paths=limits.MAX_PATHS + 1)


def test_evaluation_memory_does_not_grow_with_the_number_of_policies() -> None:
    """About 40 bytes a path in all (the docstring's figure), whatever the policies."""
    import tracemalloc

    from gbwm_sb3.dp import solve_dp
    from gbwm_sb3.evaluation.evaluator import evaluate
    from gbwm_sb3.evaluation.strategies import BuyAndHold

    problem = paper_problem(2)
    dp = solve_dp(problem)
    n_paths = 200_000
    policies = {"dp": dp, **{f"bh{i}": BuyAndHold(portfolio=i, problem=problem)
                             for i in range(6)}}
    tracemalloc.start()
    try:
        evaluate(policies, problem, n_paths=n_paths, seed=0, chunk_size=8192)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    chunk_draws = 2 * 8 * problem.horizon * 8192
    assert peak < 40 * n_paths + chunk_draws + 2_000_000, peak


# ------------------------------------------------------------------ 4. hostile arguments
HOSTILE: list[tuple[list[str], tuple[str, ...]]] = [
    # solve
    (["solve", "tiny.yaml", "--paths", "-1"], ("--paths", "[2, 10000000]")),
    (["solve", "tiny.yaml", "--paths", "0"], ("--paths", "[2, 10000000]")),
    (["solve", "tiny.yaml", "--paths", "1e400"], ("--paths", "[2, 10000000]")),
    (["solve", "tiny.yaml", "--paths", "nan"], ("--paths",)),
    (["solve", "tiny.yaml", "--paths", ""], ("--paths",)),
    (["solve", "tiny.yaml", "--paths", "9" * 5000], ("--paths", "(5,000 characters)")),
    (["solve", "tiny.yaml", "--seed", str(2**64)], ("--seed", "[0, 4294967295]")),
    (["solve", "tiny.yaml", "--grid-density", "inf"], ("--grid-density", "[5, 1000]")),
    (["solve", "tiny.yaml", "--grid-density", "0"], ("--grid-density", "[5, 1000]")),
    (["solve", "tiny.yaml", "--grid-density", "abc"], ("--grid-density",)),
    (["solve", ""], ("PROBLEM must be a non-empty",)),
    (["solve", "adir"], ("adir",)),
    (["solve", "missing.yaml"], ("missing.yaml", "no such file")),
    (["solve", "paper:4:inf"], ("PROBLEM paper:4:inf", "unit")),
    # train
    (["train", "tiny.yaml", "--out", "afile"], ("--out afile exists and is not a directory",)),
    (["train", "tiny.yaml", "--out", ""], ("--out must be a non-empty",)),
    (["train", "tiny.yaml", "--out", "afile/sub"], ("--out afile/sub", "not a directory")),
    (["train", "tiny.yaml", "--out", "adir"], ("--out adir", "--force")),
    (["train", "tiny.yaml", "--out", "new", "--seed", str(2**32)], ("--seed", "4294967295")),
    (["train", "tiny.yaml", "--out", "new", "--trajectories", "0"],
     ("--trajectories", "[1, 100000000]")),
    (["train", "tiny.yaml", "--out", "new", "--trajectories", str(10**12)],
     ("--trajectories", "[1, 100000000]")),
    (["train", "tiny.yaml", "--out", "new", "--rollout-trajectories", str(10**7)],
     ("--rollout-trajectories", "[1, 1000000]")),
    (["train", "tiny.yaml", "--out", "new", "--batch-size", "1"], ("--batch-size",)),
    (["train", "tiny.yaml", "--out", "new", "--learning-rate", "nan"], ("--learning-rate",)),
    (["train", "tiny.yaml", "--out", "new", "--learning-rate", "-1"], ("--learning-rate",)),
    (["train", "tiny.yaml", "--out", "new", "--eval-every", "0"], ("--eval-every",)),
    (["train", "tiny.yaml", "--out", "new", "--eval-every", str(10**9)],
     ("--eval-every", "[1, 1000000]")),
    (["train", "tiny.yaml", "--out", "new", "--eval-paths", "1"], ("--eval-paths",)),
    (["train", "tiny.yaml", "--out", "new", "--eval-seed", "-5"], ("--eval-seed",)),
    # evaluate and plot
    (["evaluate", ""], ("DIR must be a non-empty",)),
    (["evaluate", "missing"], ("missing", "not a model directory")),
    (["evaluate", "afile"], ("afile", "not a model directory")),
    (["evaluate", "emptydir"], ("emptydir", "manifest.json")),
    (["evaluate", "emptydir", "--paths", "1"], ("--paths", "[2, 10000000]")),
    (["evaluate", "emptydir", "--seed", "inf"], ("--seed",)),
    (["plot", "afile"], ("DIR afile", "not a model directory")),
    (["plot", "emptydir", "--out", "afile"], ("--out afile",)),
    (["plot", "emptydir", "--paths", "-3"], ("--paths",)),
    (["plot", "emptydir", "--formats", "bmp"], ("--formats",)),
    # reproduce (all refused before any run)
    (["reproduce", "table1", "--workers", "100000"], ("--workers", "[1, 256]")),
    (["reproduce", "table1", "--seeds", str(10**6)], ("--seeds", "[1, 1000]")),
    (["reproduce", "table1", "--first-seed", str(2**32)], ("--first-seed", "4294967295")),
    (["reproduce", "table1", "--first-seed", str(2**32 - 1), "--seeds", "2"],
     ("--first-seed + --seeds", "4294967295")),
    (["reproduce", "ablation", "--trajectories", str(10**9)], ("--trajectories",)),
    (["reproduce", "figure2", "--eval-paths", str(10**8)], ("--eval-paths", "10000000")),
    (["reproduce", "table1", "--goals", "3"], ("--goals",)),
    (["reproduce", "table1", "--out", "afile"], ("--out afile",)),
    (["reproduce", "table1", "--out", ""], ("--out",)),
    (["reproduce", "table1", "--out", "run", "--results", "adir"], ("--results adir",)),
    # advise
    (["advise", "paper:4", "--year", "-1"], ("--year",)),
    (["advise", "paper:4", "--year", "20", "--wealth", "1"], ("--year must be in [0, 15]",)),
    (["advise", "paper:4", "--wealth", "nan"], ("--wealth",)),
    (["advise", "paper:4", "--wealth", "-1"], ("--wealth",)),
    (["advise", "paper:4", "--wealth", "1e400"], ("--wealth",)),
    (["advise", "paper:4", "--lookahead", "65"], ("--lookahead", "[1, 64]")),
    (["advise", "paper:4", "--weights", ""], ("--weights",)),
    (["advise", "paper:4", "--weights", "emptydir"], ("--weights emptydir",)),
    (["advise", ""], ("PROBLEM must be a non-empty",)),
    # fine-tune (all refused before any training)
    (["fine-tune", "paper:4", "--out", "run", "--trajectories", "0"], ("--trajectories",)),
    (["fine-tune", "paper:4", "--out", "run", "--seconds", "nan"], ("--seconds",)),
    (["fine-tune", "paper:4", "--out", "run", "--paths", "1"], ("--paths",)),
    (["fine-tune", "paper:4", "--out", "run", "--seed", "-1"], ("--seed",)),
    (["fine-tune", "paper:4", "--out", "afile"], ("--out afile",)),
    (["fine-tune", "paper:4", "--out", "run", "--weights", "emptydir"], ("--weights emptydir",)),
    (["fine-tune", "", "--out", "run"], ("PROBLEM must be a non-empty",)),
    (["fine-tune", "long.yaml", "--out", "run"], ("long.yaml: no such file",)),
]
TUNE_HOSTILE: list[tuple[list[str], tuple[str, ...]]] = [
    (["--trials", "0"], ("--trials", "[1, 100000]")),
    (["--trials", "1", "--workers", "1000"], ("--workers", "[1, 256]")),
    (["--trials", "1", "--seeds", "0"], ("--seeds",)),
    (["--trials", "1", "--eval-paths", "1"], ("--eval-paths",)),
    (["--trials", "1", "--n-trajectories", "nan"], ("--n-trajectories",)),
    (["--trials", "1", "--population", "1"], ("--population",)),
    (["--trials", "1", "--timeout", "inf"], ("--timeout",)),
    (["--trials", "1", "--heartbeat", "0"], ("--heartbeat",)),
    (["--export-preset", "x", "--trial", "-1"], ("--trial",)),
    (["--trials", "1", "--fix", "bogus=1"], ("--fix", "bogus")),
    (["--show", "--out", "afile"], ("--out afile",)),
    (["--export-preset", "x", "--preset-file", "adir"], ("--preset-file adir",)),
]


@pytest.mark.parametrize("argv, expected", HOSTILE, ids=lambda v: " ".join(v)[:60]
                         if isinstance(v, list) else None)
def test_hostile_arguments_are_refused_cleanly(argv: list[str], expected: tuple[str, ...],
                                               workdir: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    start = time.perf_counter()
    code, _, err = run_gbwm(argv, capsys)
    assert_usage_error(code, err, *expected)
    assert time.perf_counter() - start < ANSWER_SECONDS
    assert not (workdir / "new").exists() and not (workdir / "run").exists()


@pytest.mark.parametrize("argv, expected", TUNE_HOSTILE, ids=lambda v: " ".join(v)[:60]
                         if isinstance(v, list) else None)
def test_hostile_tune_arguments_are_refused_cleanly(argv: list[str], expected: tuple[str, ...],
                                                    workdir: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("optuna")
    storage = f"sqlite:///{workdir / 'study.db'}"
    code, _, err = run_gbwm(["tune", "paper:1", "--study", "s", "--storage", storage, *argv],
                            capsys)
    assert_usage_error(code, err, *expected)


def test_tune_storage_that_cannot_be_opened(workdir: Path, capsys: pytest.CaptureFixture,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("optuna")
    from gbwm_sb3.experiments import tuning

    monkeypatch.setattr(tuning.time, "sleep", lambda seconds: None)  # no retry waits
    for target in ("adir", "afile/x.db"):
        code, _, err = run_gbwm(["tune", "--study", "s", "--show", "--storage",
                                 f"sqlite:///{workdir / target}"], capsys)
        assert_usage_error(code, err, "--storage", "cannot open the database")


def test_unrealistic_problems_are_refused_with_the_field(workdir: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    # a portfolio mean of 100,000% a year, money beyond the bounds, money too small to compute
    # with: the problem model names the field and its bound (the DP never sees them)
    cases = {"growth.yaml": (_problem_text(mean="1000"),
                             "portfolios[1].mean: must be a number in [-1, 1]"),
             "rich.yaml": (_problem_text(cost="1.0e300"),
                           "goals[0].cost: must be a number in [0, 1e+15]"),
             "tiny.yaml": (_problem_text(wealth="5.0e-324"),
                           "initial_wealth: must be at least 1e-09")}
    for name, (text, expected) in cases.items():
        (workdir / name).write_text(text)
        for command in (["solve", name], ["train", name, "--out", "r"]):
            code, _, err = run_gbwm(command, capsys)
            line = assert_usage_error(code, err, name, expected)
            assert "math domain error" not in line and "grid_density" not in line


def test_dp_grid_too_large_names_the_option() -> None:
    """Money from 1e-9 to 1e15 on a very fine grid: the message names grid_density, the
    problem's wealth range and the largest density that fits."""
    from gbwm_sb3.dp import solve_dp

    problem = GBWMProblem(horizon=10, initial_wealth=1e-9, goals=(Goal(5, 1e15, 5.0),))
    with pytest.raises(ValueError, match="grid_density=10000 needs") as info:
        solve_dp(problem, grid_density=10_000)
    limit = float(re.search(r"use grid_density <= ([0-9.e+]+)", str(info.value)).group(1))
    assert 50.0 <= limit < 10_000.0
    assert solve_dp(problem, grid_density=math.floor(limit)).wealth_grid.size <= 200_000


def test_large_amounts_are_printed_in_g_notation(workdir: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    (workdir / "rich.yaml").write_text(_problem_text(wealth="1.0e14", cost="1.0e14"))
    code, out, err = run_gbwm(["solve", "rich.yaml", "--paths", "100"], capsys)
    assert code == 0, err
    assert "initial wealth 1e+14" in out and "wealth 1e+14)" in out
    assert not re.search(r"[0-9,]{25}", out), out
    code, out, err = run_gbwm(["advise", "paper:4", "--wealth", "1e300"], capsys)
    assert code == 0, err
    assert "wealth 1e+300" in out and not re.search(r"[0-9,]{25}", out)


# ------------------------------------------------------------------ 5. train --force
def _old_model_dir(path: Path) -> dict[str, bytes]:
    files = {"manifest.json": b'{"old": true}\n', "policy.pt": b"old weights",
             "logs/progress.csv": b"time/iterations,old\n1,2\n", "best/policy.pt": b"old best",
             "notes.txt": b"mine"}
    for name, data in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    return files


def test_interrupted_train_force_loses_nothing(workdir: Path, capsys: pytest.CaptureFixture,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from gbwm_sb3.evaluation import evaluator

    out = workdir / "model"
    old = _old_model_dir(out)

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C in the middle of training (the first evaluation)

    with monkeypatch.context() as patch:
        patch.setattr(evaluator, "evaluate", interrupted)
        code, _, err = run_gbwm(["train", "tiny.yaml", "--out", str(out), "--force", *TRAIN],
                                capsys)
    assert code == 130, err
    for name, data in old.items():
        assert (out / name).read_bytes() == data, name
    assert sorted(p.name for p in workdir.iterdir() if p.name.startswith(".")) == []

    code, _, err = run_gbwm(["train", "tiny.yaml", "--out", str(out), "--force", *TRAIN],
                            capsys)
    assert code == 0, err
    from gbwm_sb3.model_io import load_model_safely, read_manifest

    assert read_manifest(out)["preset"] == "paper"
    load_model_safely(out)
    load_model_safely(out / "best")
    assert (out / "notes.txt").read_bytes() == b"mine"
    assert (out / "logs" / "progress.csv").read_bytes() != old["logs/progress.csv"]
    assert sorted(p.name for p in workdir.iterdir() if p.name.startswith(".")) == []


# ------------------------------------------------------------------ property-based
_HOSTILE_TEXT = st.sampled_from(["", " ", "nan", "-nan", "inf", "-inf", "1e400", "-1e400",
                                 "0x10", "1_000", " 7 ", "+3", "1.5", "-0", "9" * 5000,
                                 "١٢", "\u00a0", "1e-400", "NaN", "Infinity", "--", "a"])


def _numbers(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Option values: hostile texts and numbers, or small valid ones (commands stay quick)."""
    return st.one_of(
        _HOSTILE_TEXT,
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.text(max_size=12),
        valid,
    )


def _int_ok(text: str, low: int, high: int) -> bool:
    try:
        return low <= int(text.replace("_", "")) <= high
    except ValueError:
        return False


def _float_ok(text: str, low: float, high: float) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return math.isfinite(value) and low <= value <= high


def _argv(options: dict[str, str]) -> list[str]:
    # "--opt=value": a value that starts with "-" stays the option's value
    return [f"{name}={value}" for name, value in options.items()]


def _check_property(argv: list[str], invalid: list[str], capsys: pytest.CaptureFixture,
                    may_succeed: bool) -> None:
    """No uncaught exception: success, or exit 2 with one error line naming an invalid
    option when there is one."""
    start = time.perf_counter()
    code, _, err = run_gbwm(argv, capsys)
    assert time.perf_counter() - start < ANSWER_SECONDS
    if code == 0:
        assert may_succeed and not invalid, (argv, err)
        return
    line = assert_usage_error(code, err)
    if invalid:
        assert any(name in line for name in invalid), (argv, line)


SOLVE_OPTIONS = st.fixed_dictionaries({}, optional={
    "--paths": _numbers(st.integers(2, 500).map(str)),
    "--seed": _numbers(st.integers(0, 2**32 - 1).map(str)),
    "--grid-density": _numbers(st.floats(5.0, 200.0).map(repr)),
})
EVALUATE_OPTIONS = st.fixed_dictionaries({}, optional={
    "--paths": _numbers(st.integers(2, 10**7).map(str)),
    "--seed": _numbers(st.integers(0, 2**32 - 1).map(str)),
})
TRAIN_OPTIONS = st.fixed_dictionaries({}, optional={
    "--seed": _numbers(st.integers(0, 2**32 - 1).map(str)),
    "--trajectories": _numbers(st.integers(1, 10**8).map(str)),
    "--rollout-trajectories": _numbers(st.integers(1, 10**6).map(str)),
    "--batch-size": _numbers(st.integers(2, 10**7).map(str)),
    "--learning-rate": _numbers(st.floats(1e-8, 1.0).map(repr)),
    "--eval-every": _numbers(st.integers(1, 10**6).map(str)),
    "--eval-paths": _numbers(st.integers(2, 10**7).map(str)),
    "--eval-seed": _numbers(st.integers(0, 2**32 - 1).map(str)),
})
ADVISE_OPTIONS = st.fixed_dictionaries({}, optional={
    "--year": _numbers(st.integers(0, 20).map(str)),
    "--wealth": _numbers(st.floats(0.0, 1e300).map(repr)),
    "--lookahead": _numbers(st.integers(1, 64).map(str)),
})


def _solve_property(options: dict[str, str], capsys: pytest.CaptureFixture) -> None:
    invalid = [name for name, value in options.items() if not {
        "--paths": lambda v: _int_ok(v, 2, limits.MAX_PATHS),
        "--seed": lambda v: _int_ok(v, 0, limits.MAX_SEED),
        "--grid-density": lambda v: _float_ok(v, 5.0, 1000.0)}[name](value)]
    if not invalid and _int_ok(options.get("--paths", "2"), 501, limits.MAX_PATHS):
        options["--paths"] = "500"  # valid, but keep the simulation short
    _check_property(["solve", "tiny.yaml", *_argv(options)], invalid, capsys, True)


def _evaluate_property(options: dict[str, str], capsys: pytest.CaptureFixture) -> None:
    # no model directory: valid options are refused there, after the options' checks
    invalid = [name for name, value in options.items() if not {
        "--paths": lambda v: _int_ok(v, 2, limits.MAX_PATHS),
        "--seed": lambda v: _int_ok(v, 0, limits.MAX_SEED)}[name](value)]
    _check_property(["evaluate", "emptydir", *_argv(options)], invalid or ["DIR", "emptydir"],
                    capsys, False)


def _train_property(options: dict[str, str], capsys: pytest.CaptureFixture) -> None:
    # --out is a file: valid options are refused there, before any training
    checks = {"--seed": (0, limits.MAX_SEED), "--trajectories": (1, limits.MAX_TRAJECTORIES),
              "--rollout-trajectories": (1, limits.MAX_N_ENVS), "--batch-size": (2, 10**7),
              "--eval-every": (1, 10**6), "--eval-paths": (2, limits.MAX_PATHS),
              "--eval-seed": (0, limits.MAX_SEED)}
    invalid = [name for name, value in options.items()
               if not (_float_ok(value, 1e-8, 1.0) if name == "--learning-rate"
                       else _int_ok(value, *checks[name]))]
    _check_property(["train", "tiny.yaml", "--out", "afile", *_argv(options)],
                    invalid or ["--out afile"], capsys, False)


def _advise_property(options: dict[str, str], capsys: pytest.CaptureFixture) -> None:
    invalid = [name for name, value in options.items() if not {
        "--year": lambda v: _int_ok(v, 0, 10_000),
        "--wealth": lambda v: _float_ok(v, 0.0, 1e300),
        "--lookahead": lambda v: _int_ok(v, 1, 64)}[name](value)]
    _check_property(["advise", "paper:4", *_argv(options)], invalid, capsys, True)


_PROPERTY_SETTINGS = dict(suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                 HealthCheck.too_slow], deadline=None)


@settings(**_PROPERTY_SETTINGS)
@given(options=SOLVE_OPTIONS)
def test_solve_options_property(options: dict[str, str], workdir: Path,
                                capsys: pytest.CaptureFixture) -> None:
    _solve_property(options, capsys)


@settings(**_PROPERTY_SETTINGS)
@given(options=EVALUATE_OPTIONS)
def test_evaluate_options_property(options: dict[str, str], workdir: Path,
                                   capsys: pytest.CaptureFixture) -> None:
    _evaluate_property(options, capsys)


@settings(**_PROPERTY_SETTINGS)
@given(options=TRAIN_OPTIONS)
def test_train_options_property(options: dict[str, str], workdir: Path,
                                capsys: pytest.CaptureFixture) -> None:
    _train_property(options, capsys)


@settings(**_PROPERTY_SETTINGS)
@given(options=ADVISE_OPTIONS)
def test_advise_options_property(options: dict[str, str], workdir: Path,
                                 capsys: pytest.CaptureFixture) -> None:
    _advise_property(options, capsys)


@pytest.mark.slow
@settings(max_examples=300, **_PROPERTY_SETTINGS)
@given(command=st.sampled_from(["solve", "evaluate", "train", "advise"]), data=st.data())
def test_numeric_options_property_long(command: str, data: st.DataObject, workdir: Path,
                                       capsys: pytest.CaptureFixture) -> None:
    strategy, check = {"solve": (SOLVE_OPTIONS, _solve_property),
                       "evaluate": (EVALUATE_OPTIONS, _evaluate_property),
                       "train": (TRAIN_OPTIONS, _train_property),
                       "advise": (ADVISE_OPTIONS, _advise_property)}[command]
    check(data.draw(strategy), capsys)
