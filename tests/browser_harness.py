"""The dashboard in a real browser: a Streamlit server on a free port and Debian's Chromium driven by
Playwright (never `playwright install`). Shared by tests/test_browser.py and scripts/benchmark.py."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
ANSWER = '[data-testid="stMetric"]'  # the answer band's first figure


@contextmanager
def server(timeout_s: float = 90.0) -> Iterator[str]:
    """`estimator dashboard`'s Streamlit command on a free local port; yields its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "dashboard" / "app.py"),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--client.toolbarMode",
            "minimal",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout_s
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError(
                        f"the Streamlit server did not start within {timeout_s:.0f} s"
                    ) from None
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def idle(page: Any, timeout_ms: int = 60_000) -> None:
    """Wait until Streamlit has finished the script run: its status widget shows no run for 0.4 s in a row
    (the widget appears only some time after a run starts, so one look is not enough)."""
    page.evaluate("() => { window.__idleSince = undefined; }")
    page.wait_for_function(
        """() => {
            const w = document.querySelector('[data-testid=stStatusWidget]');
            const busy = w && /Running|Connecting/.test(w.innerText);
            const now = performance.now();
            if (busy || window.__idleSince === undefined) window.__idleSince = now;
            return !busy && now - window.__idleSince >= 400;
        }""",
        timeout=timeout_ms,
        polling=100,
    )


def metric(page: Any, label: str) -> str:
    loc = page.locator(ANSWER).filter(has_text=label).locator('[data-testid="stMetricValue"]')
    return str(loc.first.inner_text())


def wait_metric_change(page: Any, label: str, before: str, timeout_ms: int = 60_000) -> str:
    page.wait_for_function(
        "([l, b]) => { const m = [...document.querySelectorAll('[data-testid=stMetric]')]"
        ".find(e => e.innerText.includes(l)); if (!m) return false;"
        " const v = m.querySelector('[data-testid=stMetricValue]'); return v && v.innerText !== b; }",
        arg=[label, before],
        timeout=timeout_ms,
    )
    return metric(page, label)


def defects(page: Any) -> list[str]:
    """Streamlit exception elements and the app's own defect notice: never expected."""
    found = [str(t) for t in page.locator('[data-testid="stException"]').all_inner_texts()]
    found += [
        str(t)
        for t in page.locator('[data-testid="stAlert"]').all_inner_texts()
        if "Something went wrong" in t
    ]
    return found
