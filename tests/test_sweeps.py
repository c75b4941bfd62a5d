"""Sweeps: run-folder claims, the Optuna study that resumes, launcher configs and wandb sweep configs."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.utils import setup_globals
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from serlab.configs import CONFIG_DIR, claim_dir
from tests.conftest import cli_overrides, run_cli

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = sorted((ROOT / "sweeps").glob("*.yaml"))


def compose_with_hydra(*overrides: str) -> DictConfig:
    """The train config with its `hydra` node, as a launch would see it."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=True)


def test_claim_dir_never_hands_out_a_folder_twice(tmp_path):
    claimed = [claim_dir(str(tmp_path / "runs" / "2026-01-01_00-00-00")) for _ in range(3)]
    assert [Path(c).name for c in claimed] == ["2026-01-01_00-00-00", "2026-01-01_00-00-00_2", "2026-01-01_00-00-00_3"]
    assert all(Path(c).is_dir() for c in claimed)


def test_runs_and_multiruns_started_in_the_same_second_get_their_own_folders(tmp_path):
    first, second = (compose_with_hydra(f"paths.root_dir={tmp_path}") for _ in range(2))
    # Two launches whose clocks read the same second: a frozen `now` stands for that.
    OmegaConf.register_new_resolver("now", lambda pattern: "2026-01-01_00-00-00", replace=True, use_cache=True)
    try:
        runs = [cfg.hydra.run.dir for cfg in (first, second)]
        sweeps = [cfg.hydra.sweep.dir for cfg in (first, second)]
    finally:
        setup_globals()  # Hydra's own `now` again
    assert runs[0] != runs[1] and sweeps[0] != sweeps[1]
    assert runs[0] == str(tmp_path / "runs" / "train" / "runs" / "2026-01-01_00-00-00")
    assert all(Path(d).is_dir() for d in runs + sweeps)
    # A config keeps the folder it claimed however often it is looked up.
    assert first.hydra.run.dir == runs[0] and first.hydra.sweep.dir == sweeps[0]


@pytest.mark.slow
def test_optuna_study_resumes_and_adds_trials(tmp_path, data_dir):
    import optuna

    args = [*cli_overrides(tmp_path, data_dir), "hparams_search=optuna_uar", "debug=fdr"]
    run_cli("serlab.cli.train", *args, "hydra.sweeper.n_trials=2", cwd=tmp_path)
    storage = f"sqlite:///{tmp_path / 'runs' / 'debug' / 'optuna' / 'serlab_uar.db'}"
    first = optuna.load_study(study_name="serlab_uar", storage=storage).trials

    # Started again, the study continues: its two trials stay and new ones are numbered after them.
    run_cli("serlab.cli.train", *args, "hydra.sweeper.n_trials=1", cwd=tmp_path)
    trials = optuna.load_study(study_name="serlab_uar", storage=storage).trials
    assert [t.number for t in trials] == [0, 1, 2]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert [(t.params, t.value) for t in trials[:2]] == [(t.params, t.value) for t in first]
    # The resumed sampler does not replay the first launch's start-up trials.
    assert trials[2].params not in [t.params for t in first]
    launches = sorted((tmp_path / "runs" / "debug" / "multiruns").iterdir())
    assert [sorted(p.name for p in d.iterdir() if p.is_dir()) for d in launches] == [["0", "1"], ["0"]]


def test_slurm_launcher_lays_out_multi_node_ddp(tmp_path, monkeypatch):
    import submitit

    # submitit refuses to build a SLURM executor where there is no srun; a stand-in is enough to compose.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\n")
    (bin_dir / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    executors = []
    monkeypatch.setattr(submitit.AutoExecutor, "map_array", lambda self, fn, *args: executors.append(self) or [])

    cfg = compose_with_hydra(
        f"paths.root_dir={tmp_path}", "hydra/launcher=slurm", "trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2"
    )
    launcher = instantiate(cfg.hydra.launcher)
    launcher.setup(hydra_context=None, task_function=None, config=cfg)
    launcher.launch([["data.fold=0"], ["data.fold=1"]], initial_job_idx=0)
    # Every option was accepted by submitit; the batch script asks for what Lightning's DDP expects.
    script = executors[0]._executor._make_submission_file_text("serlab-train", "job")
    for line in ("--nodes=2", "--ntasks-per-node=4", "--gpus-per-node=4", "--signal=USR2@300", "--time=240"):
        assert f"#SBATCH {line}" in script, f"{line} missing from\n{script}"


def agent_argv(sweep: dict, params: dict) -> list[str]:
    """The command line a wandb agent runs for one trial: the sweep's command with its macros filled in."""
    from wandb.sdk.launch.sweeps.utils import create_sweep_command, create_sweep_command_args

    macros = {**create_sweep_command_args({"args": params}), "env": ["/usr/bin/env"]}
    argv: list[str] = []
    for part in create_sweep_command(list(sweep["command"])):
        name = re.fullmatch(r"\$\{(\w+)\}", str(part))
        argv += macros[name.group(1)] if name else [str(part)]
    return argv


@pytest.mark.filterwarnings("ignore:Valid config keys have changed in V2")  # raised inside `sweeps`
@pytest.mark.parametrize("path", SWEEPS, ids=[p.stem for p in SWEEPS])
def test_wandb_sweep_config_is_valid_and_trials_compose(tmp_path, data_dir, path):
    from wandb.apis.public.sweeps import _validate_config_and_fill_distribution
    from wandb.sdk.launch.sweeps.utils import load_sweep_config

    import sweeps

    # What `wandb sweep` reads and checks before anything goes to a server (--controller validates locally).
    sweep = load_sweep_config(str(path))
    assert sweeps.schema_violations_from_proposed_config(_validate_config_and_fill_distribution(sweep)) == []
    assert sweep["metric"] == {"name": "val/uar", "goal": "maximize"}

    # A trial the sweep engine proposes, run as the agent would, is a valid serlab-train config.
    proposed = sweeps.next_run(sweeps.SweepConfig(sweep), [])
    argv = agent_argv(sweep, proposed.config)
    assert argv[:3] == ["/usr/bin/env", "serlab-train", "logger=wandb"]
    cfg = compose_with_hydra(f"paths.root_dir={tmp_path}", f"paths.data_dir={data_dir}", *argv[2:])
    for key, value in ((k, v["value"]) for k, v in proposed.config.items()):
        node = OmegaConf.select(cfg, key)
        if key in cfg.hydra.runtime.choices:  # a config group: the option it names
            assert cfg.hydra.runtime.choices[key] == value
        elif isinstance(node, DictConfig):  # a list of a group's options, e.g. regularizer=[dropout,noise]
            assert list(node) == value.strip("[]").split(",")
        else:
            assert node == pytest.approx(value), key


@pytest.mark.slow
def test_wandb_sweep_script_starts_an_agent_on_the_created_sweep(tmp_path):
    # A stand-in wandb prints what `wandb sweep` prints and records the agent call.
    fake = tmp_path / "wandb"
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = sweep ]; then echo "wandb: Creating sweep from: $*" >&2;'
        ' echo "wandb: Run sweep agent with: wandb agent lab/ser/abc123" >&2;'
        f' else echo "$*" > {tmp_path / "agent"}; fi\n'
    )
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    script = ROOT / "scripts" / "wandb_sweep.sh"
    subprocess.run([script, "sweeps/bayes_uar.yaml", "7", "--project", "ser"], env=env, check=True, cwd=ROOT)
    assert (tmp_path / "agent").read_text().split() == ["agent", "--count", "7", "lab/ser/abc123"]
    subprocess.run([script, "sweeps/grid_models.yaml"], env=env, check=True, cwd=ROOT)
    assert (tmp_path / "agent").read_text().split() == ["agent", "lab/ser/abc123"]
