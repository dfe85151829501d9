"""The README's examples work as written: every YAML block is a valid scenario (or scenario fragment),
every `estimator` command parses and the quick ones run with exit 0, the Python block runs, every function of
the formula index exists, and the accuracy table quotes the stored cross-validated figures."""

from __future__ import annotations

import contextlib
import importlib
import io
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from estimator.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SLOW = ("validate", "calibrate", "dashboard")  # parsed here; run by their own tests


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def _commands() -> list[str]:
    out = []
    for block in _blocks("bash"):
        for line in block.splitlines():
            line = re.split(r"\s#\s", line)[0].strip()
            if line.startswith(".venv/bin/estimator "):
                out.append(line.removeprefix(".venv/bin/estimator "))
    return out


def test_readme_has_examples() -> None:
    assert len(_commands()) >= 20 and len(_blocks("yaml")) >= 3 and len(_blocks("python")) == 1


@pytest.mark.parametrize("command", _commands())
def test_readme_command(command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    argv = [a.replace("out/", f"{tmp_path}/") for a in shlex.split(command)]
    build_parser().parse_args(argv)  # every command and option exists
    for arg in argv:
        if arg.startswith("examples/"):
            assert (ROOT / arg).is_file(), arg
    if argv[0] in SLOW or (argv[0] == "report" and not argv[-1].endswith((".html", ".json", ".csv"))):
        return  # PDF and Markdown reports: tests/test_report.py
    monkeypatch.chdir(ROOT)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(argv) == 0, command


def _with_defaults(fragment: dict[str, Any], base: str) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / base).read_text())
    data.update(fragment)
    return data  # type: ignore[no-any-return]


def test_readme_yaml_blocks_are_valid() -> None:
    from estimator.scenario_io import scenario_from_dict
    from estimator.specs.inference import InferenceScenario
    from estimator.specs.plan import PlanSpec

    kinds = set()
    for block in _blocks("yaml"):
        data = yaml.safe_load(block)
        assert isinstance(data, dict)
        if "training" in data:
            scenario_from_dict(data)
            kinds.add("training")
        elif "inference" in data:
            InferenceScenario.model_validate(_with_defaults(data, "examples/serving-tutoring.yaml"))
            kinds.add("inference")
        elif "plan" in data:
            PlanSpec.model_validate(data["plan"])
            kinds.add("plan")
        else:
            pytest.fail(f"a YAML block the test does not know: {block[:80]}")
    assert kinds == {"training", "inference", "plan"}


def test_readme_python_block_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        exec(compile(_blocks("python")[0], "README.md", "exec"), {})  # noqa: S102 - the README's own code
    assert "days;" in out.getvalue()


def test_formula_index_names_real_functions() -> None:
    table = README.split("## Formula index")[1].split("## Layout")[0]
    rows = [r for r in table.splitlines() if r.startswith("| ") and "`" in r]
    assert len(rows) >= 15
    for row in rows:
        names = re.findall(r"`([\w.]+)`", row.split("|")[2])
        module = None
        for name in names:
            if "." in name:
                module, _, func = name.rpartition(".")
            else:
                func = name
            assert module is not None, row
            mod = importlib.import_module(f"estimator.{module}")
            assert callable(getattr(mod, func, None)), f"estimator.{module}.{func}"


def test_accuracy_table_quotes_the_stored_cross_validation() -> None:
    from estimator.validation import stored_summary

    sets = stored_summary()["sets"]
    for name in ("a100", "modern", "all"):
        cv = sets[name]["cross_validated"]
        text = f"{cv['median_abs_error']:.1%} / {cv['max_abs_error']:.1%}".replace("%", " %")
        assert text in README, (name, text)
