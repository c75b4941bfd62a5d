"""The checks `make lint` runs: configured in pyproject.toml, run by CI before the tests, passing on the tree."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_ruff_and_mypy_come_with_the_test_extra():
    extra = PYPROJECT["project"]["optional-dependencies"]["test"]
    names = {re.split(r"[<>=!~ \[]", req, maxsplit=1)[0] for req in extra}
    assert {"ruff", "mypy"} <= names


def test_ruff_selects_the_project_rule_set():
    ruff = PYPROJECT["tool"]["ruff"]
    assert ruff["line-length"] == 120
    assert {"E", "W", "F", "I", "UP", "B", "SIM"} <= set(ruff["lint"]["select"])


def test_ruff_passes_on_the_tree():
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "src", "tests", "bench"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout


def test_mypy_checks_the_package():
    mypy = PYPROJECT["tool"]["mypy"]
    assert mypy["files"] == ["src/serlab"] and mypy["check_untyped_defs"] and mypy["warn_unused_ignores"]


@pytest.mark.slow
def test_mypy_passes_on_the_package():
    proc = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_lint_runs_ruff_and_mypy(tmp_path):
    # -n prints the recipe; -o keeps the install step out of it; --no-print-directory because under `make test`
    # this is a sub-make, which would announce the folder it enters
    venv = tmp_path / "venv"
    proc = subprocess.run(
        ["make", "-n", "--no-print-directory", "lint", f"VENV={venv}", "-o", f"{venv}/.serlab-installed"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert proc.stdout.splitlines() == [f"{venv}/bin/ruff check src tests bench", f"{venv}/bin/mypy"]


def test_ci_lints_before_testing():
    script = (ROOT / ".ci" / "run").read_text()
    assert "set -euo pipefail" in script
    commands = [line.strip() for line in script.splitlines() if line.strip().startswith("make ")]
    assert commands[0] == "make lint" and commands[1].startswith("make test")


def test_pre_commit_hooks_use_the_project_environment():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    assert {repo["repo"] for repo in config["repos"]} == {"local"}
    assert {hook["id"] for hook in hooks} == {"ruff", "mypy"}
    assert all(hook["entry"].startswith(".venv/bin/") and hook["language"] == "system" for hook in hooks)


def test_contributing_names_files_that_exist():
    text = (ROOT / "CONTRIBUTING.md").read_text()
    named = set(re.findall(r"`([\w/.]+\.(?:py|yaml|md|toml))`", text))
    # paths are given from the repository, from the package or, for an example test, by file name
    bases = [ROOT, ROOT / "src" / "serlab", ROOT / "tests" / "data" / "corpora"]
    missing = sorted(p for p in named if not any((base / p).is_file() for base in bases))
    assert len(named) > 10 and not missing
    assert "](CONTRIBUTING.md)" in (ROOT / "README.md").read_text()


def test_no_part_is_probed_for_what_it_can_do():
    # Parts declare their interfaces (serlab.interfaces) and are checked against them; nothing in the
    # package asks an object at run time whether it happens to have an attribute.
    probes = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in sorted((ROOT / "src" / "serlab").rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\b(getattr|hasattr)\(", line)
    ]
    assert probes == []


def test_the_library_imports_no_command():
    # serlab.cli holds the commands; everything else is library code a command builds on, never the reverse
    imports = [
        f"{path.relative_to(ROOT)}: {line.strip()}"
        for path in sorted((ROOT / "src" / "serlab").rglob("*.py"))
        if "cli" not in path.relative_to(ROOT / "src" / "serlab").parts
        for line in path.read_text().splitlines()
        if re.match(r"\s*(from|import) serlab\.cli\b", line)
    ]
    assert imports == []
