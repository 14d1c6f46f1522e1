"""Market models (the law of the yearly shock): validation, the problem-file section,
the shocks' law and draws, and withdrawals (negative savings) in problems and files."""

from __future__ import annotations

import dataclasses
import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate
from scipy.special import ndtr

from gbwm_sb3.problem import (
    GBWMProblem,
    Goal,
    LognormalMarket,
    StudentTMarket,
    market_from_mapping,
    paper_problem,
)
from gbwm_sb3.problem.files import (
    ProblemFileError,
    dump_problem_text,
    load_problem,
    problem_to_dict,
    save_problem,
)
from gbwm_sb3.problem.market import MarketError

GOOD = """\
horizon: 10
initial_wealth: 100.0
goals:
  - {time: 5, cost: 60.0, utility: 10.0}
  - {time: 10, cost: 80.0, utility: 20.0}
portfolios:
  means: [0.03, 0.06]
  volatilities: [0.05, 0.15]
"""
MARKETS = (LognormalMarket(), StudentTMarket(3), StudentTMarket(4.5), StudentTMarket(10),
           StudentTMarket(1000))


def write(tmp_path: Path, text: str, name: str = "client.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ----------------------------------------------------------------------------- the models
@pytest.mark.parametrize("value", [1.5, 2, 2.0, -3.0, 1000.5, math.inf, math.nan, True, "5",
                                   None, [5]])
def test_degrees_of_freedom_outside_the_range_are_refused_naming_the_field(value) -> None:
    with pytest.raises(ValueError, match=r"^degrees_of_freedom must be a number in "
                                         r"\(2, 1000\], got "):
        StudentTMarket(value)


def test_the_error_message_states_field_range_and_value() -> None:
    with pytest.raises(MarketError) as info:
        StudentTMarket(1.5)
    assert str(info.value) == "degrees_of_freedom must be a number in (2, 1000], got 1.5"
    assert info.value.field == "degrees_of_freedom"


def test_markets_are_hashable_values() -> None:
    assert StudentTMarket(5) == StudentTMarket(5.0)
    assert hash(StudentTMarket(5)) == hash(StudentTMarket(5.0))
    assert StudentTMarket(5) != StudentTMarket(6) and StudentTMarket(5) != LognormalMarket()
    assert LognormalMarket() == LognormalMarket()
    assert len({LognormalMarket(), LognormalMarket(), StudentTMarket(4), StudentTMarket(4.0)}) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        StudentTMarket(5).degrees_of_freedom = 6.0  # type: ignore[misc]


def test_problems_with_markets_are_cache_keys() -> None:
    calls = []

    @lru_cache(maxsize=8)
    def solve(problem: GBWMProblem) -> int:
        calls.append(problem)
        return len(calls)

    base = paper_problem(2)
    fat = dataclasses.replace(base, market=StudentTMarket(4))
    assert solve(base) == 1 and solve(fat) == 2
    assert solve(dataclasses.replace(base, market=StudentTMarket(4.0))) == 2
    assert solve(paper_problem(2)) == 1


@pytest.mark.parametrize("market", MARKETS, ids=str)
def test_mapping_round_trip(market) -> None:
    mapping = market.to_mapping()
    assert json.loads(json.dumps(mapping)) == mapping
    assert market_from_mapping(mapping) == market
    assert mapping["model"] == market.name
    assert market.name in market.describe()


@pytest.mark.parametrize(("mapping", "field", "text"), [
    ({}, "model", "is missing"),
    ({"model": "gbm"}, "model",
     "must be one of lognormal, student_t, empirical, regimes, got 'gbm'"),
    ({"model": 3}, "model", "must be one of"),
    ({"model": "student_t"}, "degrees_of_freedom", "is missing"),
    ({"model": "student_t", "degrees_of_freedom": 1.5}, "degrees_of_freedom",
     "must be a number in (2, 1000], got 1.5"),
    ({"model": "lognormal", "degrees_of_freedom": 5}, "degrees_of_freedom",
     "not a field of a lognormal market"),
    ({"model": "student_t", "degrees_of_freedom": 5, "nu": 5}, "nu", "not a field"),
    ([1, 2], "", "must be a mapping"),
])
def test_market_from_mapping_names_the_field(mapping, field, text) -> None:
    with pytest.raises(MarketError) as info:
        market_from_mapping(mapping)
    assert info.value.field == field
    assert text in str(info.value)


# ----------------------------------------------------------------------------- the law
@pytest.mark.parametrize("market", MARKETS, ids=str)
def test_density_has_mean_zero_and_unit_variance(market) -> None:
    def moment(k: int) -> float:
        return integrate.quad(lambda z: z**k * float(market.pdf(z)), -np.inf, np.inf,
                              limit=200)[0]

    assert moment(0) == pytest.approx(1.0, abs=1e-8)
    assert moment(1) == pytest.approx(0.0, abs=1e-8)
    assert moment(2) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("market", MARKETS, ids=str)
def test_cdf_pdf_and_upper_mean_agree(market) -> None:
    z = np.linspace(-6.0, 6.0, 25)
    step = 1e-5
    slope = (market.cdf(z + step) - market.cdf(z - step)) / (2 * step)
    np.testing.assert_allclose(slope, market.pdf(z), rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(market.cdf(z) + market.cdf(-z), 1.0, atol=1e-15)
    for point in (-2.0, 0.0, 0.5, 3.0):
        tail = integrate.quad(lambda u: u * float(market.pdf(u)), point, np.inf)[0]
        assert float(market.upper_mean(point)) == pytest.approx(tail, rel=1e-8, abs=1e-12)


@pytest.mark.parametrize("market", MARKETS, ids=str)
def test_tail_quantile_holds_the_normal_tail_mass(market) -> None:
    for sigmas in (3.0, 7.0, 8.0):
        q = market.tail_quantile(sigmas)
        assert float(market.cdf(-q)) == pytest.approx(float(ndtr(-sigmas)), rel=1e-6)
        assert q >= sigmas - 1e-9  # a fat tail reaches further
    assert LognormalMarket().tail_quantile(7.0) == 7.0


def test_student_t_tends_to_the_normal_law() -> None:
    z = np.linspace(-4.0, 4.0, 17)
    np.testing.assert_allclose(StudentTMarket(1000).cdf(z), ndtr(z), atol=2e-3)
    assert float(StudentTMarket(3).pdf(0.0)) > float(LognormalMarket().pdf(0.0))  # peaked ...
    assert float(StudentTMarket(3).cdf(-5.0)) > 100 * float(ndtr(-5.0))  # ... fat tailed


def test_lognormal_draws_are_the_standard_normal_draws_bit_for_bit() -> None:
    market = LognormalMarket()
    for shape in (7, (3, 5), (16, 8192)):
        expected = np.random.default_rng(42).standard_normal(shape)
        np.testing.assert_array_equal(market.draw_shocks(np.random.default_rng(42), shape),
                                      expected)
    rng, reference = np.random.default_rng(3), np.random.default_rng(3)
    assert [market.draw_shock(rng) for _ in range(5)] == [
        float(reference.standard_normal()) for _ in range(5)]


def test_student_t_draws_are_seeded_and_scaled() -> None:
    market = StudentTMarket(5)
    first = market.draw_shocks(np.random.default_rng(9), (4, 6))
    np.testing.assert_array_equal(first, market.draw_shocks(np.random.default_rng(9), (4, 6)))
    expected = np.random.default_rng(9).standard_t(5.0, (4, 6)) * math.sqrt(3.0 / 5.0)
    np.testing.assert_array_equal(first, expected)
    assert market.draw_shock(np.random.default_rng(1)) == pytest.approx(
        float(market.draw_shocks(np.random.default_rng(1), 1)[0]))


@pytest.mark.parametrize("market", [LognormalMarket(), StudentTMarket(6), StudentTMarket(10)],
                         ids=str)
def test_shocks_have_mean_zero_and_unit_variance(market) -> None:
    """Within 4 standard errors (the fourth moment is finite for nu > 4)."""
    n = 400_000
    z = market.draw_shocks(np.random.default_rng(2024), n)
    assert abs(z.mean()) < 4.0 * math.sqrt(1.0 / n)
    nu = getattr(market, "degrees_of_freedom", math.inf)
    kurtosis = 3.0 + (6.0 / (nu - 4.0) if math.isfinite(nu) else 0.0)
    assert abs(z.var() - 1.0) < 4.0 * math.sqrt((kurtosis - 1.0) / n)


@pytest.mark.parametrize("nu", [2.5, 3.0, 4.0])
def test_fat_tailed_draws_follow_the_cdf(nu) -> None:
    """The variance converges too slowly to be measured for nu <= 4: compare the draws'
    empirical distribution function with ``cdf`` instead (4 standard errors)."""
    market = StudentTMarket(nu)
    n = 200_000
    z = market.draw_shocks(np.random.default_rng(5), n)
    for point in (-4.0, -1.0, -0.2, 0.0, 0.7, 2.0, 5.0):
        p = float(market.cdf(point))
        assert abs((z <= point).mean() - p) < 4.0 * math.sqrt(p * (1.0 - p) / n) + 1e-6


# ----------------------------------------------------------------------------- problems
def test_problem_market_defaults_to_lognormal_and_is_validated() -> None:
    problem = paper_problem(4)
    assert problem.market == LognormalMarket() and problem.in_paper_family
    fat = dataclasses.replace(problem, market=StudentTMarket(4))
    assert not fat.in_paper_family
    assert fat.scaled(2.0).market == StudentTMarket(4)
    assert fat != problem
    with pytest.raises(ValueError, match="market must be a Market"):
        dataclasses.replace(problem, market={"model": "student_t", "degrees_of_freedom": 4})


def test_withdrawals_are_negative_infusions() -> None:
    problem = GBWMProblem(horizon=4, initial_wealth=10.0, goals=(Goal(4, 5.0, 1.0),),
                          infusions=[0.0, -1.0, 2.0, -3.0])
    assert problem.infusions == (0.0, -1.0, 2.0, -3.0)
    assert not problem.in_paper_family
    assert problem.scaled(2.0).infusions == (0.0, -2.0, 4.0, -6.0)
    mapping = GBWMProblem(horizon=4, initial_wealth=10.0, goals=(Goal(4, 5.0, 1.0),),
                          infusions={3: -1e15})
    assert mapping.infusions == (0.0, 0.0, 0.0, -1e15)
    for bad, text in ((-2e15, r"infusions\[1\] must be a number in \[-1e\+15, 1e\+15\]"),
                      (-1e-12, r"infusions\[1\] must be 0 or of magnitude >= 1e-09")):
        with pytest.raises(ValueError, match=text):
            GBWMProblem(horizon=4, initial_wealth=10.0, goals=(Goal(4, 5.0, 1.0),),
                        infusions=[0.0, bad, 0.0, 0.0])


# ----------------------------------------------------------------------------- files
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
@pytest.mark.parametrize("market", MARKETS, ids=str)
def test_problem_files_round_trip_the_market_and_withdrawals(tmp_path, suffix, market) -> None:
    problem = GBWMProblem(horizon=10, initial_wealth=100.0, goals=(Goal(10, 200.0, 1.0),),
                          infusions=[0.0] + [-1.5] * 4 + [2.0] * 5, market=market)
    path = save_problem(problem, tmp_path / f"p{suffix}")
    assert load_problem(path) == problem
    data = problem_to_dict(problem)
    if market == LognormalMarket():
        assert "market" not in data  # files of lognormal problems are unchanged
    else:
        assert data["market"] == market.to_mapping()


def test_market_section_forms(tmp_path) -> None:
    fat = load_problem(write(tmp_path,
                             GOOD + "market: {model: student_t, degrees_of_freedom: 5}\n"))
    assert fat.market == StudentTMarket(5)
    assert load_problem(write(tmp_path, GOOD + "market: lognormal\n")).market == LognormalMarket()
    assert load_problem(write(tmp_path, GOOD + "market: {model: lognormal}\n")) == \
        load_problem(write(tmp_path, GOOD))
    paper = load_problem(write(tmp_path, "paper: 4\nmarket: {model: student_t, "
                                         "degrees_of_freedom: 4}\n"))
    assert paper == dataclasses.replace(paper_problem(4), market=StudentTMarket(4))
    text = dump_problem_text(fat)
    assert "market: {model: student_t, degrees_of_freedom: 5.0}" in text


def test_negative_savings_are_withdrawals_in_files(tmp_path) -> None:
    ranges = load_problem(write(tmp_path, GOOD + "savings:\n  - {amount: 10, from: 0, to: 4}\n"
                                               "  - {amount: -4, from: 3, to: 9}\n"))
    assert ranges.infusions == (10.0, 10.0, 10.0, 6.0, 6.0, -4.0, -4.0, -4.0, -4.0, -4.0)
    listed = load_problem(write(tmp_path, GOOD + "savings: [0, -1, -1, 0, 0, 0, 0, 0, 0, -2]\n"))
    assert listed.infusions[:3] == (0.0, -1.0, -1.0) and listed.infusions[9] == -2.0


@pytest.mark.parametrize(("section", "field", "text"), [
    ("market: {model: student_t, degrees_of_freedom: 1.5}", "market.degrees_of_freedom",
     "must be a number in (2, 1000], got 1.5"),
    ("market: {model: student_t, degrees_of_freedom: 1001}", "market.degrees_of_freedom",
     "(2, 1000]"),
    ("market: {model: student_t, degrees_of_freedom: .nan}", "market.degrees_of_freedom",
     "finite"),
    ("market: {model: student_t, degrees_of_freedom: '5'}", "market.degrees_of_freedom",
     "must be a number"),
    ("market: {model: student_t}", "market.degrees_of_freedom", "missing required field"),
    ("market: student_t", "market.degrees_of_freedom", "missing required field"),
    ("market: {model: garch}", "market.model", "must be one of lognormal, student_t"),
    ("market: {degrees_of_freedom: 4}", "market.model", "missing required field"),
    ("market: {model: lognormal, degrees_of_freedom: 4}", "market.degrees_of_freedom",
     "not a field of a lognormal market"),
    ("market: {model: student_t, degrees_of_freedom: 4, skew: 1}", "market.skew",
     "unknown field"),
    ("market: [student_t, 4]", "market", "must be a mapping"),
    ("savings: [{amount: -2e15}]", "savings[0].amount", "number in [-1e+15, 1e+15]"),
])
def test_bad_market_sections_name_file_and_field(tmp_path, section, field, text) -> None:
    path = write(tmp_path, GOOD + section + "\n")
    with pytest.raises(ProblemFileError) as info:
        load_problem(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {field}: "), message
    assert info.value.field == field
    assert text in message, message
