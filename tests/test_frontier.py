"""Efficient frontier from asset means and covariance."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gbwm_sb3.problem import EfficientFrontier, efficient_frontier, paper_portfolios
from gbwm_sb3.problem.frontier import PAPER_ASSET_COVARIANCE, PAPER_ASSET_MEANS

PAPER_MEAN_RANGE = (0.052632, 0.088636)


def test_paper_inputs_reproduce_table_within_one_percent():
    ports = efficient_frontier(PAPER_ASSET_MEANS, PAPER_ASSET_COVARIANCE, 15, PAPER_MEAN_RANGE)
    table = paper_portfolios()
    np.testing.assert_allclose(ports.mean_array, table.mean_array, rtol=1e-12)
    np.testing.assert_allclose(ports.volatility_array, table.volatility_array, rtol=0.01)
    # The spec's stated ends of the frontier of the rounded inputs.
    assert ports.volatilities[0] == pytest.approx(0.037046, abs=2e-6)
    assert ports.volatilities[-1] == pytest.approx(0.195389, abs=2e-6)


def test_frontier_weights_meet_constraints_and_minimise_variance():
    frontier = EfficientFrontier(PAPER_ASSET_MEANS, PAPER_ASSET_COVARIANCE)
    targets = np.linspace(0.055, 0.09, 5)
    weights = frontier.weights(targets)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(weights @ np.asarray(PAPER_ASSET_MEANS), targets, atol=1e-12)
    cov = np.asarray(PAPER_ASSET_COVARIANCE)
    # Any other budget- and mean-feasible portfolio has at least the frontier variance:
    # feasible directions are the null space of [means; ones].
    direction = np.cross(np.asarray(PAPER_ASSET_MEANS), np.ones(3))
    for w, vol in zip(weights, frontier.volatility(targets), strict=True):
        assert np.sqrt(w @ cov @ w) == pytest.approx(vol, rel=1e-12)
        for step in (-0.05, 0.05):
            other = w + step * direction
            assert other @ cov @ other > w @ cov @ w


def test_global_minimum_variance_portfolio():
    frontier = EfficientFrontier(PAPER_ASSET_MEANS, PAPER_ASSET_COVARIANCE)
    vols = frontier.volatility(np.linspace(frontier.min_mean - 0.01, frontier.min_mean + 0.01, 201))
    assert frontier.min_volatility == pytest.approx(vols.min(), rel=1e-6)
    assert frontier.min_volatility <= vols.min() + 1e-15


def test_default_mean_range_runs_from_min_variance_to_top_asset():
    frontier = EfficientFrontier(PAPER_ASSET_MEANS, PAPER_ASSET_COVARIANCE)
    ports = frontier.portfolios(4)
    assert ports.means[0] == pytest.approx(frontier.min_mean)
    assert ports.means[-1] == pytest.approx(max(PAPER_ASSET_MEANS))
    assert np.all(np.diff(ports.volatility_array) > 0)


def test_two_uncorrelated_assets_closed_form():
    # Two assets, zero correlation: the 50/50 mix of equal-variance assets has variance s^2 / 2.
    ports = efficient_frontier([0.02, 0.06], [[0.04, 0.0], [0.0, 0.04]], 1, (0.04, 0.04))
    assert ports.volatilities[0] == pytest.approx(math.sqrt(0.02), rel=1e-12)


# ----- validation -----
def test_non_symmetric_covariance():
    cov = np.array(PAPER_ASSET_COVARIANCE)
    cov[0, 1] += 0.001
    with pytest.raises(ValueError, match="covariance must be symmetric"):
        EfficientFrontier(PAPER_ASSET_MEANS, cov)


def test_non_psd_covariance():
    cov = [[0.04, 0.05], [0.05, 0.04]]  # eigenvalues 0.09 and -0.01
    with pytest.raises(ValueError, match="positive semi-definite"):
        EfficientFrontier([0.03, 0.06], cov)


@pytest.mark.parametrize("cov", [[[0.04, 0.0], [0.0, 0.04]], np.eye(4)])
def test_covariance_shape_must_match_means(cov):
    with pytest.raises(ValueError, match="covariance must be a 3x3 matrix"):
        EfficientFrontier([0.03, 0.05, 0.07], cov)


def test_covariance_must_be_finite():
    with pytest.raises(ValueError, match="covariance must contain only finite"):
        EfficientFrontier([0.03, 0.06], [[0.04, math.nan], [math.nan, 0.04]])


@pytest.mark.parametrize("means", [[0.05], [0.03, math.nan], [[0.03, 0.05]]])
def test_bad_asset_means(means):
    with pytest.raises(ValueError, match="asset_means"):
        EfficientFrontier(means, np.eye(len(means)) * 0.01)


def test_degenerate_frontier():
    with pytest.raises(ValueError, match="do not define a frontier"):
        EfficientFrontier([0.05, 0.05], [[0.04, 0.0], [0.0, 0.09]])


def test_mean_range_below_minimum_variance_mean():
    frontier = EfficientFrontier(PAPER_ASSET_MEANS, PAPER_ASSET_COVARIANCE)
    with pytest.raises(ValueError, match="mean_range must lie on the efficient frontier"):
        frontier.portfolios(15, (frontier.min_mean - 0.005, 0.08))


@pytest.mark.parametrize("mean_range", [(0.08, 0.06), (0.06, math.nan), (0.06,)])
def test_bad_mean_range(mean_range):
    with pytest.raises(ValueError, match="mean_range"):
        efficient_frontier(PAPER_ASSET_MEANS, PAPER_ASSET_COVARIANCE, 5, mean_range)


@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_bad_portfolio_count(n):
    with pytest.raises(ValueError, match="n_portfolios"):
        efficient_frontier(PAPER_ASSET_MEANS, PAPER_ASSET_COVARIANCE, n, PAPER_MEAN_RANGE)
