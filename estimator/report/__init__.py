"""Cost reports: HTML, Markdown, PDF, JSON and CSV from one or several scenarios."""

from __future__ import annotations

from pathlib import Path

from estimator.report.content import Report, build_report
from estimator.report.document import document
from estimator.report.render import write
from estimator.report.tabular import to_csv, to_json

FORMATS = (".html", ".md", ".pdf", ".json", ".csv")


def write_report(report: Report, out: str | Path) -> Path:
    """Write `report` to `out` (the extension picks the format)."""
    path = Path(out)
    write(document(report), path, {".json": to_json(report), ".csv": to_csv(report)})
    return path


__all__ = ["FORMATS", "Report", "build_report", "write_report"]
