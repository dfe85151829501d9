"""JSON and CSV reports: the same numbers `estimator train --format json` prints, per scenario."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from estimator.render import csv_cell, flatten
from estimator.report.content import Report


def report_dict(report: Report) -> dict[str, Any]:
    return {
        "title": report.title,
        "generated": report.generated,
        "validation": report.validation,
        "training": [
            {
                "scenario": s.scenario.model_dump(mode="json"),
                "estimate": s.estimate.to_json_dict(),
                "recommended_plan": None
                if s.recommended is None
                else {
                    "scenario": s.recommended["scenario"],
                    "estimate": s.recommended["estimate"].to_json_dict(),
                },
                "alternatives": s.alternatives.to_dict(orient="records"),
                "other_hardware": s.hardware.to_dict(orient="records"),
            }
            for s in report.training
        ],
        "serving": [{"name": s.name, "estimate": s.estimate.to_json_dict()} for s in report.serving],
    }


def to_json(report: Report) -> str:
    return json.dumps(report_dict(report), indent=2, default=str) + "\n"


def to_csv(report: Report) -> str:
    """One row per (scenario, key) with the estimate's value; SI units as in the JSON."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["scenario", "kind", "key", "value"])
    for s in report.training:
        rows: list[tuple[str, Any]] = []
        flatten("", s.estimate.to_json_dict(), rows)
        writer.writerows(
            [(csv_cell(s.estimate.scenario), "training", csv_cell(k), csv_cell(v)) for k, v in rows]
        )
    for serving in report.serving:
        rows = []
        flatten("", serving.estimate.to_json_dict(), rows)
        writer.writerows([(csv_cell(serving.name), "serving", csv_cell(k), csv_cell(v)) for k, v in rows])
    return buf.getvalue()
