"""The console commands as a user meets them: what --help offers, how a mistake is reported, what starting costs."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.conftest import run_cli, write_tree

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
# Imported by a command only when its task runs.
TRAINING_STACK = ("torch", "lightning", "serlab.training", "serlab.data")


def console_script(folder: Path, name: str, *args: str) -> str:
    """Write module `console` into `folder`: it runs console script `name` with `args` as its installed wrapper
    does, and at exit prints which modules of the training stack it imported. Returns the module name."""
    module, function = SCRIPTS[name].split(":")
    (folder / "console.py").write_text(
        "import atexit, importlib, sys\n"
        f"atexit.register(lambda: print('imported:', sorted(m for m in {TRAINING_STACK!r} if m in sys.modules)))\n"
        f"sys.argv = [{name!r}, *{list(args)!r}]\n"
        f"getattr(importlib.import_module({module!r}), {function!r})()\n"
    )
    return "console"


@pytest.mark.parametrize(
    "args,env,shows",
    [
        (["--cfg", "job"], {}, "serlab.models.crnn.CRNN"),
        (["--help"], {}, "frontend: byol_s, hf_encoder, logmel, mfcc"),
        (["-sc", "query=bash"], {"COMP_LINE": "serlab-train model="}, "model=crnn"),
    ],
    ids=["cfg", "help", "completion"],
)
def test_printing_the_config_help_and_completion_import_no_training_stack(tmp_path, args, env, shows):
    out = run_cli(console_script(tmp_path, "serlab-train", *args), cwd=tmp_path, env=env).stdout
    assert shows in out and out.rstrip().splitlines()[-1] == "imported: []"


@pytest.mark.parametrize("name", ["serlab-cv", "serlab-eval", "serlab-predict", "serlab-export", "serlab-pretrain"])
def test_every_command_prints_its_config_without_the_training_stack(tmp_path, name):
    out = run_cli(console_script(tmp_path, name, "--cfg", "job"), cwd=tmp_path).stdout
    assert "task_name: " + name.removeprefix("serlab-") in out and out.rstrip().splitlines()[-1] == "imported: []"


def test_help_lists_only_options_a_user_can_select(tmp_path):
    shown = run_cli("serlab.cli.train", "--help", cwd=tmp_path).stdout
    groups = dict(line.split(": ", 1) for line in shown.split("== Config ==")[0].splitlines() if ": " in line)
    assert "logmel" in groups["frontend"] and "crnn" in groups["model"]
    assert groups["data"].split(", ") == [
        "crema_d",
        "emodb",
        "iemocap",
        "manifest",
        "multi",
        "ravdess",
        "synthetic",
        "tess",
        "urdu",
    ]
    assert groups["trainer"] == "cpu, ddp, ddp_cpu, gpu" and groups["debug"] == "fdr, limit, overfit"
    assert groups["pruning"] == "lottery, magnitude, none"
    assert groups["quantization"] == "none, qat"
    assert not {"formats", "sweep"} & set(groups)


@pytest.mark.parametrize("choice", ["data=_loader", "trainer=default", "debug=default"])
def test_selecting_an_internal_option_is_refused_in_one_line(tmp_path, choice):
    proc = run_cli("serlab.cli.train", choice, cwd=tmp_path, expect=2)
    group = choice.split("=")[0]
    (line,) = proc.stderr.splitlines()
    assert (
        line.startswith("error: ") and f"Could not find '{group}/" in line and f"Available options in '{group}'" in line
    )


@pytest.mark.parametrize(
    "old,option,new",
    [
        ("regularizer=[dropout,ema]", "ema", "write callbacks=[default,ema]"),
        ("regularizer=[early_stopping]", "early_stopping", "callbacks=[model_checkpoint,early_stopping]"),
        ("regularizer=[dropout,grad_clip]", "grad_clip", "write trainer.gradient_clip_val=5.0"),
    ],
    ids=["ema", "early_stopping", "grad_clip"],
)
def test_an_option_that_left_the_regularizer_group_names_its_new_spelling(tmp_path, old, option, new):
    proc = run_cli("serlab.cli.train", "--cfg", "job", old, cwd=tmp_path, expect=2)
    (line,) = proc.stderr.splitlines()
    assert line.startswith("error: ") and f"regularizer={option}: {option} is no longer a regularizer option" in line
    assert new in line


@pytest.mark.parametrize(
    "old,new",
    [
        ("data/functionals=compare", "write data/streams/functionals=..."),
        ("data.functionals.per_speaker=true", "write data.streams.functionals.per_speaker=..."),
    ],
    ids=["group", "key"],
)
def test_a_moved_group_or_key_names_its_new_spelling(tmp_path, old, new):
    proc = run_cli("serlab.cli.train", "--cfg", "job", old, cwd=tmp_path, expect=2)
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"error: {old.split('=')[0]}: ") and line.endswith(new)


def test_help_offers_no_option_that_left_its_group(tmp_path):
    shown = run_cli("serlab.cli.train", "--help", cwd=tmp_path).stdout
    groups = dict(line.split(": ", 1) for line in shown.split("== Config ==")[0].splitlines() if ": " in line)
    assert groups["regularizer"].split(", ") == ["dropout", "mixup", "noise", "specaugment", "weight_penalty"]
    assert {"early_stopping", "ema"} <= set(groups["callbacks"].split(", "))


@pytest.fixture
def tess_root(tmp_path) -> Path:
    """A TESS release of two speakers: no speaker-independent train/val/test split exists."""
    names = [f"{s}_{e}/{s}_{w}_{e}" for s in ("OAF", "YAF") for e in ("angry", "neutral") for w in ("back", "dog")]
    return write_tree(tmp_path / "tess", names)


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides,named",
    [
        (["trainer.max_epochs=abc"], "trainer.max_epochs='abc'"),
        (["data=tess", "data.root={tess}"], "data.split: 2 speaker(s)"),
        (["data=emodb", "data.root={tmp}/nowhere"], "{tmp}/nowhere: no such folder"),
        (["data=emodb"], "data.root: has no value"),
        (["experiment=byol_s_attention"], "frontend.weights: has no value"),
    ],
    ids=["bad-value", "impossible-split", "bad-corpus-folder", "missing-value", "missing-weights"],
)
def test_a_user_error_is_one_line_without_traceback_or_config_tree(tmp_path, tess_root, overrides, named):
    places = {"tess": tess_root, "tmp": tmp_path}
    args = [o.format(**places) for o in overrides]
    proc = run_cli("serlab.cli.train", f"paths.root_dir={tmp_path}", *args, cwd=tmp_path, expect=2)
    (line,) = proc.stderr.splitlines()
    assert line.startswith("error: ") and named.format(**places) in line
    assert "_target_" not in proc.stdout  # the config tree was not printed


@pytest.mark.slow
def test_hydra_full_error_shows_the_traceback_of_a_user_error(tmp_path, tess_root):
    proc = run_cli(
        "serlab.cli.train", f"paths.root_dir={tmp_path}", "data=tess", f"data.root={tess_root}",
        cwd=tmp_path, expect=1, env={"HYDRA_FULL_ERROR": "1"},
    )  # fmt: skip
    assert "Traceback (most recent call last)" in proc.stderr and "SplitError" in proc.stderr


def test_a_bug_keeps_its_traceback(tmp_path):
    # a task that fails by a programming error (len of a config), not by a user's mistake
    (tmp_path / "buggy.py").write_text(
        "import sys\nfrom serlab.cli.commands import hydra_command\n"
        "sys.argv = ['buggy', 'hydra.run.dir=.', 'hydra.output_subdir=null']\n"
        "hydra_command('train', 'math.sqrt')()\n"
    )
    proc = run_cli("buggy", cwd=tmp_path, expect=1)
    assert "Traceback (most recent call last)" in proc.stderr and "TypeError" in proc.stderr
