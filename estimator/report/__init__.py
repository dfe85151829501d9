"""Cost reports: HTML, Markdown, PDF, JSON and CSV from one or several scenarios."""

from __future__ import annotations

import tempfile
from pathlib import Path

from estimator.errors import InputError
from estimator.report.content import Report, build_report
from estimator.report.document import document
from estimator.report.render import write
from estimator.report.tabular import to_csv, to_json

FORMATS = (".html", ".md", ".pdf", ".json", ".csv")


def check_writable(out: str | Path) -> Path:
    """`out` as a path a report can be written to, checked before any work: not a directory, a known
    extension, and a folder this process can create files in (else an InputError naming -o)."""
    path = Path(out)
    if path.is_dir():
        raise InputError(f"-o {path}: is a directory; give a file name such as {path / 'report.html'}")
    if path.suffix.lower() not in FORMATS:
        raise InputError(f"-o {path}: unknown report format {path.suffix!r}; use {', '.join(FORMATS)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".estimator-", delete=True):
            pass
    except OSError as exc:
        raise InputError(f"-o {path}: cannot write there ({exc.strerror or exc})") from None
    return path


def write_report(report: Report, out: str | Path) -> Path:
    """Write `report` to `out` (the extension picks the format)."""
    path = check_writable(out)
    try:
        write(document(report), path, {".json": to_json(report), ".csv": to_csv(report)})
    except OSError as exc:
        raise InputError(f"-o {path}: cannot write the report ({exc.strerror or exc})") from None
    return path


__all__ = ["FORMATS", "Report", "build_report", "check_writable", "write_report"]
