"""Problem files: a client's goals and assets in YAML or JSON, loaded into a :class:`GBWMProblem`.

A problem file describes one investor::

    name: Example client                # optional
    horizon: 16                         # years, T >= 1
    initial_wealth: 389881.0            # W0 > 0, in currency
    unit: 10000.0                       # optional (default 1): size of one model unit
    currency: USD                       # optional label shown next to amounts
    goals:                              # several goals may share a year
      - {time: 4, cost: 136048.9, utility: 14, name: car}
      - time: 8                         # a goal with levels: at most one level is taken
        name: college
        levels: [{cost: 200000, utility: 12}, {cost: 350000, utility: 18}]
    savings:                            # optional: cash added at the start of years 0..T-1,
      - {amount: 12000, from: 0, to: 9} # as ranges of years (inclusive; they add up) ...
      - {amount: -5000, from: 10, to: 15} # a negative amount is a withdrawal
    # savings: [12000, 12000, ...]      # ... or one amount per year 0..T-1
    # with an `inflation` section amounts are indexed to prices; `nominal: true` on a goal
    # fixes its costs in money of the day, and `nominal_savings` (the form of `savings`)
    # is a cash flow fixed in money of the day (a mortgage payment, a level pension)
    market: {model: student_t, degrees_of_freedom: 5}  # optional; default model: lognormal
    portfolios:                         # either listed ...
      means: [0.052632, ...]
      volatilities: [0.037351, ...]
    # ... or built on the efficient frontier of asset classes (instead of `portfolios`):
    asset_classes:
      names: [US bonds, US stocks, International stocks]
      means: [0.0493, 0.0770, 0.0886]
      covariance: [[0.0017, -0.0017, -0.0021], [...], [...]]
      n_portfolios: 15                  # optional, default 15
      mean_range: [0.052632, 0.088636]  # optional, default: min-variance mean .. top asset mean

``paper: {num_goals: 4, unit: 10000}`` (or ``paper: 4``) stands for the paper's problem
(with an optional ``market``). ``market: student_t`` is not enough for a model with
parameters; ``market: lognormal`` is the default. A withdrawal larger than the cash at
hand is bankruptcy (see :class:`GBWMProblem`).
Every error is a :class:`ProblemFileError` (a ``ValueError``) naming the file, the field
path (``goals[2].cost``) and what is allowed. ``save_problem`` writes floats with ``repr``
precision, so ``load_problem(save_problem(p))`` gives back ``p`` exactly.

Problem files may come from anyone, so reading one is bounded before any value is built:
at most :data:`MAX_PROBLEM_FILE_BYTES` bytes, :data:`MAX_PROBLEM_VALUES` values (YAML
aliases count as copies of what they refer to, so an alias "bomb" is refused as it is
read), lists and mappings nested at most :data:`MAX_PROBLEM_DEPTH` deep, lists of at most
:data:`MAX_LIST_LENGTH` items and numbers of at most :data:`MAX_NUMBER_CHARS` characters.
YAML anchors and aliases are otherwise allowed (``means: &m [...]`` reused elsewhere);
an alias inside the node it names (a recursive structure) is refused. A UTF-8 byte
order mark at the start of a YAML or JSON file is ignored. Error messages show at most
a short prefix of a refused value.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from gbwm_sb3.common.limits import MAX_HORIZON
from gbwm_sb3.problem.frontier import EfficientFrontier
from gbwm_sb3.problem.inflation import (
    INFLATION_FIELDS,
    InflationError,
    InflationModel,
    inflation_from_mapping,
)
from gbwm_sb3.problem.market import (
    MARKET_MODELS,
    LognormalMarket,
    Market,
    MarketError,
    market_from_mapping,
)
from gbwm_sb3.problem.model import (
    MAX_AMOUNT,
    MAX_PORTFOLIO_MEAN,
    MAX_UTILITY,
    MAX_VOLATILITY,
    MIN_POSITIVE_AMOUNT,
    PAPER_NUM_GOALS,
    GBWMProblem,
    Goal,
    Portfolios,
    paper_problem,
)

__all__ = [
    "ProblemFileError",
    "ProblemFile",
    "load_problem",
    "read_problem_file",
    "save_problem",
    "dump_problem_text",
    "problem_to_dict",
    "problem_from_dict",
    "resolve_problem",
    "PROBLEM_SUFFIXES",
    "MAX_PROBLEM_FILE_BYTES",
    "MAX_PROBLEM_VALUES",
    "MAX_PROBLEM_DEPTH",
    "MAX_LIST_LENGTH",
    "MAX_NUMBER_CHARS",
    "MAX_FRONTIER_PORTFOLIOS",
]

#: Largest problem file read, in bytes (1 MiB; the example files are about 1 KB). Checked
#: before the file is parsed.
MAX_PROBLEM_FILE_BYTES = 1 << 20
#: Most values (numbers, strings, lists and mappings, keys included) in one problem file,
#: each YAML alias counted as a copy of the node it names. A 316-asset covariance matrix
#: fits; an alias "bomb" (a few aliases that expand to millions of values) does not.
MAX_PROBLEM_VALUES = 100_000
#: Deepest nesting of lists and mappings, aliases expanded (a problem file needs 6).
MAX_PROBLEM_DEPTH = 32
#: Most items in one list of a problem file (goals, levels, savings, portfolios, assets).
MAX_LIST_LENGTH = 10_000
#: Longest number literal, in characters (longer integers are slow to convert).
MAX_NUMBER_CHARS = 100
#: Most portfolios built on an efficient frontier (``asset_classes.n_portfolios``).
MAX_FRONTIER_PORTFOLIOS = 1_000
#: Characters of a refused value shown in an error message.
_SHOWN_CHARS = 60

PROBLEM_SUFFIXES = (".yaml", ".yml", ".json")
_TOP_FIELDS = ("name", "description", "horizon", "initial_wealth", "unit", "currency", "goals",
               "savings", "portfolios", "asset_classes", "market", "survival", "inflation",
               "nominal_savings", "paper")
_GOAL_FIELDS = ("time", "cost", "utility", "name", "levels", "nominal")
_LEVEL_FIELDS = ("cost", "utility")
_SAVINGS_FIELDS = ("amount", "from", "to")
_SURVIVAL_FIELDS = ("probability", "from", "to")
_ASSET_FIELDS = ("names", "means", "covariance", "n_portfolios", "mean_range")
_PAPER_FIELDS = ("num_goals", "unit")


class ProblemFileError(ValueError):
    """A problem file that cannot be read: names the file, the field path and what is allowed."""

    def __init__(self, source: str, field_path: str, message: str) -> None:
        self.source = source
        self.field = field_path
        self.message = message
        where = f"{source}: {field_path}" if field_path else source
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class ProblemFile:
    """A loaded problem file: the problem plus the descriptive fields that are not maths."""

    problem: GBWMProblem
    name: str | None = None
    description: str | None = None
    currency: str | None = None
    asset_names: tuple[str, ...] | None = None
    source: str = "<memory>"
    extra: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------
# YAML loading: YAML 1.2 style numbers (``1e5`` is a float), only true/false are booleans, and
# duplicate keys are errors rather than silently overwritten. The size of the document is
# counted while it is composed, aliases expanded, so that nothing large is ever built.
# ----------------------------------------------------------------------------------------------
class _StrictLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema floats/booleans, duplicate-key detection and
    bounds on the document (values with aliases expanded, nesting, number length)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        # id(node) -> (values, depth) of each composed node, aliases expanded
        self._shapes: dict[int, tuple[int, int]] = {}
        self._values = 0  # values composed so far, aliases expanded
        self._open = 0  # nesting of the node being composed

    def _count(self, values: int, mark: yaml.Mark | None) -> None:
        self._values += values
        if self._values > MAX_PROBLEM_VALUES:
            raise yaml.composer.ComposerError(
                None, None, f"the document holds more than {MAX_PROBLEM_VALUES:,} values "
                            "(aliases counted as copies of what they name)", mark)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None:  # an undefined alias: the composer reports it
                shape = self._shapes.get(id(target))
                if shape is None:
                    raise yaml.composer.ComposerError(
                        None, None, f"alias *{event.anchor} is inside the node it names "
                                    "(recursive structures are not allowed)", event.start_mark)
                self._count(shape[0], event.start_mark)
            return super().compose_node(parent, index)
        mark = self.peek_event().start_mark
        self._open += 1
        try:
            if self._open > MAX_PROBLEM_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"lists and mappings are nested more than {MAX_PROBLEM_DEPTH} "
                                "deep", mark)
            self._count(1, mark)
            node = super().compose_node(parent, index)
        finally:
            self._open -= 1
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        else:
            children = []
        shapes = [self._shapes[id(child)] for child in children]
        depth = 1 + max((d for _, d in shapes), default=0)
        if depth > MAX_PROBLEM_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"lists and mappings are nested more than {MAX_PROBLEM_DEPTH} deep "
                            "(aliases expanded)", node.start_mark)
        self._shapes[id(node)] = (1 + sum(v for v, _ in shapes), depth)
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. a date 2001-13-45
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this value: {_shorten(str(exc))}",
                node.start_mark) from None


_StrictLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers
          if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:float")]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?
                  |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
                  |[-+]?\.(?:inf|Inf|INF)
                  |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode,
                       deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, f"a {type(key).__name__} cannot be a key (keys are field names)",
                key_node.start_mark) from None
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _short_number(constructor: Any) -> Any:
    """``constructor`` for a number scalar, refusing literals over ``MAX_NUMBER_CHARS``."""
    def construct(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
        if isinstance(node.value, str) and len(node.value) > MAX_NUMBER_CHARS:
            raise yaml.constructor.ConstructorError(
                None, None, f"a number of more than {MAX_NUMBER_CHARS} characters",
                node.start_mark)
        return constructor(loader, node)
    return construct


for _tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
    _StrictLoader.add_constructor(_tag, _short_number(yaml.SafeLoader.yaml_constructors[_tag]))


class _StrictDumper(yaml.SafeDumper):
    """SafeDumper that quotes exactly the strings ``_StrictLoader`` would not read as strings."""


_StrictDumper.yaml_implicit_resolvers = _StrictLoader.yaml_implicit_resolvers


def _json_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError(f"a number of more than {MAX_NUMBER_CHARS} characters")
    return int(text)


def _check_json_shape(data: Any, source: str) -> None:
    """Refuse parsed JSON nested deeper than ``MAX_PROBLEM_DEPTH`` or with too many values."""
    values = 0
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        values += 1
        if values > MAX_PROBLEM_VALUES:
            raise ProblemFileError(source, "", f"the document holds more than "
                                               f"{MAX_PROBLEM_VALUES:,} values")
        if depth > MAX_PROBLEM_DEPTH:
            raise ProblemFileError(source, "", f"lists and mappings are nested more than "
                                               f"{MAX_PROBLEM_DEPTH} deep")
        if isinstance(value, (dict, list)):
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)
            values += len(value) if isinstance(value, dict) else 0  # the keys


def _parse_text(text: str, source: str, suffix: str) -> Any:
    if len(text) > MAX_PROBLEM_FILE_BYTES:  # text from a file was checked in bytes already
        raise ProblemFileError(source, "", f"{len(text):,} characters, more than the "
                                           f"{MAX_PROBLEM_FILE_BYTES:,} allowed")
    text = text.removeprefix("\ufeff")  # a UTF-8 byte order mark
    if suffix == ".json":
        def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            result: dict[str, Any] = {}
            for key, value in pairs:
                if key in result:
                    raise ProblemFileError(source, _shown(key), "duplicate key")
                result[key] = value
            return result
        try:
            data = json.loads(text, object_pairs_hook=_no_duplicates, parse_int=_json_int)
        except ProblemFileError:
            raise
        except RecursionError:
            raise ProblemFileError(source, "", f"not valid JSON: lists and mappings are nested "
                                               f"more than {MAX_PROBLEM_DEPTH} deep") from None
        except ValueError as exc:  # JSONDecodeError, or _json_int's refusal
            raise ProblemFileError(source, "", f"not valid JSON: {_shorten(str(exc))}") from None
        _check_json_shape(data, source)
        return data
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = exc.problem or exc.context or "syntax error"
        raise ProblemFileError(source, "", f"not valid YAML{where}: {_shorten(what)}") from None
    except yaml.YAMLError as exc:
        raise ProblemFileError(source, "", f"not valid YAML: {_shorten(str(exc))}") from None
    except (RecursionError, ValueError, TypeError) as exc:  # bounded above; kept as a backstop
        raise ProblemFileError(source, "", f"not valid YAML: {_shorten(str(exc))}") from None


# ----------------------------------------------------------------------------------------------
# Field readers: each checks one value and raises a ProblemFileError naming its path.
# ----------------------------------------------------------------------------------------------
class _Reader:
    """Reads typed values out of parsed data, raising errors that name the file and field."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, message: str) -> ProblemFileError:
        return ProblemFileError(self.source, path, message)

    def mapping(self, value: Any, path: str, allowed: tuple[str, ...],
                required: tuple[str, ...] = ()) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(path or "<top level>",
                            f"must be a mapping with fields {', '.join(allowed)}; "
                            f"got {_describe(value)}")
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                prefix = f"{path}." if path else ""
                raise self.fail(f"{prefix}{_shown(key)}",
                                f"unknown field; allowed fields are {', '.join(allowed)}")
        for key in required:
            if key not in value:
                prefix = f"{path}." if path else ""
                raise self.fail(f"{prefix}{key}", "missing required field")
        return value

    def number(self, value: Any, path: str, *, minimum: float | None = None,
               positive: bool = False, maximum: float | None = None) -> float:
        allowed = "a number > 0" if positive else (
            f"a number >= {minimum:g}" if minimum is not None else "a number")
        if maximum is not None:
            allowed = (f"a number in ({0:g}, {maximum:g}]" if positive else
                       f"a number in [{minimum:g}, {maximum:g}]" if minimum is not None else
                       f"a number <= {maximum:g}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(path, f"must be {allowed}; got {_describe(value)}")
        try:
            number = float(value)
        except OverflowError:  # an integer beyond the float range
            number = math.inf
        if not math.isfinite(number):
            raise self.fail(path, f"must be a finite number; got {_bounded_repr(value)}")
        if positive and number <= 0.0:
            raise self.fail(path, f"must be {allowed}; got {_bounded_repr(value)}")
        if minimum is not None and number < minimum:
            raise self.fail(path, f"must be {allowed}; got {_bounded_repr(value)}")
        if maximum is not None and number > maximum:
            raise self.fail(path, f"must be {allowed}; got {_bounded_repr(value)}")
        return number

    def amount(self, value: Any, path: str, *, positive: bool = False) -> float:
        """An amount of money: 0 (unless ``positive``) or in [MIN_POSITIVE_AMOUNT, MAX_AMOUNT]."""
        number = self.number(value, path, minimum=0.0, positive=positive, maximum=MAX_AMOUNT)
        if 0.0 < number < MIN_POSITIVE_AMOUNT:
            allowed = "" if positive else "0 or "
            raise self.fail(path, f"must be {allowed}at least {MIN_POSITIVE_AMOUNT:g} (smaller "
                                  f"amounts cannot be computed with); got {_bounded_repr(value)}")
        return number

    def signed_amount(self, value: Any, path: str) -> float:
        """An amount that may be negative (a withdrawal): 0 or of magnitude in
        [MIN_POSITIVE_AMOUNT, MAX_AMOUNT]."""
        number = self.number(value, path, minimum=-MAX_AMOUNT, maximum=MAX_AMOUNT)
        if 0.0 < abs(number) < MIN_POSITIVE_AMOUNT:
            raise self.fail(path, f"must be 0 or of magnitude at least {MIN_POSITIVE_AMOUNT:g} "
                                  f"(smaller amounts cannot be computed with); got "
                                  f"{_bounded_repr(value)}")
        return number

    def utility(self, value: Any, path: str) -> float:
        return self.number(value, path, minimum=0.0, maximum=MAX_UTILITY)

    def mean(self, value: Any, path: str) -> float:
        return self.number(value, path, minimum=-MAX_PORTFOLIO_MEAN, maximum=MAX_PORTFOLIO_MEAN)

    def volatility(self, value: Any, path: str) -> float:
        return self.number(value, path, minimum=0.0, maximum=MAX_VOLATILITY)

    def integer(self, value: Any, path: str, *, minimum: int | None = None,
                maximum: int | None = None, at_most: int | None = None) -> int:
        """An integer in ``minimum..maximum``; ``at_most`` is an upper bound stated apart
        ("an integer >= 1 (at most 100)") where the lower one is the usual rule."""
        if minimum is not None and maximum is not None:
            allowed = f"an integer in {minimum}..{maximum}"
        elif minimum is not None:
            allowed = f"an integer >= {minimum}"
        else:
            allowed = "an integer"
        if at_most is not None:
            allowed += f" (at most {at_most:,})"
            maximum = at_most if maximum is None else min(maximum, at_most)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"must be {allowed}; got {_describe(value)}")
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise self.fail(path, f"must be {allowed}; got {_bounded_repr(value)}")
        return int(value)

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, f"must be true or false; got {_describe(value)}")
        return value

    def string(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, f"must be a non-empty string; got {_describe(value)}")
        return value

    def sequence(self, value: Any, path: str, what: str, *, min_length: int = 0) -> list[Any]:
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple)):
            raise self.fail(path, f"must be a list of {what}; got {_describe(value)}")
        if len(value) < min_length:
            raise self.fail(path, f"must list at least {min_length} {what}; got {len(value)}")
        if len(value) > MAX_LIST_LENGTH:
            raise self.fail(path, f"must list at most {MAX_LIST_LENGTH:,} {what}; "
                                  f"got {len(value):,}")
        return list(value)

    def numbers(self, value: Any, path: str, *, min_length: int = 1, positive: bool = False,
                minimum: float | None = None) -> list[float]:
        items = self.sequence(value, path, "numbers", min_length=min_length)
        return [self.number(v, f"{path}[{i}]", positive=positive, minimum=minimum)
                for i, v in enumerate(items)]


def _bounded_repr(value: Any, limit: int = _SHOWN_CHARS) -> str:
    """``repr(value)`` when it is at most ``limit`` characters, else a prefix of it ending in
    ``...``; builds at most about ``limit`` characters, however large ``value`` is (it walks
    at most ``limit`` items, so a huge or self-referencing structure costs nothing)."""
    parts: list[str] = []
    budget = limit + 4  # one more character than the shown prefix decides the "..."

    def emit(text: str) -> None:
        nonlocal budget
        parts.append(text)
        budget -= len(text)

    def walk(item: Any) -> None:
        if budget <= 0:
            return
        if isinstance(item, str):
            emit(repr(item[:budget]) if len(item) > budget else repr(item))
        elif isinstance(item, (bytes, bytearray)):
            emit(repr(bytes(item[:budget])))
        elif isinstance(item, bool) or item is None or isinstance(item, float):
            emit(repr(item))
        elif isinstance(item, int):
            emit(repr(item) if item.bit_length() < 4 * budget else
                 f"<an integer of {item.bit_length():,} bits>")
        elif isinstance(item, Mapping):
            emit("{")
            for i, (key, entry) in enumerate(item.items()):
                if budget <= 0:
                    break
                if i:
                    emit(", ")
                walk(key)
                emit(": ")
                walk(entry)
            emit("}")
        elif isinstance(item, (list, tuple, set, frozenset)):
            if isinstance(item, (set, frozenset)) and not item:
                emit(f"{type(item).__name__}()")
                return
            opening, closing = ("[", "]") if isinstance(item, list) else (
                ("(", ")") if isinstance(item, tuple) else ("{", "}"))
            emit(opening)
            for i, entry in enumerate(item):
                if budget <= 0:
                    break
                if i:
                    emit(", ")
                walk(entry)
            emit("," + closing if isinstance(item, tuple) and len(item) == 1 else closing)
        elif isinstance(item, (datetime.date, datetime.time, np.generic)):
            emit(repr(item))
        elif isinstance(item, np.ndarray):  # numpy summarises a large array's repr
            emit(np.array2string(item, threshold=budget, edgeitems=3, max_line_width=10**6))
        else:  # an object of another type: its repr might be arbitrarily large or slow
            emit(f"<{type(item).__name__}>")

    walk(value)
    text = "".join(parts)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _describe(value: Any) -> str:
    """A refused value for an error message: its type and a bounded prefix of its repr."""
    if value is None:
        return "nothing (null)"
    return f"{type(value).__name__} {_bounded_repr(value)}"


def _shown(key: Any) -> str:
    """A mapping key for a field path: as written when a short string, else bounded."""
    if isinstance(key, str) and len(key) <= _SHOWN_CHARS and key.isprintable():
        return key
    return _bounded_repr(key)


def _shorten(message: str, limit: int = 500) -> str:
    """``message`` cut to ``limit`` characters (an error from a library may quote input)."""
    return message if len(message) <= limit else message[:limit - 3] + "..."


# ----------------------------------------------------------------------------------------------
# dict <-> problem
# ----------------------------------------------------------------------------------------------
def _read_goals(reader: _Reader, value: Any, horizon: int) -> tuple[Goal, ...]:
    items = reader.sequence(value, "goals",
                            "goals (each a mapping with time and cost, utility or levels)",
                            min_length=1)
    goals = []
    for i, item in enumerate(items):
        path = f"goals[{i}]"
        entry = reader.mapping(item, path, _GOAL_FIELDS, required=("time",))
        time = reader.integer(entry["time"], f"{path}.time", minimum=0, maximum=horizon)
        name = reader.string(entry["name"], f"{path}.name") if "name" in entry else None
        nominal = reader.boolean(entry["nominal"], f"{path}.nominal") if "nominal" in entry \
            else False
        if "levels" in entry:
            for key in ("cost", "utility"):
                if key in entry:
                    raise reader.fail(f"{path}.{key}", "give either `cost` and `utility` (an "
                                                       "all-or-nothing goal) or `levels`, not both")
            levels = _read_levels(reader, entry["levels"], f"{path}.levels")
            goals.append(Goal(time=time, levels=levels, name=name, nominal=nominal))
            continue
        for key in ("cost", "utility"):
            if key not in entry:
                raise reader.fail(f"{path}.{key}", "missing required field (or give `levels`)")
        cost = reader.amount(entry["cost"], f"{path}.cost")
        utility = reader.utility(entry["utility"], f"{path}.utility")
        goals.append(Goal(time=time, cost=cost, utility=utility, name=name, nominal=nominal))
    return tuple(goals)


def _read_levels(reader: _Reader, value: Any, path: str) -> list[tuple[float, float]]:
    """Goal levels: a list of {cost, utility} mappings or [cost, utility] pairs."""
    items = reader.sequence(value, path, "levels (each {cost: ..., utility: ...})", min_length=1)
    levels = []
    for k, item in enumerate(items):
        where = f"{path}[{k}]"
        if isinstance(item, (list, tuple)):
            if len(item) != 2:
                raise reader.fail(where, f"must be a [cost, utility] pair; got {_describe(item)}")
            cost_value, utility_value = item
        else:
            level = reader.mapping(item, where, _LEVEL_FIELDS, required=_LEVEL_FIELDS)
            cost_value, utility_value = level["cost"], level["utility"]
        levels.append((reader.amount(cost_value, f"{where}.cost"),
                       reader.utility(utility_value, f"{where}.utility")))
    return levels


def _read_savings(reader: _Reader, value: Any, horizon: int, field: str = "savings"
                  ) -> list[float]:
    """Savings (or ``nominal_savings``, ``field``) as one amount per year 0..T-1, from a
    per-year list or {amount, from, to} ranges."""
    what = f"amounts (one per year 0..{horizon - 1}) or ranges {{amount, from, to}}"
    items = reader.sequence(value, field, what)
    if items and all(not isinstance(item, Mapping) for item in items):
        if len(items) != horizon:
            raise reader.fail(field, f"a per-year list must have one amount per year "
                                     f"0..{horizon - 1}, i.e. {horizon}; got {len(items)}")
        return [reader.signed_amount(v, f"{field}[{i}]") for i, v in enumerate(items)]
    amounts = [0.0] * horizon
    for i, item in enumerate(items):
        path = f"{field}[{i}]"
        entry = reader.mapping(item, path, _SAVINGS_FIELDS, required=("amount",))
        amount = reader.signed_amount(entry["amount"], f"{path}.amount")
        first = reader.integer(entry.get("from", 0), f"{path}.from", minimum=0,
                               maximum=horizon - 1)
        last = reader.integer(entry.get("to", horizon - 1), f"{path}.to", minimum=first,
                              maximum=horizon - 1)
        for year in range(first, last + 1):
            amounts[year] += amount
    return amounts


def _read_survival(reader: _Reader, value: Any, horizon: int) -> list[float]:
    """Yearly survival probabilities 0..T-1, from a per-year list or {probability, from, to}
    ranges (years not covered: 1)."""
    what = (f"probabilities (one per year 0..{horizon - 1}) or ranges "
            "{probability, from, to}")
    items = reader.sequence(value, "survival", what)
    if items and all(not isinstance(item, Mapping) for item in items):
        if len(items) != horizon:
            raise reader.fail("survival", f"a per-year list must have one probability per "
                                          f"year 0..{horizon - 1}, i.e. {horizon}; got "
                                          f"{len(items)}")
        return [reader.number(v, f"survival[{i}]", minimum=0.0, maximum=1.0)
                for i, v in enumerate(items)]
    probabilities = [1.0] * horizon
    for i, item in enumerate(items):
        path = f"survival[{i}]"
        entry = reader.mapping(item, path, _SURVIVAL_FIELDS, required=("probability",))
        probability = reader.number(entry["probability"], f"{path}.probability", minimum=0.0,
                                    maximum=1.0)
        first = reader.integer(entry.get("from", 0), f"{path}.from", minimum=0,
                               maximum=horizon - 1)
        last = reader.integer(entry.get("to", horizon - 1), f"{path}.to", minimum=first,
                              maximum=horizon - 1)
        for year in range(first, last + 1):
            probabilities[year] = probability
    return probabilities


def _savings_ranges(infusions: tuple[float, ...]) -> list[dict[str, Any]]:
    """Infusions as {amount, from, to} ranges of equal consecutive amounts (zeros left out)."""
    ranges: list[dict[str, Any]] = []
    for year, amount in enumerate(infusions):
        if amount == 0.0:
            continue
        last = ranges[-1] if ranges else None
        if last is not None and last["amount"] == amount and last["to"] == year - 1:
            last["to"] = year
        else:
            ranges.append({"amount": float(amount), "from": year, "to": year})
    return ranges


def _read_portfolios(reader: _Reader, value: Any) -> Portfolios:
    if isinstance(value, Mapping):
        entry = reader.mapping(value, "portfolios", ("means", "volatilities"),
                               required=("means", "volatilities"))
        means = [reader.mean(v, f"portfolios.means[{i}]") for i, v in enumerate(
            reader.sequence(entry["means"], "portfolios.means", "numbers", min_length=1))]
        vols = [reader.volatility(v, f"portfolios.volatilities[{i}]") for i, v in enumerate(
            reader.sequence(entry["volatilities"], "portfolios.volatilities", "numbers",
                            min_length=1))]
        if len(means) != len(vols):
            raise reader.fail("portfolios.volatilities",
                              f"must have one volatility per mean ({len(means)}); got {len(vols)}")
        return Portfolios(means=means, volatilities=vols)
    items = reader.sequence(
        value, "portfolios",
        "portfolios (each {mean, volatility}), or a mapping with means and volatilities",
        min_length=1)
    means, vols = [], []
    for i, item in enumerate(items):
        path = f"portfolios[{i}]"
        entry = reader.mapping(item, path, ("mean", "volatility"), required=("mean", "volatility"))
        means.append(reader.mean(entry["mean"], f"{path}.mean"))
        vols.append(reader.volatility(entry["volatility"], f"{path}.volatility"))
    return Portfolios(means=means, volatilities=vols)


def _read_asset_classes(reader: _Reader, value: Any) -> tuple[Portfolios, tuple[str, ...] | None]:
    entry = reader.mapping(value, "asset_classes", _ASSET_FIELDS, required=("means", "covariance"))
    means = reader.numbers(entry["means"], "asset_classes.means", min_length=2)
    n_assets = len(means)
    names = None
    if "names" in entry:
        raw_names = reader.sequence(entry["names"], "asset_classes.names", "strings")
        names = tuple(reader.string(v, f"asset_classes.names[{i}]")
                      for i, v in enumerate(raw_names))
        if len(names) != n_assets:
            raise reader.fail("asset_classes.names",
                              f"must name each of the {n_assets} assets; got {len(names)} names")
    rows = reader.sequence(entry["covariance"], "asset_classes.covariance",
                           f"{n_assets} rows (a {n_assets}x{n_assets} matrix)")
    if len(rows) != n_assets:
        raise reader.fail("asset_classes.covariance",
                          f"must be a {n_assets}x{n_assets} matrix (one row per asset); "
                          f"got {len(rows)} rows")
    cov = []
    for i, row in enumerate(rows):
        values = reader.numbers(row, f"asset_classes.covariance[{i}]")
        if len(values) != n_assets:
            raise reader.fail(f"asset_classes.covariance[{i}]",
                              f"must have {n_assets} entries (one per asset); got {len(values)}")
        cov.append(values)
    matrix = np.asarray(cov)
    for i in range(n_assets):
        if matrix[i, i] <= 0.0:
            raise reader.fail(f"asset_classes.covariance[{i}][{i}]",
                              f"a variance must be > 0; got {cov[i][i]!r}")
    bad = np.argwhere(~np.isclose(matrix, matrix.T, rtol=1e-9,
                                  atol=1e-12 * float(np.abs(matrix).max())))
    if bad.size:
        i, j = (int(x) for x in bad[0])
        raise reader.fail(f"asset_classes.covariance[{i}][{j}]",
                          f"the matrix must be symmetric; [{i}][{j}] = {cov[i][j]!r} but "
                          f"[{j}][{i}] = {cov[j][i]!r}")
    n_portfolios = 15
    if "n_portfolios" in entry:
        n_portfolios = reader.integer(entry["n_portfolios"], "asset_classes.n_portfolios",
                                      minimum=1, at_most=MAX_FRONTIER_PORTFOLIOS)
    mean_range = None
    if "mean_range" in entry:
        bounds = reader.numbers(entry["mean_range"], "asset_classes.mean_range", min_length=2)
        if len(bounds) != 2:
            raise reader.fail("asset_classes.mean_range",
                              f"must be [low, high] (2 numbers); got {len(bounds)} numbers")
        mean_range = (bounds[0], bounds[1])
    try:
        frontier = EfficientFrontier(means, matrix)
    except ValueError as exc:
        raise reader.fail("asset_classes.covariance", _shorten(str(exc))) from None
    try:
        portfolios = frontier.portfolios(n_portfolios, mean_range)
    except ValueError as exc:
        raise reader.fail("asset_classes.mean_range", _shorten(str(exc))) from None
    return portfolios, names


def _read_market(reader: _Reader, value: Any) -> Market:
    """The ``market`` section: a model name, or ``{model: name, <parameters>}``."""
    models = ", ".join(MARKET_MODELS)
    if isinstance(value, str):
        value = {"model": value}
    entry = reader.mapping(value, "market", ("model", *sorted(
        {p for _, required, optional in MARKET_MODELS.values() for p in required + optional})),
        required=("model",))
    model = entry["model"]
    if not isinstance(model, str) or model not in MARKET_MODELS:
        raise reader.fail("market.model", f"must be one of {models}; got {_describe(model)}")
    _, parameters, optional = MARKET_MODELS[model]
    for key in entry:
        if key != "model" and key not in parameters + optional:
            raise reader.fail(f"market.{key}", "not a field of a {} market (its fields are {})"
                              .format(model, ", ".join(("model", *parameters, *optional))))
    for key in parameters:
        if key not in entry:
            raise reader.fail(f"market.{key}", f"missing required field of a {model} market")
        if isinstance(entry[key], (int, float)):
            reader.number(entry[key], f"market.{key}")  # a finite number (overflow)
    try:
        return market_from_mapping(entry)
    except MarketError as exc:
        raise reader.fail(f"market.{exc.field}" if exc.field else "market",
                          _shorten(exc.message)) from None


def _read_inflation(reader: _Reader, value: Any) -> InflationModel:
    """The ``inflation`` section: ``{mean, persistence, volatility, initial, correlation}``."""
    entry = reader.mapping(value, "inflation", INFLATION_FIELDS)
    try:
        return inflation_from_mapping(dict(entry))
    except InflationError as exc:
        raise reader.fail(f"inflation.{exc.field}" if exc.field else "inflation",
                          _shorten(exc.message)) from None


def _read_paper(reader: _Reader, value: Any) -> GBWMProblem:
    allowed_ng = ", ".join(str(n) for n in PAPER_NUM_GOALS)
    unit = 1.0
    if isinstance(value, Mapping):
        entry = reader.mapping(value, "paper", _PAPER_FIELDS, required=("num_goals",))
        num_goals_value = entry["num_goals"]
        path = "paper.num_goals"
        if "unit" in entry:
            unit = reader.number(entry["unit"], "paper.unit", positive=True)
    else:
        num_goals_value, path = value, "paper"
    if isinstance(num_goals_value, bool) or num_goals_value not in PAPER_NUM_GOALS:
        raise reader.fail(path, f"number of goals must be one of {allowed_ng}; "
                                f"got {_describe(num_goals_value)}")
    return paper_problem(int(num_goals_value), unit=unit)


def _read(data: Any, source: str) -> ProblemFile:
    reader = _Reader(source)
    top = reader.mapping(data, "", _TOP_FIELDS)
    name = reader.string(top["name"], "name") if "name" in top else None
    description = (reader.string(top["description"], "description")
                   if "description" in top else None)
    currency = reader.string(top["currency"], "currency") if "currency" in top else None
    market = _read_market(reader, top["market"]) if "market" in top else LognormalMarket()
    if "paper" in top:
        clash = [k for k in top if k not in ("paper", "name", "description", "currency",
                                             "market")]
        if clash:
            raise reader.fail(clash[0], "cannot be combined with `paper` (the paper shorthand "
                                        "defines horizon, wealth, goals and portfolios)")
        problem = _read_paper(reader, top["paper"])
        if "market" in top:
            problem = dataclasses.replace(problem, market=market)
        return ProblemFile(problem, name, description, currency, None, source)
    for key in ("horizon", "initial_wealth", "goals"):
        if key not in top:
            raise reader.fail(key, "missing required field")
    if "portfolios" in top and "asset_classes" in top:
        raise reader.fail("asset_classes", "give either `portfolios` (listed) or `asset_classes` "
                                           "(built on the efficient frontier), not both")
    if "portfolios" not in top and "asset_classes" not in top:
        raise reader.fail("portfolios", "missing: give `portfolios` (means and volatilities) or "
                                        "`asset_classes` (means and covariance)")
    horizon = reader.integer(top["horizon"], "horizon", minimum=1, at_most=MAX_HORIZON)
    initial_wealth = reader.amount(top["initial_wealth"], "initial_wealth", positive=True)
    unit = reader.number(top["unit"], "unit", positive=True) if "unit" in top else 1.0
    goals = _read_goals(reader, top["goals"], horizon)
    savings = _read_savings(reader, top["savings"], horizon) if "savings" in top else ()
    survival = _read_survival(reader, top["survival"], horizon) if "survival" in top else ()
    inflation = _read_inflation(reader, top["inflation"]) if "inflation" in top else None
    nominal_savings = (_read_savings(reader, top["nominal_savings"], horizon, "nominal_savings")
                       if "nominal_savings" in top else ())
    if inflation is None:
        if any(nominal_savings):
            raise reader.fail("nominal_savings", "needs an `inflation` section (without "
                                                 "inflation every amount is fixed in money)")
        for i, goal in enumerate(goals):
            if goal.nominal:
                raise reader.fail(f"goals[{i}].nominal", "needs an `inflation` section "
                                                         "(without inflation every amount is "
                                                         "fixed in money)")
    asset_names = None
    if "portfolios" in top:
        portfolios = _read_portfolios(reader, top["portfolios"])
    else:
        portfolios, asset_names = _read_asset_classes(reader, top["asset_classes"])
    try:
        problem = GBWMProblem(horizon=horizon, initial_wealth=initial_wealth, goals=goals,
                              portfolios=portfolios, unit=unit, infusions=tuple(savings),
                              market=market, survival=tuple(survival), inflation=inflation,
                              nominal_infusions=tuple(nominal_savings))
    except ValueError as exc:  # every field was checked above; keep the file name regardless
        raise reader.fail("", _shorten(str(exc))) from None
    return ProblemFile(problem, name, description, currency, asset_names, source)


def problem_from_dict(data: Any, source: str = "<dict>") -> GBWMProblem:
    """A :class:`GBWMProblem` from already-parsed problem-file data (errors name ``source``)."""
    return _read(data, source).problem


def problem_to_dict(problem: GBWMProblem, *, name: str | None = None,
                    description: str | None = None, currency: str | None = None
                    ) -> dict[str, Any]:
    """The problem-file form of ``problem`` (portfolios listed), JSON/YAML serialisable.

    ``market`` is written only for a market other than the default lognormal one.
    """
    if not isinstance(problem, GBWMProblem):
        raise ValueError(f"problem must be a GBWMProblem, got {type(problem).__name__}")
    data: dict[str, Any] = {}
    if name is not None:
        data["name"] = name
    if description is not None:
        data["description"] = description
    data["horizon"] = int(problem.horizon)
    data["initial_wealth"] = float(problem.initial_wealth)
    data["unit"] = float(problem.unit)
    if currency is not None:
        data["currency"] = currency
    goals = []
    for goal in problem.goals:
        entry: dict[str, Any] = {"time": int(goal.time)}
        if goal.num_levels == 1:
            entry.update(cost=float(goal.cost), utility=float(goal.utility))
        else:
            entry["levels"] = [{"cost": float(c), "utility": float(u)} for c, u in goal.levels]
        if goal.name is not None:
            entry["name"] = goal.name
        if goal.nominal:
            entry["nominal"] = True
        goals.append(entry)
    data["goals"] = goals
    if problem.infusions:
        data["savings"] = _savings_ranges(problem.infusions)
    data["portfolios"] = {
        "means": [float(m) for m in problem.portfolios.means],
        "volatilities": [float(s) for s in problem.portfolios.volatilities],
    }
    if problem.market != LognormalMarket():
        data["market"] = problem.market.to_mapping()
    if problem.survival:
        data["survival"] = [float(p) for p in problem.survival]
    if problem.inflation is not None:
        data["inflation"] = problem.inflation.to_mapping()
    if problem.nominal_infusions:
        data["nominal_savings"] = _savings_ranges(problem.nominal_infusions)
    return data


# ----------------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------------
def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in PROBLEM_SUFFIXES:
        raise ProblemFileError(str(path), "", "unsupported file type: the name must end in "
                                              f"{', '.join(PROBLEM_SUFFIXES)}")
    return suffix


def read_problem_file(path: str | os.PathLike[str]) -> ProblemFile:
    """Read a YAML/JSON problem file into a :class:`ProblemFile` (problem plus labels)."""
    path = Path(path)
    suffix = _suffix(path)
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_PROBLEM_FILE_BYTES:
                raise ProblemFileError(str(path), "", f"{size:,} bytes, more than the "
                                                      f"{MAX_PROBLEM_FILE_BYTES:,} bytes allowed "
                                                      "for a problem file")
            raw = handle.read(MAX_PROBLEM_FILE_BYTES + 1)  # a device or pipe may not say
        if len(raw) > MAX_PROBLEM_FILE_BYTES:
            raise ProblemFileError(str(path), "", f"more than the {MAX_PROBLEM_FILE_BYTES:,} "
                                                  "bytes allowed for a problem file")
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ProblemFileError(str(path), "", "no such file") from None
    except IsADirectoryError:
        raise ProblemFileError(str(path), "", "is a directory, expected a problem file") from None
    except UnicodeDecodeError as exc:
        raise ProblemFileError(str(path), "", f"not UTF-8 text: {exc}") from None
    except OSError as exc:
        raise ProblemFileError(str(path), "", f"cannot be read: {exc.strerror}") from None
    data = _parse_text(text, str(path), suffix)
    return _read(data, str(path))


def load_problem(path: str | os.PathLike[str]) -> GBWMProblem:
    """Load a :class:`GBWMProblem` from a YAML (``.yaml``/``.yml``) or JSON (``.json``) file."""
    return read_problem_file(path).problem


def dump_problem_text(problem: GBWMProblem, fmt: str = "yaml", *, name: str | None = None,
                      description: str | None = None, currency: str | None = None,
                      comment: str | None = None) -> str:
    """The text of a problem file for ``problem`` in ``fmt`` ("yaml" or "json")."""
    data = problem_to_dict(problem, name=name, description=description, currency=currency)
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    if fmt != "yaml":
        raise ValueError(f"fmt must be 'yaml' or 'json', got {fmt!r}")
    # Goals one per line, portfolio lists in flow style: compact and easy to edit.
    lines = []
    if comment:
        lines += [f"# {line}".rstrip() for line in comment.splitlines()]
    for key in ("name", "description", "horizon", "initial_wealth", "unit", "currency"):
        if key in data:
            lines.append(_yaml_line(key, data[key]))
    lines.append("goals:")
    for goal in data["goals"]:
        lines.append("  - " + yaml.dump(goal, Dumper=_StrictDumper, default_flow_style=True,
                                        sort_keys=False, width=1_000_000).strip())
    if "savings" in data:
        lines.append("savings:")
        for entry in data["savings"]:
            lines.append("  - " + yaml.dump(entry, Dumper=_StrictDumper, default_flow_style=True,
                                            sort_keys=False, width=1_000_000).strip())
    lines.append("portfolios:")
    for key in ("means", "volatilities"):
        lines.append(f"  {key}: " + yaml.dump(data["portfolios"][key], Dumper=_StrictDumper,
                                              default_flow_style=True, width=1_000_000).strip())
    if "market" in data:
        lines.append("market: " + yaml.dump(data["market"], Dumper=_StrictDumper,
                                            default_flow_style=True, sort_keys=False,
                                            width=1_000_000).strip())
    if "survival" in data:
        lines.append("survival: " + yaml.dump(data["survival"], Dumper=_StrictDumper,
                                              default_flow_style=True,
                                              width=1_000_000).strip())
    if "inflation" in data:
        lines.append("inflation: " + yaml.dump(data["inflation"], Dumper=_StrictDumper,
                                               default_flow_style=True, sort_keys=False,
                                               width=1_000_000).strip())
    if "nominal_savings" in data:
        lines.append("nominal_savings:")
        for entry in data["nominal_savings"]:
            lines.append("  - " + yaml.dump(entry, Dumper=_StrictDumper, default_flow_style=True,
                                            sort_keys=False, width=1_000_000).strip())
    return "\n".join(lines) + "\n"


def _yaml_line(key: str, value: Any) -> str:
    return yaml.dump({key: value}, Dumper=_StrictDumper, default_flow_style=False,
                     width=1_000_000, allow_unicode=True).strip()


def save_problem(problem: GBWMProblem, path: str | os.PathLike[str], overwrite: bool = False, *,
                 name: str | None = None, description: str | None = None,
                 currency: str | None = None, comment: str | None = None) -> Path:
    """Write ``problem`` to a YAML or JSON file (chosen by the suffix); returns the path.

    Refuses to replace an existing file unless ``overwrite=True``. Floats are written with
    ``repr`` precision so loading the file gives back an equal problem.
    """
    path = Path(path)
    suffix = _suffix(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    text = dump_problem_text(problem, "json" if suffix == ".json" else "yaml", name=name,
                             description=description, currency=currency,
                             comment=comment if suffix != ".json" else None)
    # Check the text reads back to the same problem before touching the file.
    if problem_from_dict(_parse_text(text, str(path), suffix), str(path)) != problem:
        raise RuntimeError(f"{path}: the written problem does not read back identically")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def resolve_problem(spec: str | os.PathLike[str]) -> GBWMProblem:
    """A problem from ``paper:NG`` (``paper:4``, ``paper:4:10000`` for a unit) or a file path."""
    text = os.fspath(spec)
    if text.startswith("paper:"):
        parts = text.split(":")
        allowed = ", ".join(f"paper:{n}" for n in PAPER_NUM_GOALS)
        try:
            num_goals = int(parts[1])
            unit = float(parts[2]) if len(parts) == 3 else 1.0
        except (ValueError, IndexError):
            num_goals, unit = -1, 1.0
        if len(parts) > 3 or num_goals not in PAPER_NUM_GOALS or not unit > 0:
            raise ValueError(f"problem {text!r}: use one of {allowed} (optionally "
                             f"paper:NG:UNIT with UNIT > 0), or a path to a "
                             f"{'/'.join(PROBLEM_SUFFIXES)} problem file")
        return paper_problem(num_goals, unit=unit)
    return load_problem(text)
