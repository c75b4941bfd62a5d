"""Optional integrations: a missing one ends in one line naming its extra, and pyproject.toml's extras hold them all."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from serlab.cli.commands import USER_ERROR_STATUS, user_message
from serlab.cli.export import ONNX, export
from serlab.data.smile import build_smile
from serlab.extras import OPTIONAL, MissingExtraError, require
from serlab.training.build import build_module
from tests.conftest import cli_overrides, compose_train

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
EXTRAS = PYPROJECT["project"]["optional-dependencies"]


def requirement_name(requirement: str) -> str:
    """The distribution a requirement line names, normalised as package indexes compare names."""
    name = re.match(r"[A-Za-z0-9._-]+", requirement).group()
    return re.sub(r"[-_.]+", "-", name).lower()


def extras_of(requirement: str) -> set[str]:
    """The extras of serlab a self-reference such as `serlab[wandb,mlflow]` installs."""
    match = re.fullmatch(r"serlab\[([a-z,]+)\]", requirement)
    return set(match.group(1).split(",")) if match else set()


def test_a_missing_package_is_one_line_naming_its_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(MissingExtraError) as caught:
        require("wandb", "logger=wandb")
    assert str(caught.value) == "logger=wandb needs the optional package wandb: pip install 'serlab[wandb]'"


def test_a_package_that_is_installed_but_broken_keeps_its_traceback(monkeypatch, tmp_path):
    (tmp_path / "wandb").mkdir()
    (tmp_path / "wandb" / "__init__.py").write_text("import serlab_no_such_dependency\n")
    monkeypatch.delitem(sys.modules, "wandb", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as caught:
        require("wandb", "logger=wandb")
    assert not isinstance(caught.value, MissingExtraError) and caught.value.name == "serlab_no_such_dependency"


@pytest.mark.parametrize("name, package", [("wandb", "wandb"), ("mlflow", "mlflow")])
def test_a_logger_without_its_package_is_a_user_error_before_anything_is_logged(
    monkeypatch, tmp_path, data_dir, name, package
):
    cfg = compose_train(tmp_path, data_dir, f"logger={name}")
    monkeypatch.setitem(sys.modules, package, None)
    with pytest.raises(InstantiationException) as caught:
        instantiate(cfg.logger[name])
    assert user_message(caught.value) == (
        f"logger={name} needs the optional package {package}: pip install 'serlab[{name}]'"
    )
    assert not any(tmp_path.rglob("*run_id"))


def test_functionals_without_opensmile_name_the_smile_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "opensmile", None)
    with pytest.raises(MissingExtraError, match=r"^data\.streams\.functionals needs the optional package opensmile: "
                       r"pip install 'serlab\[smile\]'$"):
        build_smile("eGeMAPSv02")


@pytest.mark.parametrize("module", ["onnx", "onnxscript", "onnxruntime"])
def test_the_onnx_format_without_its_packages_names_the_export_extra(monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingExtraError, match=rf"^formats=\[onnx\] needs the optional package {module}: "
                       r"pip install 'serlab\[export\]'$"):
        ONNX()


def test_export_reports_a_missing_format_package_before_it_writes_anything(monkeypatch, tmp_path, data_dir):
    cfg = compose_train(tmp_path, data_dir)
    classes = list(dict.fromkeys(cfg.data.label_map.values()))
    module = build_module(cfg, classes)
    ckpt = tmp_path / "run.ckpt"
    torch.save({"state_dict": module.state_dict(), "serlab": {"config": module.run_config, "classes": classes}}, ckpt)
    export_cfg = compose_train(
        tmp_path / "export", data_dir, f"ckpt_path={ckpt}", "formats=[onnx]", config_name="export"
    )
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(InstantiationException) as caught:
        export(export_cfg)
    assert user_message(caught.value) == (
        "formats=[onnx] needs the optional package onnxruntime: pip install 'serlab[export]'"
    )
    assert not (tmp_path / "export" / "run").exists()


def test_serlab_export_imports_without_the_export_extra(monkeypatch):
    for module in ("onnx", "onnxscript", "onnxruntime"):
        monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.delitem(sys.modules, "serlab.cli.export")
    import serlab.cli.export  # noqa: F401  (formats=[torchscript] needs none of them)


def run_hiding(modules: list[str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """serlab-train `args`, run in `cwd`, in a process where none of `modules` can be imported."""
    hide = "; ".join(f"sys.modules[{m!r}] = None" for m in modules)
    command = "from serlab.cli.commands import train; train()"
    code = f"import sys; {hide}; sys.argv = ['serlab-train', *sys.argv[1:]]; {command}"
    paths = [str(ROOT / "src"), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize(
    "override, option, package",
    [
        ("hparams_search=optuna_uar", "hydra/sweeper=optuna", "hydra-optuna-sweeper"),
        ("hydra/launcher=joblib", "hydra/launcher=joblib", "hydra-joblib-launcher"),
        ("hydra/launcher=slurm", "hydra/launcher=slurm", "hydra-submitit-launcher"),
    ],
)
def test_a_sweeper_or_launcher_without_its_plugin_names_the_sweeps_extra(tmp_path, override, option, package):
    plugins = [module for module in OPTIONAL if module.startswith("hydra_plugins.")]
    done = run_hiding(plugins, tmp_path, "--cfg", "hydra", override)
    assert done.returncode == USER_ERROR_STATUS, done.stderr
    assert done.stderr.strip() == f"error: {option} needs the optional package {package}: pip install 'serlab[sweeps]'"


@pytest.mark.slow
def test_the_default_experiment_trains_and_logs_to_tensorboard_without_any_extra(tmp_path, data_dir):
    run = tmp_path / "run"
    args = [*cli_overrides(tmp_path, data_dir), "logger=tensorboard", "debug=limit", "trainer.max_epochs=1"]
    # torchmetrics imports onnxruntime whenever its metadata is installed, so only a venv without it could hide it;
    # that serlab itself imports it only through require is checked below.
    hidden = [module for module in OPTIONAL if module != "onnxruntime"]
    done = run_hiding(hidden, tmp_path, *args, f"hydra.run.dir={run}")
    assert done.returncode == 0, done.stderr[-4000:]
    assert (run / "metrics.json").is_file() and any((run / "tensorboard").rglob("events.*"))


def test_every_optional_package_is_in_its_extra_and_the_all_extra():
    for module, package in OPTIONAL.items():
        assert package.distribution in {requirement_name(r) for r in EXTRAS[package.extra]}, module
    (everything,) = EXTRAS["all"]
    assert extras_of(everything) == {package.extra for package in OPTIONAL.values()}
    assert "all" in set().union(*map(extras_of, EXTRAS["test"]))
    core = {requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
    assert not core & {package.distribution for package in OPTIONAL.values()}
    assert '-e ".[all,test]"' in (ROOT / "Makefile").read_text()


def test_optional_packages_are_imported_only_through_require():
    optional_roots = {module.split(".")[0] for module in OPTIONAL}
    direct = []
    for path in (ROOT / "src" / "serlab").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            direct += [f"{path.relative_to(ROOT)}: {name}" for name in names if name.split(".")[0] in optional_roots]
    assert not direct
