"""The benchmark suite for a pretrained policy, its runner and the benchmark script."""

from __future__ import annotations

import importlib.util
import json
import re
from collections import Counter
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from gbwm_sb3.dp import solve_dp
from gbwm_sb3.evaluation.strategies import BuyAndHold
from gbwm_sb3.pretrained import suite as suite_module
from gbwm_sb3.pretrained.benchmark import (
    ANCHOR_EFFICIENCY,
    RESULTS_FILE,
    SUMMARY_FILE,
    read_results,
    run_benchmark,
)
from gbwm_sb3.pretrained.suite import (
    EXAMPLE_FILES,
    OOD_FUNDING_RATIO,
    OOD_MARKETS,
    SUITE_CATEGORIES,
    BenchmarkProblem,
    benchmark_suite,
    market_outside_sampler,
    suite_summary,
)
from gbwm_sb3.problem.files import load_problem
from gbwm_sb3.problem.model import PAPER_NUM_GOALS, GBWMProblem, paper_problem
from gbwm_sb3.problem.sampler import DEFAULT_ENVELOPE, funding_ratio, sample_problems

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "problems"


@pytest.fixture(scope="module")
def suite() -> list[BenchmarkProblem]:
    return benchmark_suite()


def _by_category(suite: list[BenchmarkProblem], category: str) -> list[GBWMProblem]:
    return [item.problem for item in suite if item.category == category]


def test_size_names_and_categories(suite: list[BenchmarkProblem]) -> None:
    assert len(suite) >= 66
    names = [item.name for item in suite]
    assert len(set(names)) == len(names)
    counts = Counter(item.category for item in suite)
    assert set(counts) == set(SUITE_CATEGORIES)
    assert counts["paper"] == 5 and counts["sampled"] >= 40
    assert counts["out_of_distribution"] >= 12 and counts["example"] >= 1


def test_every_problem_lies_inside_the_default_envelope(suite: list[BenchmarkProblem]) -> None:
    outside = {item.name: DEFAULT_ENVELOPE.contains(item.problem) for item in suite}
    assert {name: r for name, r in outside.items() if r} == {}


def test_deterministic_across_calls_and_rebuilds(suite: list[BenchmarkProblem]) -> None:
    assert benchmark_suite() == suite
    suite_module._build.cache_clear()  # build again from the seeds, not from the cache
    assert benchmark_suite() == suite
    assert benchmark_suite() is not benchmark_suite()  # callers may mutate their list


def test_categories_select_and_unknown_ones_are_named() -> None:
    assert [i.category for i in benchmark_suite("paper")] == ["paper"] * 5
    both = benchmark_suite(["out_of_distribution", "example"])
    assert {i.category for i in both} == {"out_of_distribution", "example"}
    with pytest.raises(ValueError, match="categories must be among paper.*got bogus"):
        benchmark_suite(["paper", "bogus"])


def test_paper_family_present(suite: list[BenchmarkProblem]) -> None:
    assert _by_category(suite, "paper") == [paper_problem(ng) for ng in PAPER_NUM_GOALS]


def _copies_paper_family(problem: GBWMProblem) -> bool:
    """Whether ``problem`` is one of the paper's problems in some money unit."""
    for ng in PAPER_NUM_GOALS:
        paper = paper_problem(ng)
        if problem.horizon != paper.horizon or problem.goal_times != paper.goal_times:
            continue
        scale = problem.initial_wealth / paper.initial_wealth
        if np.allclose(problem.cost_by_time, paper.cost_by_time * scale) \
                and np.allclose(problem.utility_by_time, paper.utility_by_time) \
                and np.allclose(problem.portfolios.mean_array, paper.portfolios.mean_array):
            return True
    return False


def test_example_category_is_every_eligible_example_file(suite: list[BenchmarkProblem]) -> None:
    eligible = sorted(p.name for p in EXAMPLES.iterdir()
                      if p.suffix in (".yaml", ".json")
                      and not DEFAULT_ENVELOPE.contains(load_problem(p))
                      and not _copies_paper_family(load_problem(p)))
    assert sorted(EXAMPLE_FILES) == eligible
    shipped = resources.files("gbwm_sb3.pretrained").joinpath("suite_problems")
    for name in EXAMPLE_FILES:  # the package data is a copy of the example file
        assert shipped.joinpath(name).read_text() == (EXAMPLES / name).read_text()
    assert _by_category(suite, "example") == [load_problem(EXAMPLES / n) for n in EXAMPLE_FILES]


def test_sampled_problems_reach_the_corners(suite: list[BenchmarkProblem]) -> None:
    sampled = _by_category(suite, "sampled")
    ratios = [funding_ratio(p) for p in sampled]
    assert sum(p.horizon == 40 and len(p.goals) >= 15 for p in sampled) >= 3
    assert sum(r < 0.5 for r in ratios) >= 5 and sum(r > 2 for r in ratios) >= 5
    assert sum(bool(p.infusions) for p in sampled) >= 10
    assert sum(p.max_decisions >= 32 for p in sampled) >= 5
    assert min(p.horizon for p in sampled) <= 4


def test_out_of_distribution_markets_lie_outside_the_sampler(
        suite: list[BenchmarkProblem]) -> None:
    ood = {item.name: item.problem for item in suite if item.category == "out_of_distribution"}
    assert len(ood) == len(OOD_MARKETS) >= 12
    for market in OOD_MARKETS:
        assert market_outside_sampler(market), market.name
        assert ood[f"ood-{market.name}"].portfolios == market.portfolios()
    lo, hi = OOD_FUNDING_RATIO
    assert all(lo - 1e-9 <= funding_ratio(p) <= hi + 1e-9 for p in ood.values())
    # Bounds every sampler draw obeys: frontier vols rise to the top asset's (<= 25%) at the
    # top asset mean, which lies in [1% + 2%, 6% + 7%].
    top_vol = {n for n, p in ood.items() if p.portfolios.volatility_array.max() > 0.25}
    low_top = {n for n, p in ood.items() if p.portfolios.mean_array.max() < 0.03}
    high_top = {n for n, p in ood.items() if p.portfolios.mean_array.max() > 0.13}
    assert {"ood-high-vol-equity", "ood-very-high-vol-20p", "ood-emerging-markets"} <= top_vol
    assert low_top == {"ood-low-return", "ood-negative-real-rates"}
    assert high_top == {"ood-high-premium", "ood-high-premium-three-equities"}
    drawn = sample_problems(200, seed=0)
    lowest = min(p.portfolios.volatility_array.min() for p in drawn)
    assert ood["ood-cash-and-one-risky"].portfolios.volatility_array.min() < 0.75 * lowest
    assert {5, 20} <= {p.num_portfolios for p in ood.values()}


def test_market_outside_sampler_is_empty_for_a_sampler_like_market() -> None:
    inside = suite_module.Market("paper-like", "", (0.0493, 0.077, 0.0886),
                                 (0.041, 0.199, 0.198), suite_module._corr(3, [-0.2, -0.26], 0.78),
                                 15)
    assert market_outside_sampler(inside) == []


def test_summary_table(suite: list[BenchmarkProblem]) -> None:
    table = suite_summary(suite).splitlines()
    assert len(table) == len(suite) + 2
    assert table[0].startswith("| name | category | horizon | goals | max decisions a year")
    assert table[2].startswith("| paper-ng1 | paper | 16 | 1 | 2 | 15 | 0.796 | 0 |")


# ----- the runner -----
@pytest.fixture(scope="module")
def two_problems() -> list[BenchmarkProblem]:
    wanted = ("paper-ng2", "sampled-any-03")  # one of each class, both small
    return [item for item in benchmark_suite() if item.name in wanted]


def test_run_benchmark_scores_against_the_dp(two_problems, tmp_path: Path) -> None:
    lines: list[str] = []
    records = run_benchmark(solve_dp, two_problems, n_paths=2000, seed=3,
                            fine_tune_factory=lambda p: BuyAndHold(0, seed=1, problem=p),
                            out=tmp_path, progress=lines.append)
    assert [r["name"] for r in records] == ["paper-ng2", "sampled-any-03"]
    for record in records:  # the DP as the policy scored: efficiency 1 on the same paths
        assert record["efficiency"] == pytest.approx(1.0, abs=1e-12)
        assert record["pretrained_value"] == pytest.approx(record["dp_simulated"])
        assert record["fine_tuned_efficiency"] < 1.0
        assert set(record["seconds"]) == {"dp_solve", "policy_build", "first_action",
                                          "evaluation", "evaluation_total", "fine_tune"}
        assert record["dp_value"] == pytest.approx(record["dp_simulated"], rel=0.05)
    assert len(lines) == 2 and "paper-ng2" in lines[0]
    assert read_results(tmp_path) == json.loads(json.dumps(records))
    summary = (tmp_path / SUMMARY_FILE).read_text()
    assert "| paper-ng2 | paper |" in summary and "| **all** | 2 | 1.0000 | 1.0000 |" in summary
    assert f"{ANCHOR_EFFICIENCY:.1%}" in summary and "2.2 points above" in summary


def test_run_benchmark_with_a_weaker_policy(two_problems) -> None:
    records = run_benchmark(lambda p: BuyAndHold(0, seed=1, problem=p), two_problems,
                            n_paths=2000, seed=0, progress=None)
    assert all(r["efficiency"] < 1.0 for r in records)
    assert all(r["fine_tuned_efficiency"] is None and r["seconds"]["fine_tune"] is None
               for r in records)


def test_run_benchmark_refuses_to_overwrite(two_problems, tmp_path: Path) -> None:
    run_benchmark(solve_dp, two_problems[:1], n_paths=200, seed=0, out=tmp_path, progress=None)
    before = {name: (tmp_path / name).read_text() for name in (RESULTS_FILE, SUMMARY_FILE)}
    with pytest.raises(FileExistsError, match="overwrite=True"):
        run_benchmark(solve_dp, two_problems, n_paths=200, seed=0, out=tmp_path, progress=None)
    assert {name: (tmp_path / name).read_text() for name in before} == before
    run_benchmark(solve_dp, two_problems, n_paths=200, seed=0, out=tmp_path,
                  overwrite=True, progress=None)
    assert len(read_results(tmp_path)) == 2


def test_run_benchmark_resumes_an_interrupted_run(two_problems, tmp_path: Path) -> None:
    calls: list[str] = []

    def policy(problem: GBWMProblem):
        calls.append(f"T{problem.horizon}")
        return solve_dp(problem)

    out = tmp_path / "out"
    records = run_benchmark(policy, two_problems, n_paths=300, seed=2, out=out,
                            settings={"k": 1}, progress=None)
    assert len(calls) == 2 and all(r["settings"] == {"k": 1} for r in records)
    with pytest.raises(FileExistsError, match="resume=True"):
        run_benchmark(policy, two_problems, 300, 2, out=out, settings={"k": 1}, progress=None)
    # the run stopped after its first problem (no summary yet)
    lines = (out / RESULTS_FILE).read_text().splitlines()
    (out / RESULTS_FILE).write_text(lines[0] + "\n")
    (out / SUMMARY_FILE).unlink()
    for n_paths, seed, settings in ((301, 2, {"k": 1}), (300, 3, {"k": 1}),
                                    (300, 2, {"k": 2})):
        with pytest.raises(ValueError, match="'paper-ng2' was made with other settings"):
            run_benchmark(policy, two_problems, n_paths, seed, out=out, settings=settings,
                          resume=True, progress=None)
    with pytest.raises(ValueError, match="exclude each other"):
        run_benchmark(policy, two_problems, 300, 2, out=out, overwrite=True, resume=True)
    calls.clear()
    said: list[str] = []
    again = run_benchmark(policy, two_problems, 300, 2, out=out, settings={"k": 1},
                          resume=True, progress=said.append)
    assert calls == [f"T{two_problems[1].problem.horizon}"]  # only the missing problem
    assert again[0] == json.loads(lines[0]) and again[1]["name"] == "sampled-any-03"
    assert again[1]["efficiency"] == pytest.approx(records[1]["efficiency"])
    assert "kept from the earlier run" in said[0]
    assert [r["name"] for r in read_results(out)] == ["paper-ng2", "sampled-any-03"]
    summary = (out / SUMMARY_FILE).read_text()
    assert "| **all** | 2 |" in summary and "1 of the 2 problems kept" in summary
    calls.clear()  # nothing left to score: the summary is rewritten over all of them
    run_benchmark(policy, two_problems, 300, 2, out=out, settings={"k": 1}, resume=True,
                  progress=None)
    assert calls == [] and "2 of the 2 problems kept" in (out / SUMMARY_FILE).read_text()
    # a record that names no settings cannot be resumed
    bare = {k: v for k, v in again[0].items() if k != "settings"}
    (out / RESULTS_FILE).write_text(json.dumps(bare) + "\n")
    with pytest.raises(ValueError, match="no recorded settings"):
        run_benchmark(policy, two_problems, 300, 2, out=out, settings={"k": 1}, resume=True,
                      progress=None)


def test_run_benchmark_rejects_bad_arguments(two_problems) -> None:
    with pytest.raises(ValueError, match="n_paths must be an integer >= 2"):
        run_benchmark(solve_dp, two_problems, n_paths=1, seed=0)
    with pytest.raises(ValueError, match="names must be unique"):
        run_benchmark(solve_dp, two_problems[:1] * 2, n_paths=100, seed=0)


# ----- the script -----
@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location(
        "benchmark_pretrained", ROOT / "examples" / "benchmark_pretrained.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("argv, message", [
    (["--paths", "1"], r"argument --paths: must be an integer in \[2, 100000000\], got 1"),
    (["--limit", "0"], r"argument --limit: must be an integer >= 1, got 0"),
    (["--fine-tune-trajectories", "-5"], r"argument --fine-tune-trajectories: must be an "
                                         r"integer >= 0"),
    (["--categories", "nope"], r"argument --categories: invalid choice: 'nope'"),
    (["--weights", "/nonexistent/weights.pt"], r"argument --weights: no such file"),
    (["--lookahead", "65"], r"argument --lookahead: must be an integer in \[1, 64\] or "
                            r"'auto', got '65'"),
    (["--lookahead", "auto", "--fine-tune-seconds", "5"],
     r"argument --lookahead: auto is for the zero-shot policy, not with fine-tuning"),
])
def test_script_rejects_bad_options(script, argv, message, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        script.parse_args([*argv, "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    assert re.search(message, capsys.readouterr().err)


def test_script_runs_with_any_policy_and_keeps_earlier_results(script, tmp_path, capsys,
                                                               monkeypatch) -> None:
    import gbwm_sb3.pretrained as pretrained

    monkeypatch.setattr(pretrained, "pretrained_policy",
                        lambda p, weights=None, lookahead=8, exact=False: solve_dp(p),
                        raising=False)
    critic_choices: list[bool | None] = []

    def fake_fine_tune(p, n, *, weights=None, seed=0, lookahead=8, critic_lookahead=None):
        critic_choices.append(critic_lookahead)
        return solve_dp(p)

    monkeypatch.setattr(pretrained, "fine_tune", fake_fine_tune, raising=False)
    out = tmp_path / "out"
    argv = ["--categories", "paper", "--limit", "1", "--paths", "500",
            "--fine-tune-trajectories", "10", "--out", str(out)]
    script.main(argv)
    records = read_results(out)
    assert [r["name"] for r in records] == ["paper-ng1"]
    assert records[0]["fine_tuned_efficiency"] == pytest.approx(1.0)
    assert records[0]["settings"]["fine_tune_critic"] == "held-out"
    assert critic_choices == [None]  # decided on the held-out markets
    script.main([*argv[:-1], str(tmp_path / "off"), "--fine-tune-critic", "off"])
    assert critic_choices == [None, False]
    assert read_results(tmp_path / "off")[0]["settings"]["fine_tune_critic"] == "off"
    assert "fine-tuning trajectories" in (out / SUMMARY_FILE).read_text()
    assert "Mean zero-shot efficiency 100.0% over 1 problem" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        script.main(argv)
    assert "pass --overwrite" in capsys.readouterr().err
    script.main([*argv, "--overwrite"])


def test_script_resumes_the_suite(script, tmp_path, capsys, monkeypatch) -> None:
    import gbwm_sb3.pretrained as pretrained

    built: list[int] = []

    def policy(p, weights=None, lookahead=8, exact=False):
        built.append(len(p.goals))
        return solve_dp(p)

    monkeypatch.setattr(pretrained, "pretrained_policy", policy, raising=False)
    out = tmp_path / "out"
    argv = ["--categories", "paper", "--limit", "3", "--paths", "300", "--out", str(out)]
    script.main(argv)
    first = read_results(out)
    assert [r["settings"] for r in first] == [{
        "weights": "shipped with the package", "lookahead": 1, "exact": False,
        "fine_tune_trajectories": 0, "fine_tune_seconds": 0}] * 3
    (out / RESULTS_FILE).write_text("".join(json.dumps(r) + "\n" for r in first[:2]))
    (out / SUMMARY_FILE).unlink()
    built.clear()
    capsys.readouterr()
    with pytest.raises(SystemExit):
        script.main(argv)
    assert "(or --resume to go on with them)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # other settings: refused, nothing scored
        script.main([*argv, "--resume", "--lookahead", "8"])
    assert "was made with other settings" in str(exc.value) and built == []
    script.main([*argv, "--resume"])
    assert built == [4]  # paper-ng4 only: paper-ng1 and paper-ng2 were kept
    again = read_results(out)
    assert again[:2] == first[:2] and [r["name"] for r in again] == [
        "paper-ng1", "paper-ng2", "paper-ng4"]
    summary = (out / SUMMARY_FILE).read_text()
    assert "| **all** | 3 |" in summary and "2 of the 3 problems kept" in summary
    assert "--resume" in summary  # the command that wrote it
