"""Independent problem families: deterministic, valid, as described; their runner and script."""

from __future__ import annotations

import ast
import importlib.util
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from gbwm_sb3.dp import solve_dp
from gbwm_sb3.pretrained import families as families_module
from gbwm_sb3.pretrained import recommended_lookahead
from gbwm_sb3.pretrained.benchmark import RESULTS_FILE, SUMMARY_FILE, read_results
from gbwm_sb3.pretrained.families import (
    CROWDED_LEVEL_PATTERNS,
    FAMILIES,
    FAMILY_NAMES,
    family,
    family_problems,
    family_rng,
)
from gbwm_sb3.pretrained.family_benchmark import (
    family_table,
    run_family_benchmark,
    summarise_families,
)
from gbwm_sb3.problem import sampler
from gbwm_sb3.problem.model import (
    MAX_DECISIONS_PER_YEAR,
    PAPER_NUM_GOALS,
    GBWMProblem,
    paper_portfolios,
    paper_problem,
)
from gbwm_sb3.problem.sampler import DEFAULT_ENVELOPE, ProblemEnvelope, funding_ratio

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def problems() -> dict[str, list[GBWMProblem]]:
    return {f.name: [f.problem(s) for s in f.seeds] for f in FAMILIES}


def _decisions_per_year(problem: GBWMProblem) -> Counter[int]:
    counts: Counter[int] = Counter()
    for goal in problem.goals:
        counts[goal.time] = counts.get(goal.time, 1) * (goal.num_levels + 1)
    return counts


# ----- the registry -----
def test_families_are_named_described_independent_and_large_enough() -> None:
    assert set(FAMILY_NAMES) >= {
        "utility_unrelated", "dominated_levels", "crowded_years", "retirement_income",
        "long_horizon", "volatile_or_flat_frontiers", "underfunded", "published",
        "meta_rl_draws"}
    assert len(set(FAMILY_NAMES)) == len(FAMILY_NAMES)
    for f in FAMILIES:
        assert f.independent, f.name
        assert len(f.description) > 100, f.name
        assert len(f.seeds) >= 12 and len(set(f.seeds)) == len(f.seeds), f.name
    everything = family_problems()
    assert len(everything) >= 66
    assert len({item.name for item in everything}) == len(everything)
    assert [item.name for item in family_problems("all")] == [item.name for item in everything]
    assert {item.category for item in family_problems(["published", "underfunded"])} \
        == {"published", "underfunded"}


def test_unknown_family_names_are_refused_with_the_list() -> None:
    with pytest.raises(ValueError, match=r"unknown family 'nope'; the families are "
                                         r"utility_unrelated, .*meta_rl_draws"):
        family_problems(["nope", "published"])
    with pytest.raises(ValueError, match="unknown family 'x'"):
        family("x")
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        family("published").problem(-1)


def test_same_seed_same_problem_and_seeds_differ(problems) -> None:
    for f in FAMILIES:
        again = [f.problem(s) for s in f.seeds]
        assert again == problems[f.name], f.name
        if f.name != "published":
            assert len({repr(p) for p in problems[f.name]}) == len(f.seeds), f.name
    first = family_rng("crowded_years", 3).random(4)
    assert np.array_equal(first, family_rng("crowded_years", 3).random(4))
    assert not np.array_equal(first, family_rng("crowded_years", 4).random(4))
    assert not np.array_equal(first, family_rng("underfunded", 3).random(4))


def test_no_family_draws_with_the_package_sampler(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a family used the package's sampler")

    for name in ("sample_problem", "sample_problems", "_draw", "_goal_years",
                 "_level_counts", "_portfolios"):
        monkeypatch.setattr(sampler, name, refuse)
    assert len(family_problems()) >= 66
    tree = ast.parse(Path(families_module.__file__).read_text(encoding="utf-8"))
    from_sampler = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                    and node.module == "gbwm_sb3.problem.sampler" for alias in node.names}
    assert from_sampler == {"funding_ratio"}  # a measurement, not a draw


def test_every_problem_is_valid_and_scorable_by_the_network(problems) -> None:
    for name, group in problems.items():
        for problem in group:
            assert isinstance(problem, GBWMProblem)
            assert math.isfinite(funding_ratio(problem)) and problem.total_utility > 0
            assert problem.max_decisions <= 64 and problem.num_portfolios <= 20, name
            assert min(problem.infusions, default=0.0) >= 0.0, name  # no withdrawals
            vols = problem.portfolios.volatility_array
            assert np.all(np.diff(problem.portfolios.mean_array) > 0), name
            assert np.all(np.diff(vols) >= -1e-12), name  # efficient: risk grows with mean


# ----- each family does what its description says -----
def test_utility_unrelated_even_seeds_independent_odd_seeds_inverse(problems) -> None:
    def rank_correlation(x: list[float], y: list[float]) -> float:
        rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
        return float(np.corrcoef(rx, ry)[0, 1])

    f = family("utility_unrelated")
    inverse = [rank_correlation([g.cost for g in p.goals], [g.utility for g in p.goals])
               for s, p in zip(f.seeds, problems[f.name], strict=True) if s % 2 == 1]
    independent = [rank_correlation([g.cost for g in p.goals], [g.utility for g in p.goals])
                   for s, p in zip(f.seeds, problems[f.name], strict=True) if s % 2 == 0]
    assert max(inverse) < -0.5
    assert abs(float(np.mean(independent))) < 0.3


def test_dominated_levels_have_a_dominated_or_near_tied_level(problems) -> None:
    for problem in problems["dominated_levels"]:
        assert all(g.num_levels >= 2 for g in problem.goals)
        flawed = [g for g in problem.goals
                  if any(ci >= cj and ui <= 1.021 * uj
                         for i, (ci, ui) in enumerate(g.levels)
                         for j, (cj, uj) in enumerate(g.levels) if i != j)]
        assert flawed, problem


def test_crowded_years_have_a_year_of_27_to_64_decisions(problems) -> None:
    assert all(27 <= math.prod(k + 1 for k in p) <= 64 for p in CROWDED_LEVEL_PATTERNS)
    assert 64 <= MAX_DECISIONS_PER_YEAR
    for problem in problems["crowded_years"]:
        year, count = _decisions_per_year(problem).most_common(1)[0]
        assert 27 <= count <= 64 and year < problem.horizon
        due = problem.goals_at(year)
        assert 3 <= len(due) <= 4 and any(g.num_levels > 1 for g in due)
        assert len(problem.decisions(year)) == count


def test_retirement_income_has_a_goal_every_year_of_its_tail(problems) -> None:
    for problem in problems["retirement_income"]:
        assert 20 <= problem.horizon <= 60
        income = sorted(g.time for g in problem.goals if (g.name or "").startswith("income"))
        assert 10 <= len(income) <= 30
        assert income == list(range(problem.horizon - len(income) + 1, problem.horizon + 1))
        assert problem.infusions  # savings in the working years
        first = income[0]
        assert all(v > 0 for v in problem.infusions[:first])
        assert not any(problem.infusions[first:])
    assert any(DEFAULT_ENVELOPE.contains(p) for p in problems["retirement_income"])


def test_long_horizon_spans_41_to_100_years_with_a_bequest(problems) -> None:
    horizons = [p.horizon for p in problems["long_horizon"]]
    assert min(horizons) >= 41 and max(horizons) <= 100
    assert min(horizons) <= 45 and max(horizons) >= 95  # spread over the seeds
    for problem in problems["long_horizon"]:
        assert any(g.name == "bequest" and g.time == problem.horizon for g in problem.goals)
        assert any(r.startswith("horizon") for r in DEFAULT_ENVELOPE.contains(problem))


def test_frontiers_run_from_very_flat_to_very_volatile(problems) -> None:
    tops = sorted(float(p.portfolios.volatility_array.max())
                  for p in problems["volatile_or_flat_frontiers"])
    assert tops[0] >= 0.03 - 1e-9 and tops[-1] <= 0.5 + 1e-9
    assert sum(t <= 0.05 for t in tops) >= 3  # very flat: top volatility 3-5%
    assert tops[-1] > 0.4  # beyond the envelope's 0.4
    rng = family_rng("volatile_or_flat_frontiers", 99)
    portfolios = families_module.volatility_frontier(rng, 0.25, 8)
    assert portfolios.volatility_array.max() == pytest.approx(0.25, rel=1e-9)


def test_underfunded_funding_ratios_lie_in_0_1_to_0_3(problems) -> None:
    ratios = [funding_ratio(p) for p in problems["underfunded"]]
    assert min(ratios) >= 0.1 - 1e-9 and max(ratios) <= 0.3 + 1e-9
    assert min(ratios) < 0.12 and max(ratios) > 0.28  # spread over the range


def test_published_holds_the_paper_and_das_problems(problems) -> None:
    group = problems["published"]
    assert len(group) == 5 + 6 + 4
    assert group[:5] == [paper_problem(ng) for ng in PAPER_NUM_GOALS]
    das_2020 = group[5:11]
    for cash_flow, problem in enumerate(das_2020):
        assert problem.horizon == 10 and problem.initial_wealth == 100.0
        assert [(g.time, g.cost, g.utility) for g in problem.goals] == [(10, 200.0, 1.0)]
        assert problem.infusion_by_time.tolist() == [0.0] + [float(cash_flow)] * 9 + [0.0]
        assert problem.portfolios == paper_portfolios()
    costs = [tuple(g.cost for g in p.goals) for p in group[11:]]
    assert costs == [(100.0, 150.0)] * 3 + [(150.0, 100.0)]
    assert all(not DEFAULT_ENVELOPE.contains(p) for p in group)


def test_meta_rl_draws_match_the_described_test_set(problems) -> None:
    f = family("meta_rl_draws")
    group = problems[f.name]
    assert all(3 <= p.horizon <= 100 and 1 <= len(p.goals) <= 60 for p in group)
    with_savings = [bool(p.infusions) for p in group]
    assert with_savings == [s % 2 == 0 for s in f.seeds]  # half with cash infusions
    every_year = [p for p in group if len(p.goals) >= 5
                  and sorted(g.time for g in p.goals)
                  == list(range(p.horizon - len(p.goals) + 1, p.horizon + 1))]
    assert every_year  # a goal in every year is common


# ----- the runner -----
def test_runner_scores_inside_refuses_and_scores_beyond_then_resumes(tmp_path) -> None:
    suite = family_problems("published")[4:6]  # paper NG = 16 (T = 16), Das 2020 C = 0
    envelope = ProblemEnvelope(horizon=(1, 12))  # refuses T = 16
    calls = []

    def inside(problem):
        calls.append("inside")
        return solve_dp(problem)

    def beyond(problem):
        calls.append("beyond")
        return solve_dp(problem)

    out = tmp_path / "out"
    records = run_family_benchmark(inside, suite, envelope, n_paths=200, seed=1,
                                   beyond_factory=beyond, settings={"k": 1}, out=out,
                                   progress=None)
    assert [r["scope"] for r in records] == ["beyond", "inside"] and calls == ["beyond",
                                                                                "inside"]
    assert records[0]["refused"] and "horizon: 16 years" in records[0]["refused"][0]
    assert records[1]["refused"] == []
    assert all(r["efficiency"] == pytest.approx(1.0) for r in records)
    assert [r["name"] for r in read_results(out)] == [item.name for item in suite]
    summary = (out / SUMMARY_FILE).read_text()
    assert "| published | independent | 2 | 1 |" in summary and "Refused problems" in summary
    with pytest.raises(FileExistsError, match="resume=True"):
        run_family_benchmark(inside, suite, envelope, 200, 1, out=out, progress=None)
    with pytest.raises(ValueError, match="other settings"):
        run_family_benchmark(inside, suite, envelope, 300, 1, settings={"k": 1}, out=out,
                             resume=True, progress=None)
    # an interrupted run: the first line kept, the second problem scored again
    lines = (out / RESULTS_FILE).read_text().splitlines()
    (out / RESULTS_FILE).write_text(lines[0] + "\n")
    calls.clear()
    again = run_family_benchmark(inside, suite, envelope, 200, 1, beyond_factory=beyond,
                                 settings={"k": 1}, out=out, resume=True, progress=None)
    assert calls == ["inside"] and again[0] == records[0]
    unscored = run_family_benchmark(inside, suite[:1], envelope, 200, 1, progress=None)
    assert unscored[0]["scope"] == "unscored" and unscored[0]["efficiency"] is None
    assert "not scored" in summarise_families(unscored)


def test_runner_fine_tunes_beyond_the_envelope_only_where_fine_tune_accepts() -> None:
    suite = family_problems("published")[4:6]  # paper NG = 16 (T = 16), Das 2020 C = 0
    envelope = ProblemEnvelope(horizon=(1, 12))  # refuses T = 16
    tuned = []

    def fine_tuned(problem):
        tuned.append(problem.horizon)
        return solve_dp(problem)

    def run(fine_tune_envelope):
        return run_family_benchmark(solve_dp, suite, envelope, 200, 1, beyond_factory=solve_dp,
                                    fine_tune_factory=fine_tuned,
                                    fine_tune_envelope=fine_tune_envelope, progress=None)

    wider = run(ProblemEnvelope(horizon=(1, 16)))
    assert [r["scope"] for r in wider] == ["beyond", "inside"]
    assert [r["fine_tuned_efficiency"] for r in wider] == [pytest.approx(1.0)] * 2
    table = family_table(wider)
    assert table[0].endswith("| fine-tuned: count | fine-tuned: mean | fine-tuned: min |")
    assert table[-1].endswith("| 2 | 1.0000 | 1.0000 |")
    assert tuned == [16, suite[1].problem.horizon]
    tuned.clear()
    for fine_tune_envelope in (None, ProblemEnvelope(horizon=(1, 15))):
        records = run(fine_tune_envelope)
        assert records[0]["fine_tuned_efficiency"] is None
        assert records[1]["fine_tuned_efficiency"] == pytest.approx(1.0)
        assert family_table(records)[-1].endswith("| 1 | 1.0000 | 1.0000 |")
    assert tuned == [suite[1].problem.horizon] * 2


# ----- the scripts -----
def _load_script(name: str, relative: str):
    """The script at ``ROOT / relative`` imported as module ``name``."""
    spec = importlib.util.spec_from_file_location(name, ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script():
    return _load_script("benchmark_pretrained_families", "examples/benchmark_pretrained.py")


def test_script_accepts_family_names_and_all(script, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the default --out is relative and must be free
    args = script.parse_args(["--family", "underfunded", "published"])
    assert args.family == ["underfunded", "published"] and args.categories is None
    assert args.out == Path("docs/results/pretrained-families")
    args = script.parse_args(["--family", "all", "--out", str(tmp_path / "o")])
    assert args.family == ["all"]
    assert script.parse_args(["--out", str(tmp_path / "o")]).family is None
    assert script.parse_args([]).out == Path("docs/results/pretrained")  # the suite's default


@pytest.mark.parametrize("argv, message", [
    (["--family", "nope"], r"argument --family: invalid choice: nope \(choose from "
                           r"utility_unrelated, .*, all\)"),
    (["--family"], r"argument --family: expected at least one argument"),
    (["--family", "published", "--categories", "paper"],
     r"argument --categories: not allowed with argument --family"),
    (["--no-beyond"], r"argument --no-beyond: only with --family"),
    (["--family", "all", "--resume", "--overwrite"], r"--resume: not allowed with argument "
                                                     r"--overwrite"),
])
def test_script_refuses_bad_family_options(script, argv, message, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        script.parse_args([*argv, "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.replace("'", "")  # quoting differs between Pythons
    assert re.search(message, err), err


def test_script_runs_families_with_the_shipped_weights(script, tmp_path, capsys) -> None:
    out = tmp_path / "families"
    script.main(["--family", "underfunded", "--limit", "1", "--paths", "300", "--out",
                 str(out)])
    (record,) = read_results(out)  # funding ratio 0.1: refused by the acceptance envelope
    assert record["scope"] == "beyond" and record["refused"][0].startswith("funding_ratio")
    assert 0.3 < record["efficiency"] <= 1.05
    assert record["settings"]["lookahead"] == recommended_lookahead() == 1
    printed = capsys.readouterr().out
    assert "| underfunded | independent | 1 | 0 | n/a | n/a | 1 |" in printed
    with pytest.raises(SystemExit):
        script.main(["--family", "underfunded", "--limit", "1", "--out", str(out)])
    assert "--resume" in capsys.readouterr().err
    script.main(["--family", "published", "--limit", "1", "--paths", "300", "--out",
                 str(tmp_path / "inside"), "--lookahead", "1"])
    (inside,) = read_results(tmp_path / "inside")
    assert inside["scope"] == "inside" and inside["refused"] == []
    assert "lookahead 1" in (tmp_path / "inside" / SUMMARY_FILE).read_text()


def test_compare_script_puts_any_number_of_runs_side_by_side(tmp_path, capsys,
                                                            monkeypatch) -> None:
    names = ["crowded_years-00", "crowded_years-01", "underfunded-00"]
    scores = {"a": [0.99, 0.93, 0.90], "b": [0.98, 0.97, 0.95], "c": [1.0, 0.96]}
    files = []
    for label, values in scores.items():
        (tmp_path / label).mkdir()
        path = tmp_path / label / "results.jsonl"
        path.write_text("".join(f'{{"name": "{n}", "efficiency": {v}}}\n'
                                for n, v in zip(names, values, strict=False)))
        files.append(str(path))
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # as when run from there
    script = _load_script("compare_family_results", "benchmarks/compare_family_results.py")
    assert script.main(files) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| family | accepted | a: mean | min | b: mean | min | c: mean")
    crowded = next(line for line in lines if line.startswith("| crowded_years "))
    # the shipped envelope accepts both crowded problems; run c has no underfunded-00,
    # so that problem is left out of every run's figures
    assert crowded.split("|")[2:9] == [" 2 ", " 0.9600 ", " 0.9300 ", " 0.9750 ", " 0.9700 ",
                                       " 0.9800 ", " 0.9600 "]
    assert crowded.split("|")[9:12] == [" 1 ", " 0 ", " 0 "]
    assert all(len(line.split("|")) == len(lines[1].split("|")) for line in lines)
    with pytest.raises(SystemExit):
        script.main([*files, "--labels", "x", "y"])
    assert "--labels: 2 given for 3 results files" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        script.main([files[0], str(tmp_path / "none.jsonl")])
    assert "results file not found" in capsys.readouterr().err


def test_compare_script_reads_the_probe_problems(tmp_path, capsys, monkeypatch) -> None:
    """``--seeds`` / ``--full-range``: the problems of envelope_probe.py, placed by the
    shipped envelope as the family benchmark's are."""
    from gbwm_sb3.pretrained.families import META_RL_FULL_RANGE
    from gbwm_sb3.pretrained.loading import accepted_envelope

    names = ["crowded_years-70", "underfunded-70", "meta_rl_full_range-360",
             "meta_rl_full_range-361"]
    path = tmp_path / "a" / "results.jsonl"
    path.parent.mkdir()
    path.write_text("".join(f'{{"name": "{n}", "efficiency": {0.9 + i / 100}}}\n'
                            for i, n in enumerate(names)))
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # as when run from there
    script = _load_script("compare_family_results", "benchmarks/compare_family_results.py")
    assert script.main([str(path), "--seeds", "70", "71", "--full-range", "360", "362"]) == 0
    rows = {line.split("|")[1].strip(): line.split("|")
            for line in capsys.readouterr().out.splitlines()[2:]}
    assert "published" not in rows and len(rows) == len(script.SEEDED_FAMILIES) + 2
    assert rows["crowded_years"][2:5] == [" 1 ", " 0.9000 ", " 0.9000 "]
    envelope = accepted_envelope()
    others = [family("underfunded").problem(70),
              *(META_RL_FULL_RANGE.problem(seed) for seed in (360, 361))]
    inside = 1 + sum(not envelope.contains(problem) for problem in others)  # no refusals
    assert int(rows["all"][2]) == inside and int(rows["all"][6]) == 4 - inside
    with pytest.raises(SystemExit):
        script.main([str(path), "--seeds", "71", "70"])
    assert "--seeds: LO must be below HI" in capsys.readouterr().err


def test_funding_band_script_compares_runs_on_the_problems_all_scored(tmp_path, capsys,
                                                                      monkeypatch) -> None:
    # name, funding ratio, efficiency in runs a and b (b lacks the last problem)
    rows = [("p1", 0.12, 0.90, 0.96), ("p2", 0.18, 0.99, 0.94), ("p3", 0.3, 0.97, 0.98),
            ("p4", 2.0, 1.0, 0.99), ("p5", 0.13, 0.5, None)]
    files = []
    for label, column in (("a", 2), ("b", 3)):
        (tmp_path / label).mkdir()
        path = tmp_path / label / "results.jsonl"
        path.write_text("".join(
            f'{{"name": "{r[0]}", "funding_ratio": {r[1]}, "efficiency": {r[column]}}}\n'
            for r in rows if r[column] is not None)
            + '{"name": "p6", "funding_ratio": 0.5, "efficiency": null}\n')
        files.append(str(path))
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # as when run from there
    script = _load_script("compare_funding_bands", "benchmarks/compare_funding_bands.py")
    assert script.main(files) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("4 problems scored by every run")
    assert lines[2] == "| funding ratio | problems | a | b |"
    under = next(line for line in lines if line.startswith("| under 0.25 "))
    assert under == "| under 0.25 | 2 | 0.9450 / 0.900 / 1 | 0.9500 / 0.940 / 1 |"
    every = next(line for line in lines if line.startswith("| all "))
    assert every == "| all | 4 | 0.9650 / 0.900 / 1 | 0.9675 / 0.940 / 1 |"
    assert not any(line.startswith("| 0.20-0.25 ") for line in lines)  # no problem there
    with pytest.raises(SystemExit):
        script.main([*files, "--labels", "x"])
    assert "--labels: 1 given for 2 results files" in capsys.readouterr().err
