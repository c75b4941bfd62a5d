"""Start-up cost of serlab-train when it only answers: printing the config, --help and one shell-completion query.

    python bench/startup.py [--repeats 5]

Each figure is the median wall time of `--repeats` fresh processes that run the `serlab-train` entry point
named in pyproject.toml (as its installed wrapper does) from this checkout's sources. Beside them, the same
median for `python -c "import torch"`, the floor of any command that loads the training stack.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from timing import median_seconds

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = "serlab-train"


def entry_point_code(args: list[str]) -> str:
    """Python code that runs the serlab-train entry point with `args`."""
    module, function = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"][SCRIPT].split(":")
    return (
        f"import importlib, sys; sys.argv = [{SCRIPT!r}, *{args!r}]; "
        f"getattr(importlib.import_module({module!r}), {function!r})()"
    )


def process_seconds(code: str, env: dict[str, str], repeats: int) -> float:
    """Median wall time of `repeats` runs of `python -c code`, each a fresh process."""
    command = [sys.executable, "-c", code]
    return median_seconds(lambda: subprocess.run(command, env=env, check=True, capture_output=True), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    cases = {
        f"{SCRIPT} --cfg job": (["--cfg", "job"], {}),
        f"{SCRIPT} --help": (["--help"], {}),
        f"completion of '{SCRIPT} model='": (["-sc", "query=bash"], {"COMP_LINE": f"{SCRIPT} model="}),
    }
    torch_s = process_seconds("import torch", env, args.repeats)
    print(f"median of {args.repeats} runs; python -c 'import torch': {torch_s:.2f} s\n")
    print(f"{'command':<36} {'s':>6} {'/ import torch':>15}")
    for name, (argv, extra) in cases.items():
        seconds = process_seconds(entry_point_code(argv), {**env, **extra}, args.repeats)
        print(f"{name:<36} {seconds:>6.2f} {seconds / torch_s:>15.2f}")


if __name__ == "__main__":
    main()
