"""The dashboard under Streamlit's AppTest: every page renders, main interactions work, no exceptions."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import assert_no_defects

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


def _app(**query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _number(at: AppTest, label: str):  # type: ignore[no-untyped-def]
    return next(n for n in at.number_input if n.label == label)


def test_training_page_answers_the_question() -> None:
    at = _app()
    assert_no_defects(at)
    assert _metric(at, "Training time").endswith("days") and _metric(at, "Cost").startswith("$")
    assert len(at.get("plotly_chart")) == 5  # step, memory, GPU sweep, sensitivity, op roofline
    before = _metric(at, "Training time")
    _number(at, "GPUs").set_value(512).run()
    assert_no_defects(at)
    assert _metric(at, "Training time") != before
    assert at.query_params["gpus"] == ["512"] or at.query_params["gpus"] == "512"


def test_bad_layout_is_reported_beside_the_field() -> None:
    at = _app()
    _number(at, "tp").set_value(7).run()
    assert_no_defects(at, errors_allowed=True)
    assert any("parallelism.tp" in e.value for e in at.error)


def test_url_reproduces_the_scenario() -> None:
    at = _app(
        model="llama3-8b",
        hardware="h100-sxm-80gb",
        gpus="64",
        tp="2",
        pp="1",
        global_batch="512",
        seq_len="8192",
        tokens="1.5e12",
        recompute="selective",
        flash_attention="true",
        zero_stage="1",
    )
    assert_no_defects(at)
    assert _number(at, "GPUs").value == 64 and at.selectbox[0].value == "llama3-8b"


def test_custom_model() -> None:
    at = _app(gpus="8", tp="8", pp="1", global_batch="8", seq_len="2048")
    at.radio(key="tr_source").set_value("custom").run()
    assert_no_defects(at)
    assert _metric(at, "Training time").endswith("days")


@pytest.mark.parametrize("page", ["Planner", "Serving", "Hardware", "Validation", "Scenarios"])
def test_every_page_renders(page: str) -> None:
    at = _app(page=page)
    assert_no_defects(at)
    if page in ("Planner", "Hardware", "Validation", "Serving"):
        assert at.get("plotly_chart")


def test_planner_plan_opens_in_training_page() -> None:
    at = _app(page="Planner")
    assert_no_defects(at)
    assert at.dataframe
    at.button(key="open_plan").click().run()
    assert at.query_params["page"] in (["Training"], "Training")
    assert_no_defects(at)
    assert _metric(at, "Training time").endswith("days")


def test_serving_shipped_scenarios() -> None:
    at = _app(page="Serving")
    for key in ("ship_serving-content-writing.yaml", "ship_serving-tutoring.yaml"):
        at.button(key=key).click().run()
        assert_no_defects(at)
        assert _metric(at, "GPUs needed").isdigit()


def test_scenarios_save_and_compare() -> None:
    at = _app()
    at.sidebar.radio[0].set_value("Scenarios").run()
    at.button(key="save").click().run()
    assert_no_defects(at)
    assert at.dataframe
    assert len(at.get("download_button")) == 3  # YAML, JSON, CSV; the report once built
    assert len(at.get("plotly_chart")) == 1  # the comparison chart
    at.text_input[0].set_value("on 512").run()
    at.button(key="save").click().run()
    assert_no_defects(at)
    assert len(at.dataframe[0].value) == 2


def test_dashboard_report_is_the_cli_report() -> None:
    """The report the Scenarios page offers is `estimator report` of the same scenario, byte for byte
    (apart from nothing: same builder, same alternatives, same renderer)."""
    import io
    import sys
    from contextlib import redirect_stdout

    import yaml

    sys.path.insert(0, str(Path(APP).parent))
    import page_scenarios

    from estimator.cli import main

    at = _app()
    current = at.session_state["current_scenario"]
    text = yaml.safe_dump(current, sort_keys=False)
    html = page_scenarios._html_report.__wrapped__(text)  # type: ignore[attr-defined]
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "s.yaml", Path(tmp) / "r.html"
        src.write_text(text)
        with redirect_stdout(io.StringIO()):
            assert main(["report", str(src), "-o", str(out)]) == 0
        cli = out.read_text()
    import re

    def strip(h: str) -> str:  # plotly gives each figure a random div id
        return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "ID", h)

    assert strip(html) == strip(cli)


def test_serving_that_does_not_fit_is_loud_and_unpriced() -> None:
    """A 70B model in bf16 on one H100 (141 GB of weights on 80 GB): red banner, no price (defect 2)."""
    import json

    from estimator.scenario_io import SERVING_SCENARIOS
    from estimator.textio import read_yaml

    data = read_yaml(SERVING_SCENARIOS / "serving-customer-service.yaml")
    data.update(model="llama3-70b", hardware="h100-sxm-80gb", parallelism={"tp": 1}, precision="bf16")
    data.pop("quantisation", None)
    at = _app(page="Serving", serving=json.dumps(data))
    assert_no_defects(at, errors_allowed=True)
    assert any("DOES NOT FIT" in e.value for e in at.error)
    assert _metric(at, "USD per million tokens") == "not priced"
    assert _metric(at, "Per month") == "not priced"


def test_training_that_does_not_fit_is_loud_and_unpriced() -> None:
    """GPT-3 175B on 8 A100 without recomputation needs ~379 GiB per GPU: no cost, a banner with fixes."""
    at = _app(hardware="a100-sxm-80gb", gpus="8", tp="8", pp="1", recompute="none", global_batch="8")
    assert_no_defects(at, errors_allowed=True)
    banner = next(e.value for e in at.error if "DOES NOT FIT" in e.value)
    assert "GiB" in banner
    assert not _metric(at, "Cost").startswith("$")
