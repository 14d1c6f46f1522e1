"""benchmarks/held_out_table.py: the groups, the counts, and runs that do not match."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest


def _script():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "held_out_table.py"
    spec = importlib.util.spec_from_file_location("held_out_table", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(folder: Path, rows: list[tuple[str, float | None, str]]) -> str:
    folder.mkdir()
    (folder / "results.jsonl").write_text("".join(
        json.dumps({"name": n, "efficiency": e, "scope": s}) + "\n" for n, e, s in rows))
    return str(folder)


def test_groups_follow_the_first_runs_scope(tmp_path: Path, capsys) -> None:
    rows = [("crowded_years-50", 0.99, "inside"), ("meta_rl_full_range-240", 0.94, "inside"),
            ("underfunded-51", 0.90, "beyond"), ("meta_rl_draws-50", None, "inside")]
    a = _run(tmp_path / "a", rows)
    # the second run's own scopes do not move a problem between groups
    b = _run(tmp_path / "b", [(n, None if e is None else e + 0.01, "inside")
                               for n, e, _ in rows])
    assert _script().main([f"A={a}", f"B={b}"]) == 0
    printed = capsys.readouterr().out
    assert "| accepted | 2 | 0.9650 / 0.9400 / 1 | 0.9750 / 0.9500 / 0 |" in printed
    assert "| refused (scored anyway) | 1 | 0.9000 / 0.9000 / 1 | 0.9100 / 0.9100 / 1 |" \
        in printed
    assert "| the meta-RL range (`meta_rl_draws` and `META_RL_FULL_RANGE`), all | 1 |" \
        in printed


def test_runs_of_other_problems_or_bad_arguments_are_refused(tmp_path: Path, capsys) -> None:
    a = _run(tmp_path / "a", [("crowded_years-50", 0.99, "inside")])
    b = _run(tmp_path / "b", [("crowded_years-51", 0.99, "inside")])
    with pytest.raises(SystemExit):
        _script().main([f"A={a}", f"B={b}"])
    assert "the runs score different problems" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _script().main([str(tmp_path / "a")])
    assert "expected LABEL=DIR with DIR/results.jsonl" in capsys.readouterr().err
