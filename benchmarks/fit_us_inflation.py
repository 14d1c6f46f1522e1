"""The AR(1) of US yearly CPI inflation behind ``us_cpi_inflation`` and
``examples/problems/family_plan_us_cpi.yaml``.

    python benchmarks/fit_us_inflation.py                     # from the package's table
    python benchmarks/fit_us_inflation.py --from-statsmodels  # rebuild the table first

The table (``gbwm_sb3.problem.inflation.US_CPI_ANNUAL``) is the yearly average of the
quarterly US CPI (all urban consumers) of ``statsmodels.datasets.macrodata`` (FRED,
public domain), 1959-2008; ``--from-statsmodels`` (needs ``pip install statsmodels``)
rebuilds it from there and checks it against the package's copy. Prints the least-squares
AR(1) of the yearly log changes 1960-2008, its long-run moments, and the problem-file
``inflation:`` line.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from gbwm_sb3.problem.inflation import US_CPI_ANNUAL, fit_inflation


def table_from_statsmodels() -> tuple[float, ...]:
    """The yearly averages 1959-2008 of statsmodels' quarterly CPI (exact to 5 decimals)."""
    import statsmodels.api as sm

    data = sm.datasets.macrodata.load_pandas().data
    return tuple(round(sum(data[data.year == year].cpi.values.tolist()) / 4, 5)
                 for year in range(1959, 2009))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--from-statsmodels", action="store_true")
    args = parser.parse_args()
    table = US_CPI_ANNUAL
    if args.from_statsmodels:
        rebuilt = table_from_statsmodels()
        same = len(rebuilt) == len(table) and all(
            abs(a - b) < 1e-9 for a, b in zip(rebuilt, table, strict=True))
        print(f"statsmodels table: {len(rebuilt)} years, the package's copy "
              f"{'matches' if same else 'DIFFERS'}")
        table = rebuilt
    rates = np.diff(np.log(np.array(table)))
    model = fit_inflation(rates)
    mean, spread = model.stationary_moments()
    print(f"{len(rates)} yearly log rates 1960-2008: sample mean {rates.mean():.4%}, "
          f"standard deviation {rates.std(ddof=1):.4%}")
    print(f"AR(1): long-run {mean:.4%}, persistence {model.persistence:.5f}, innovation "
          f"volatility {model.volatility:.4%} (long-run sd {spread:.4%}, half-life "
          f"{math.log(0.5) / math.log(model.persistence):.1f} years), 2008's rate "
          f"{model.initial_rate:.4%}")
    print(f"inflation: {{mean: {model.mean:.6f}, persistence: {model.persistence:.5f}, "
          f"volatility: {model.volatility:.6f}, initial: {model.initial_rate:.6f}, "
          f"correlation: 0.0}}")


if __name__ == "__main__":
    main()
