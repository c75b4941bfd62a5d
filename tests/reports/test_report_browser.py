"""The CV report's HTML page opened in a real headless Chromium: every figure shows, nothing errs."""

import html
import json
import re
import shutil
import subprocess

import pytest

from serlab.reports.crossval import CVSummary, read_fold_run
from serlab.reports.render import HEADINGS, write_report
from tests.reports.test_crossval import fake_run

# Put first in <head>: records console errors and failed loads, then on load writes every image's state
# and the errors into the page, which --dump-dom prints.
PROBE = """<script>
window.serlabErrors = [];
const logError = console.error;
console.error = (...args) => { window.serlabErrors.push(args.join(" ")); logError(...args); };
const failed = e => e.message || "failed to load " + e.target.outerHTML.slice(0, 80);
addEventListener("error", e => window.serlabErrors.push(failed(e)), true);
addEventListener("unhandledrejection", e => window.serlabErrors.push(String(e.reason)));
addEventListener("load", () => {
  const images = [...document.images].map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth}));
  const out = document.createElement("pre");
  out.id = "serlab-probe";
  out.textContent = JSON.stringify({images, errors: window.serlabErrors});
  document.body.append(out);
});
</script>"""


def chromium() -> str:
    """The Chromium executable; skip where none is installed."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run installs it where apt-get works), "
                    "so the report page is not checked in a browser")  # fmt: skip
    return found


def open_in_browser(page: str, tmp_path) -> dict:
    """Load `page` with the probe in headless Chromium; return what the probe saw."""
    assert "<head>" in page
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("<head>", "<head>" + PROBE, 1))
    proc = subprocess.run(
        [chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    found = re.search(r'<pre id="serlab-probe">(.*?)</pre>', proc.stdout, flags=re.S)
    assert found, f"Chromium exited {proc.returncode} without the probe's record:\n{proc.stderr[-3000:]}"
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.slow
def test_report_page_shows_every_figure_without_console_errors(tmp_path):
    runs = [(0, 1, 0.70), (0, 2, 0.80), (1, 1, 0.50), (1, 2, 0.60)]
    summary = CVSummary([read_fold_run(fake_run(tmp_path / f"{f}_{s}", f, u), f, s) for f, s, u in runs])
    write_report(summary, tmp_path / "cv", "Cross-validation: test", [])
    seen = open_in_browser((tmp_path / "cv" / "report.html").read_text(), tmp_path)
    assert seen["errors"] == []
    assert [i["alt"] for i in seen["images"]] == list(HEADINGS.values())
    assert all(i["complete"] and i["width"] > 0 for i in seen["images"]), seen["images"]


@pytest.mark.slow
def test_the_browser_check_sees_a_broken_figure_and_a_console_error(tmp_path):
    page = ("<!doctype html><html><head></head><body><img alt='broken' src='data:image/png;base64,AAAA'>"
            "<script>console.error('oops')</script></body></html>")  # fmt: skip
    seen = open_in_browser(page, tmp_path)
    assert seen["images"][0]["width"] == 0
    assert "oops" in seen["errors"]
