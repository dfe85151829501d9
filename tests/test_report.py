"""Cost reports: every format from the GPT-3 175B scenario, offline HTML, escaped user text, PDF pages,
and the same numbers as `estimator train --format json`."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from estimator.cli import main
from estimator.units import fmt_usd

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
GPT3 = EXAMPLES / "gpt3-175b.yaml"
REQUIRED = os.environ.get("ESTIMATOR_BROWSER_TESTS") == "required"


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        if REQUIRED:
            pytest.fail(f"{tool} is missing and ESTIMATOR_BROWSER_TESTS=required")
        pytest.skip(f"{tool} not installed")


@pytest.fixture(scope="module")
def train_json() -> dict[str, object]:
    """What `estimator train GPT3 --format json` prints."""
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert main(["train", str(GPT3), "--format", "json"]) == 0
    return json.loads(buf.getvalue())  # type: ignore[no-any-return]


def test_json_and_csv_numbers_equal_train(tmp_path: Path, train_json: dict[str, object]) -> None:
    assert main(["report", str(GPT3), "-o", str(tmp_path / "r.json"), "--no-alternatives"]) == 0
    doc = json.loads((tmp_path / "r.json").read_text())
    est = doc["training"][0]["estimate"]
    for key in ("params_total", "step_time_s", "train_time_s", "gpu_hours", "cost_usd", "energy_kwh", "mfu"):
        assert est[key] == pytest.approx(train_json[key], rel=1e-12), key
    assert doc["validation"]["median_abs_error"] <= 0.05
    assert main(["report", str(GPT3), "-o", str(tmp_path / "r.csv"), "--no-alternatives"]) == 0
    rows = {(r["key"]): r["value"] for r in csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text()))}
    assert float(rows["cost_usd"]) == pytest.approx(train_json["cost_usd"], rel=1e-12)  # type: ignore[arg-type]


def test_html_is_offline_and_carries_the_numbers(tmp_path: Path, train_json: dict[str, object]) -> None:
    out = tmp_path / "r.html"
    assert main(["report", str(GPT3), str(EXAMPLES / "serving-tutoring.yaml"), "-o", str(out)]) == 0
    text = out.read_text()
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, re.I)
    assert not re.search(r"<link[^>]*href\s*=\s*['\"]?https?:", text, re.I)
    assert "plotly" in text.lower() and text.count("Plotly.newPlot") >= 4
    assert fmt_usd(train_json["cost_usd"]) in text  # type: ignore[arg-type]
    assert "Recommended plan" in text and "Alternatives" in text and "Serving: Tutoring assistant" in text
    assert "Validated accuracy" in text and "Assumptions and sources" in text


def test_user_text_is_escaped(tmp_path: Path) -> None:
    evil = tmp_path / "evil.yaml"
    evil.write_text(
        GPT3.read_text().replace("name: GPT-3 175B on 1024 A100-80GB", "name: '<script>alert(1)</script>'")
    )
    html_out, md_out = tmp_path / "e.html", tmp_path / "e.md"
    assert main(["report", str(evil), "-o", str(html_out), "--no-alternatives"]) == 0
    text = html_out.read_text()
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    _need("chromium")
    assert main(["report", str(evil), "-o", str(md_out), "--no-alternatives"]) == 0
    assert "<script>" not in md_out.read_text()


def test_markdown_with_charts_beside_it(tmp_path: Path) -> None:
    _need("chromium")
    out = tmp_path / "r.md"
    assert main(["report", str(GPT3), "-o", str(out), "--no-alternatives"]) == 0
    text = out.read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(images) == 4
    for rel in images:
        data = (tmp_path / rel).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_pdf_renders_into_pages(tmp_path: Path) -> None:
    _need("chromium")
    _need("pdftoppm")
    out = tmp_path / "r.pdf"
    assert main(["report", str(GPT3), "-o", str(out), "--no-alternatives"]) == 0
    assert out.read_bytes()[:5] == b"%PDF-"
    subprocess.run(
        ["pdftoppm", "-r", "30", "-png", str(out), str(tmp_path / "page")], check=True, timeout=120
    )
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 3 and all(p.stat().st_size > 1000 for p in pages)


def test_comparison_of_several_scenarios(tmp_path: Path) -> None:
    other = tmp_path / "h100.yaml"
    other.write_text(
        GPT3.read_text()
        .replace("hardware: a100-sxm-80gb", "hardware: h100-sxm-80gb")
        .replace("name: GPT-3 175B on 1024 A100-80GB", "name: on H100")
    )
    out = tmp_path / "cmp.html"
    assert main(["report", str(GPT3), str(other), "-o", str(out), "--no-alternatives"]) == 0
    text = out.read_text()
    assert "Comparison" in text and "on H100" in text


def test_unknown_format_is_bad_input(tmp_path: Path) -> None:
    assert main(["report", str(GPT3), "-o", str(tmp_path / "r.docx")]) == 2


def test_first_pdf_page_is_the_executive_summary(tmp_path: Path) -> None:
    """Page 1 carries the headline cost with its range, days, hardware, price and source, the fit, the
    recommendation and the assumptions that move the cost most; the detail starts on page 2."""
    _need("chromium")
    _need("pdftotext")
    out = tmp_path / "r.pdf"
    assert main(["report", str(GPT3), "-o", str(out), "--no-alternatives"]) == 0
    first = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    second = subprocess.run(
        ["pdftotext", "-f", "2", "-l", "2", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    for text in ("Executive summary", "range", "days", "per GPU-hour", "headroom", "recommended plan"):
        assert text in first, text
    assert "kernel efficiency: cost" in first
    assert "Configuration" not in first and second.lstrip().startswith("Scenario:")


def test_drivers_rank_the_largest_swing_first() -> None:
    import pandas as pd

    from estimator.report.document import drivers

    frame = pd.DataFrame(
        {
            "parameter": ["baseline", "a", "a", "b", "b"],
            "setting": ["as given", "×0.5", "×2", "×0.5", "×2"],
            "cost_usd": [100.0, 90.0, 110.0, 60.0, 170.0],
        }
    )
    assert drivers(frame) == ["b: cost ×0.5 -40.0% / ×2 +70.0%", "a: cost ×0.5 -10.0% / ×2 +10.0%"]
    assert drivers(frame, top=1) == ["b: cost ×0.5 -40.0% / ×2 +70.0%"]
