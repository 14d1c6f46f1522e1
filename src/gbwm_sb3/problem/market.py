"""The law of a year's market shock: the economy a problem's wealth lives in.

Portfolio ``j`` grows wealth for one year by ``exp(mu_j - sigma_j^2 / 2 + sigma_j Z)``,
with one standardised shock ``Z`` (mean 0, variance 1) per year, independent across
years. A market model is the law of ``Z``:

* :class:`LognormalMarket` (the default): ``Z`` standard normal, geometric Brownian
  motion as in the paper;
* :class:`StudentTMarket`: fat tails, ``Z = T_nu sqrt((nu - 2) / nu)`` with ``T_nu`` a
  Student-t variable with ``nu`` degrees of freedom; the scaling gives ``Z`` unit
  variance, so the mean and variance of every log return are those of the lognormal
  market.

Each model gives what a simulator and the dynamic programme need: draws of ``Z``
(:meth:`Market.draw_shocks`; the lognormal market draws exactly
``rng.standard_normal(shape)``, so simulations stay bit for bit as they were), its
distribution function, density and upper partial mean, and the quantile that holds as
little tail mass as the normal law beyond a number of standard deviations. Both laws are
symmetric about 0. Markets are frozen (hashable) dataclasses: problems that hold one
serve as cache keys. :meth:`Market.to_mapping` and :func:`market_from_mapping` are the
problem-file form (``{model: student_t, degrees_of_freedom: 5}``).

SciPy is imported when a distribution function is first evaluated, not when this module
is imported (``import gbwm_sb3`` stays numpy-only).
"""

from __future__ import annotations

import math
import reprlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

__all__ = [
    "Market",
    "LognormalMarket",
    "StudentTMarket",
    "MarketError",
    "MARKET_MODELS",
    "MIN_DEGREES_OF_FREEDOM",
    "MAX_DEGREES_OF_FREEDOM",
    "DEGREES_OF_FREEDOM_RANGE",
    "market_from_mapping",
]

#: Degrees of freedom of a Student-t market: above 2 (a finite variance; excluded) ...
MIN_DEGREES_OF_FREEDOM = 2.0
#: ... and at most 1000 (beyond, the law is the normal one to 4 digits in the tails that
#: matter: use :class:`LognormalMarket`).
MAX_DEGREES_OF_FREEDOM = 1000.0
#: The allowed degrees of freedom, as error messages state them.
DEGREES_OF_FREEDOM_RANGE = (f"a number in ({MIN_DEGREES_OF_FREEDOM:g}, "
                            f"{MAX_DEGREES_OF_FREEDOM:g}]")
_SQRT_2PI = math.sqrt(2.0 * math.pi)

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 6
_SHORT.maxlevel = 3


class MarketError(ValueError):
    """A market description that is not allowed: ``field`` (``""`` for the whole
    description) and ``message``, which reads after the field's name
    (``degrees_of_freedom must be a number in (2, 1000], got 1.5``)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field} {message}" if field else f"market {message}")


def describe_value(value: object) -> str:
    """A refused value as error messages show it (bounded in length)."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, (bool, int, float, str, np.generic)):
        return _SHORT.repr(value)
    return f"{type(value).__name__} {_SHORT.repr(value)}"


class Market(ABC):
    """The law of the standardised yearly shock ``Z`` (mean 0, variance 1, symmetric).

    Subclasses are frozen dataclasses; ``model`` is the name used in problem files.
    """

    model: ClassVar[str]

    @abstractmethod
    def draw_shocks(self, rng: np.random.Generator, shape: int | tuple[int, ...]
                    ) -> np.ndarray:
        """Independent draws of ``Z`` of the given shape (float64)."""

    @abstractmethod
    def draw_shock(self, rng: np.random.Generator) -> float:
        """One draw of ``Z`` (the next value :meth:`draw_shocks` would give)."""

    @abstractmethod
    def cdf(self, z: np.ndarray | float) -> np.ndarray:
        """``P(Z <= z)``, elementwise."""

    def survival(self, z: np.ndarray | float) -> np.ndarray:
        """``P(Z > z)``, elementwise (``1 - cdf``; a law may give it more accurately)."""
        return 1.0 - self.cdf(z)

    @property
    def symmetric(self) -> bool:
        """Whether the law is symmetric about 0 (the solver then reads ``P(Z > -x)`` as
        ``P(Z <= x)``)."""
        return True

    @abstractmethod
    def pdf(self, z: np.ndarray | float) -> np.ndarray:
        """The density of ``Z`` at ``z``, elementwise."""

    @abstractmethod
    def upper_mean(self, z: np.ndarray | float) -> np.ndarray:
        """The upper partial mean ``E[Z 1{Z > z}]``, elementwise (even in ``z``)."""

    @abstractmethod
    def tail_quantile(self, normal_sigmas: float) -> float:
        """The ``q`` with ``P(Z > q) = P(N > normal_sigmas)``, ``N`` standard normal: how far
        the law reaches with as little tail mass as the normal law within
        ``normal_sigmas`` standard deviations (``normal_sigmas`` itself for the normal)."""

    @abstractmethod
    def describe(self) -> str:
        """One line for people: the model and its parameters."""

    @abstractmethod
    def to_mapping(self) -> dict[str, Any]:
        """The problem-file form: ``{"model": ..., <parameters>}`` (JSON/YAML serialisable)."""

    def check_portfolios(self, portfolios: Any) -> None:  # noqa: B027 - a default
        """Raise a ValueError if the market cannot drive ``portfolios`` (a problem's
        :class:`~gbwm_sb3.problem.model.Portfolios`); every portfolio set by default."""

    @property
    def per_portfolio(self) -> bool:
        """Whether each portfolio has a law of its own (:meth:`portfolio_law`; multi-asset
        rows of :class:`~gbwm_sb3.problem.empirical.EmpiricalMarket`)."""
        return False

    def portfolio_law(self, j: int) -> Market:
        """The law of portfolio ``j``'s shock (the market's own unless
        :attr:`per_portfolio`)."""
        return self

    def bootstrap_centres(self) -> np.ndarray | None:
        """For a market with :attr:`per_portfolio` laws (mixtures of normals of one
        bandwidth): each portfolio's sorted mixture centres, (portfolios, components),
        which the simulators read the common normal draw through; None for a market whose
        draws are every portfolio's shock."""
        return None

    @property
    def regime_count(self) -> int:
        """How many market regimes the economy switches between (1: none; see
        :class:`~gbwm_sb3.problem.regimes.RegimeMarket`)."""
        return 1

    @property
    def name(self) -> str:
        """The model's name in problem files (``"lognormal"``, ``"student_t"``)."""
        return self.model


@dataclass(frozen=True)
class LognormalMarket(Market):
    """Normal shocks: wealth follows geometric Brownian motion (the paper's market)."""

    model: ClassVar[str] = "lognormal"

    def draw_shocks(self, rng: np.random.Generator, shape: int | tuple[int, ...]
                    ) -> np.ndarray:
        return rng.standard_normal(shape)

    def draw_shock(self, rng: np.random.Generator) -> float:
        return float(rng.standard_normal())

    def cdf(self, z: np.ndarray | float) -> np.ndarray:
        from scipy.special import ndtr

        return ndtr(np.asarray(z, dtype=np.float64))

    def pdf(self, z: np.ndarray | float) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        with np.errstate(over="ignore"):
            return np.exp(-0.5 * z * z) / _SQRT_2PI

    def upper_mean(self, z: np.ndarray | float) -> np.ndarray:
        return self.pdf(z)

    def tail_quantile(self, normal_sigmas: float) -> float:
        return float(normal_sigmas)

    def describe(self) -> str:
        return "lognormal: normal yearly log-return shocks (geometric Brownian motion)"

    def to_mapping(self) -> dict[str, Any]:
        return {"model": self.model}


@dataclass(frozen=True)
class StudentTMarket(Market):
    """Fat-tailed shocks: ``Z = T_nu sqrt((nu - 2) / nu)``, ``T_nu`` Student-t with
    ``degrees_of_freedom`` ``nu`` in (2, 1000]: mean 0 and variance 1, as the normal."""

    model: ClassVar[str] = "student_t"
    degrees_of_freedom: float

    def __post_init__(self) -> None:
        nu = self.degrees_of_freedom
        refused = MarketError("degrees_of_freedom", f"must be {DEGREES_OF_FREEDOM_RANGE}, got "
                                                    f"{describe_value(nu)}")
        if isinstance(nu, (bool, np.bool_)) or not isinstance(nu, (int, float, np.integer,
                                                                   np.floating)):
            raise refused
        value = float(nu)
        if not MIN_DEGREES_OF_FREEDOM < value <= MAX_DEGREES_OF_FREEDOM:  # NaN fails too
            raise refused
        object.__setattr__(self, "degrees_of_freedom", value)

    @property
    def scale(self) -> float:
        """``sqrt((nu - 2) / nu)``: the factor that gives ``T_nu`` unit variance."""
        nu = self.degrees_of_freedom
        return math.sqrt((nu - 2.0) / nu)

    def draw_shocks(self, rng: np.random.Generator, shape: int | tuple[int, ...]
                    ) -> np.ndarray:
        return rng.standard_t(self.degrees_of_freedom, shape) * self.scale

    def draw_shock(self, rng: np.random.Generator) -> float:
        return float(rng.standard_t(self.degrees_of_freedom)) * self.scale

    def cdf(self, z: np.ndarray | float) -> np.ndarray:
        from scipy.special import stdtr

        return stdtr(self.degrees_of_freedom, np.asarray(z, dtype=np.float64) / self.scale)

    def pdf(self, z: np.ndarray | float) -> np.ndarray:
        nu, scale = self.degrees_of_freedom, self.scale
        return np.exp(self._log_norm() - 0.5 * (nu + 1.0) * self._log_kernel(z)) / scale

    def upper_mean(self, z: np.ndarray | float) -> np.ndarray:
        # E[T 1{T > x}] = (nu + x^2) / (nu - 1) f_T(x) for the unscaled t variable, written
        # nu / (nu - 1) (1 + x^2 / nu)^(-(nu - 1) / 2) times the density's constant
        nu, scale = self.degrees_of_freedom, self.scale
        return (scale * nu / (nu - 1.0)
                * np.exp(self._log_norm() - 0.5 * (nu - 1.0) * self._log_kernel(z)))

    def _log_kernel(self, z: np.ndarray | float) -> np.ndarray:
        """``log(1 + x^2 / nu)`` with ``x = z / scale`` (``inf`` where ``x^2`` overflows)."""
        x = np.asarray(z, dtype=np.float64) / self.scale
        with np.errstate(over="ignore"):
            return np.log1p(x * x / self.degrees_of_freedom)

    def tail_quantile(self, normal_sigmas: float) -> float:
        from scipy.special import ndtr, stdtrit

        mass = float(ndtr(-float(normal_sigmas)))
        return float(-stdtrit(self.degrees_of_freedom, mass)) * self.scale

    def _log_norm(self) -> float:
        """Log of the Student-t density's constant, ``Gamma((nu+1)/2) / (sqrt(nu pi)
        Gamma(nu/2))``."""
        nu = self.degrees_of_freedom
        return (math.lgamma(0.5 * (nu + 1.0)) - math.lgamma(0.5 * nu)
                - 0.5 * math.log(nu * math.pi))

    def describe(self) -> str:
        return (f"student_t: Student-t yearly log-return shocks with "
                f"{self.degrees_of_freedom:g} degrees of freedom, scaled to unit variance")

    def to_mapping(self) -> dict[str, Any]:
        return {"model": self.model, "degrees_of_freedom": float(self.degrees_of_freedom)}


#: The market models by their problem-file name: the class, its required parameters and
#: its optional ones (:mod:`gbwm_sb3.problem.regimes` adds the regime-switching market).
MARKET_MODELS: dict[str, tuple[type[Market], tuple[str, ...], tuple[str, ...]]] = {
    LognormalMarket.model: (LognormalMarket, (), ()),
    StudentTMarket.model: (StudentTMarket, ("degrees_of_freedom",), ()),
}


def market_from_mapping(data: Mapping[str, Any]) -> Market:
    """The market of a problem file's ``market`` section: ``{"model": name, <parameters>}``.

    Raises :class:`MarketError` naming the field (``model``, ``degrees_of_freedom``, an
    unknown field) and what is allowed.
    """
    models = ", ".join(MARKET_MODELS)
    if not isinstance(data, Mapping):
        raise MarketError("", f"must be a mapping with a field `model` (one of {models}), got "
                              f"{describe_value(data)}")
    if "model" not in data:
        raise MarketError("model", f"is missing (one of {models})")
    model = data["model"]
    if not isinstance(model, str) or model not in MARKET_MODELS:
        raise MarketError("model", f"must be one of {models}, got {describe_value(model)}")
    cls, parameters, optional = MARKET_MODELS[model]
    for key in data:
        if key != "model" and key not in parameters + optional:
            fields = ", ".join(("model", *parameters, *optional))
            raise MarketError(describe_value(key) if not isinstance(key, str) else key[:60],
                              f"is not a field of a {model} market (its fields: {fields})")
    for parameter in parameters:
        if parameter not in data:
            raise MarketError(parameter, f"is missing (a {model} market needs it)")
    return cls(**{p: data[p] for p in parameters + optional if p in data})
