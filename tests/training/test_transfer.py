"""Starting a run from another run's weights (init_from), freezing parameters, and what a run records of both."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest
import torch
import yaml

from serlab.cli.cv import cross_validate
from serlab.cli.train import train
from serlab.config_check import ConfigError
from serlab.errors import UserError
from serlab.training.build import build_datamodule, build_module
from serlab.training.checkpointing import CheckpointError
from serlab.training.module import SERModule
from serlab.training.transfer import freeze, init_from, patterns, plan, unfilled
from tests.conftest import TINY_OVERRIDES, cli_overrides, compose_train, run_cli

# One short epoch, with global frame statistics so that the normaliser has some to carry.
SHORT = ("debug=limit", "trainer.max_epochs=1", "frontend.normalize=global")
STATISTICS = {"frontend.norm.total", "frontend.norm.squares", "frontend.norm.count"}
HEAD = ["model.head.weight", "model.head.bias"]
# the synthetic corpus's four classes under other names: happy (and IEMOCAP's excited) become joy
RENAMED = ("data.label_map.happy=joy", "data.label_map.excited=joy")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """The folder of a finished one-epoch run to start from."""
    root = tmp_path_factory.mktemp("source")
    train(compose_train(root, data_dir, *SHORT, "test=false"))
    return root / "run"


def saved(run: Path, name: str = "best.ckpt") -> dict:
    """A checkpoint of `run`, loaded."""
    return torch.load(run / "checkpoints" / name, map_location="cpu", weights_only=True)


def built(tmp_path: Path, data_dir: Path, *overrides: str) -> tuple:
    """The config and freshly built module of a run with `overrides`."""
    cfg = compose_train(tmp_path, data_dir, *SHORT, *overrides)
    return cfg, build_module(cfg, build_datamodule(cfg).classes)


def snapshot(module: SERModule) -> dict[str, torch.Tensor]:
    return {name: tensor.clone() for name, tensor in module.state_dict().items()}


def test_a_run_folder_gives_its_best_weights_and_the_new_corpus_its_statistics(source, tmp_path, data_dir):
    cfg, module = built(tmp_path, data_dir, f"init_from={source}")
    record = init_from(cfg, module, resumed=None)
    weights = saved(source)["state_dict"]
    assert weights["frontend.norm.count"] > 0
    for name, tensor in module.state_dict().items():
        if name in STATISTICS:
            assert not tensor.any(), name  # left empty: gathered on this run's training split at fit start
        else:
            assert torch.equal(tensor, weights[name]), name
    best = source / "checkpoints" / "best.ckpt"
    assert record == module.transfer
    assert record == {
        "checkpoint": str(best),
        "sha256": hashlib.sha256(best.read_bytes()).hexdigest(),
        "classes": ["neutral", "happy", "angry", "sad"],
        "loaded": len(weights) - len(STATISTICS),
        "fresh": [],
        "skipped": 0,
        "statistics": "gathered",
    }


def test_kept_statistics_come_from_the_checkpoint(source, tmp_path, data_dir):
    cfg, module = built(tmp_path, data_dir, f"init_from={source / 'checkpoints' / 'last.ckpt'}",
                        "init_from_keep_statistics=true")  # fmt: skip
    assert init_from(cfg, module, resumed=None)["statistics"] == "kept"
    weights = saved(source, "last.ckpt")["state_dict"]
    assert all(torch.equal(module.state_dict()[name], weights[name]) for name in STATISTICS)
    assert not module.frontend.norm.needs_statistics


def test_testing_without_training_needs_the_checkpoints_statistics(source, tmp_path, data_dir):
    cfg, module = built(tmp_path, data_dir, f"init_from={source}", "train=false")
    with pytest.raises(ConfigError, match="^init_from with train=false: .* init_from_keep_statistics=true"):
        init_from(cfg, module, resumed=None)
    cfg, module = built(tmp_path, data_dir, f"init_from={source}", "train=false", "init_from_keep_statistics=true")
    init_from(cfg, module, resumed=None)
    assert not module.frontend.norm.needs_statistics


@pytest.mark.parametrize("keep", [False, True])
def test_the_reconstruction_autoencoder_is_fitted_again_on_the_new_corpus_unless_kept(tmp_path, data_dir, keep):
    streams = ["data/streams/functionals=egemaps", "reconstruction=autoencoder", "model.hidden=16"]
    cfg, module = built(tmp_path, data_dir, *streams, f"init_from_keep_statistics={keep}")
    autoencoder = {f"reconstruction.{name}" for name in module.reconstruction.state_dict()}
    weights = {**module.state_dict(), "reconstruction.fitted": torch.tensor(True)}
    steps = plan(cfg, module, weights, module.classes)
    assert (autoencoder <= set(steps.gathered)) is not keep and (autoencoder <= set(steps.loaded)) is keep
    # an autoencoder not yet fitted waits like the normalisers
    module.frontend.norm.count.fill_(1)
    module.vector_norms["functionals"].set_statistics(torch.randn(5, 88))
    assert unfilled(module)
    module.reconstruction.fitted.fill_(True)
    assert not unfilled(module)


@pytest.mark.parametrize(
    ("labels", "classes"),
    [(RENAMED, ["neutral", "joy", "angry", "sad"]), (("~data.label_map.sad",), ["neutral", "happy", "angry"])],
    ids=["same-count-other-names", "fewer-classes"],
)
def test_other_classes_start_the_head_afresh_and_load_the_rest(source, tmp_path, data_dir, labels, classes, caplog):
    cfg, module = built(tmp_path, data_dir, f"init_from={source}", *labels)
    assert module.classes == classes
    before = snapshot(module)
    with caplog.at_level(logging.INFO, logger="serlab.training.transfer"):
        record = init_from(cfg, module, resumed=None)
    [line] = [r.getMessage() for r in caplog.records if r.name == "serlab.training.transfer"]
    assert "\n" not in line and line.endswith("so the output heads start afresh")
    counts = (
        f"loaded {record['loaded']} tensors, kept 2 freshly initialised (model.head.weight, model.head.bias), "
        "skipped 0 by pattern; 3 normaliser statistics tensors to gather on this corpus"
    )
    assert counts in line
    assert record["fresh"] == HEAD and record["classes"] == ["neutral", "happy", "angry", "sad"]
    weights, after = saved(source)["state_dict"], module.state_dict()
    assert all(torch.equal(after[name], before[name]) for name in HEAD)  # left as built
    loaded = [name for name in after if name not in [*HEAD, *STATISTICS]]
    assert len(loaded) == record["loaded"] > 0
    assert all(torch.equal(after[name], weights[name]) for name in loaded)


def test_include_and_exclude_patterns_choose_what_is_loaded(source, tmp_path, data_dir):
    weights = saved(source)["state_dict"]
    cfg, module = built(tmp_path, data_dir, f"init_from={source}", "init_from_include=[model.encoder.*]")
    before = snapshot(module)
    record = init_from(cfg, module, resumed=None)
    encoder = [name for name in weights if name.startswith("model.encoder.")]
    assert record["loaded"] == len(encoder) and record["skipped"] == len(weights) - len(encoder)
    for name, tensor in module.state_dict().items():
        assert torch.equal(tensor, weights[name] if name in encoder else before[name]), name

    cfg, module = built(tmp_path, data_dir, f"init_from={source}", "init_from_exclude=[model.head.*,frontend.*]")
    before = snapshot(module)
    record = init_from(cfg, module, resumed=None)
    assert record["skipped"] == len(HEAD) + len(STATISTICS) and record["loaded"] == len(encoder)
    assert all(torch.equal(module.state_dict()[name], before[name]) for name in [*HEAD, *STATISTICS])


@pytest.mark.parametrize("key", ["init_from_include", "init_from_exclude", "freeze"])
def test_a_pattern_that_matches_nothing_is_refused_in_one_line(source, tmp_path, data_dir, key):
    cfg, module = built(tmp_path, data_dir, f"init_from={source}", f"{key}=[model.encoder.*,model.hed.*]")
    with pytest.raises(ConfigError, match=rf"^{key}: 'model.hed.\*' matches no .*model.head") as err:
        freeze(module, ["model.encoder.*", "model.hed.*"]) if key == "freeze" else init_from(cfg, module, None)
    assert "\n" not in str(err.value)


def test_a_missing_or_foreign_checkpoint_is_refused_naming_init_from(tmp_path, data_dir):
    (tmp_path / "empty_run").mkdir()
    (tmp_path / "notes.ckpt").write_text("not a checkpoint")
    for where, message in [
        (tmp_path / "nowhere.ckpt", "no run folder or checkpoint at"),
        (tmp_path / "empty_run", "holds no checkpoints/best.ckpt or last.ckpt"),
        (tmp_path / "notes.ckpt", "not a PyTorch checkpoint"),
    ]:
        cfg, module = built(tmp_path, data_dir, f"init_from={where}")
        with pytest.raises(CheckpointError, match=f"^init_from: .*{message}") as err:
            init_from(cfg, module, resumed=None)
        assert "\n" not in str(err.value)


def test_init_from_options_need_init_from(tmp_path, data_dir):
    cfg, module = built(tmp_path, data_dir, "init_from_exclude=[model.head.*]")
    with pytest.raises(ConfigError, match="^init_from_exclude is set but init_from is null"):
        init_from(cfg, module, resumed=None)


def test_an_encoder_of_another_architecture_is_refused(source, tmp_path, data_dir):
    other = ("model=e2e", "frontend=raw", "init_from_include=[model.encoder.*]")
    cfg, module = built(tmp_path, data_dir, f"init_from={source}", *other)
    with pytest.raises(ConfigError, match="^init_from: no tensor of .* fits this run's module"):
        init_from(cfg, module, resumed=None)


def test_resuming_a_run_that_started_elsewhere_is_refused(source, tmp_path, data_dir):
    cfg, module = built(tmp_path, data_dir, f"init_from={source}")
    last = source / "checkpoints" / "last.ckpt"
    with pytest.raises(ConfigError, match=r"^init_from: ckpt_path=.* started from init_from=None, not ") as err:
        init_from(cfg, module, resumed=last)
    assert "\n" not in str(err.value)


def test_frozen_parts_leave_the_optimizer_and_stay_in_eval_mode(tmp_path, data_dir):
    _, module = built(tmp_path, data_dir)
    trainable = freeze(module, ["model.encoder.*"])
    assert trainable == sum(p.numel() for p in module.model.head.parameters())
    optimized = [p for group in module.parameter_groups() for p in group["params"]]
    assert {id(p) for p in optimized} == {id(p) for p in module.model.head.parameters()}
    module.train()
    assert module.held == ["model.encoder"]
    assert not any(part.training for part in module.model.encoder.modules())
    assert module.model.training and module.model.head.training and module.frontend.training
    with pytest.raises(ConfigError, match=r"^freeze: \['\*'\] leaves no parameter to train"):
        freeze(module, ["*"])


def test_patterns_are_a_list_or_one_string(tmp_path, data_dir):
    assert patterns(compose_train(tmp_path, data_dir, "freeze=model.encoder.*"), "freeze") == ["model.encoder.*"]
    assert patterns(compose_train(tmp_path, data_dir, "freeze=[a.*,b]"), "freeze") == ["a.*", "b"]
    with pytest.raises(ConfigError, match=r"^freeze=\[1\]: expected a list of name patterns"):
        patterns(compose_train(tmp_path, data_dir, "freeze=[1]"), "freeze")


def test_a_fine_tuned_run_keeps_its_frozen_weights_and_records_where_they_came_from(source, tmp_path, data_dir):
    start = [f"init_from={source}", "freeze=[model.encoder.*]"]
    train(compose_train(tmp_path, data_dir, *SHORT, *start))
    run = tmp_path / "run"
    weights, last = saved(source)["state_dict"], saved(run, "last.ckpt")
    encoder = [name for name in weights if name.startswith("model.encoder.")]
    # batch-norm statistics included: a wholly frozen part runs in eval mode
    assert all(torch.equal(last["state_dict"][name], weights[name]) for name in encoder)
    assert not any(torch.equal(last["state_dict"][name], weights[name]) for name in HEAD)
    assert [len(group["params"]) for group in last["optimizer_states"][0]["param_groups"]] == [len(HEAD)]

    record = json.loads((run / "metrics.json").read_text())
    source_record = {"checkpoint": str(source / "checkpoints" / "best.ckpt"), "loaded": len(weights) - 3}
    assert record["init_from"].items() >= source_record.items()
    assert record["freeze"] == ["model.encoder.*"] and record["n_trainable"] == 4 * 256 + 4
    assert last["serlab"]["init_from"] == record["init_from"]
    hparams = yaml.safe_load((run / "csv" / "hparams.yaml").read_text())
    assert hparams["init_from"] == record["init_from"] and hparams["freeze"] == ["model.encoder.*"]

    # Resumed, the run continues from its own weights (nothing loaded again) and still says where they came from.
    train(compose_train(tmp_path, data_dir, *SHORT, *start, "trainer.max_epochs=2", "ckpt_path=last"))
    resumed = saved(run, "last.ckpt")
    assert resumed["global_step"] == 2 * 3 and resumed["serlab"]["init_from"] == record["init_from"]
    assert all(torch.equal(resumed["state_dict"][name], weights[name]) for name in encoder)
    assert json.loads((run / "metrics.json").read_text())["init_from"] == record["init_from"]
    # the same folder resumed with another init_from is refused
    with pytest.raises(UserError, match="^init_from: ckpt_path=.* resumes a run that started from init_from="):
        train(compose_train(tmp_path, data_dir, *SHORT, f"init_from={tmp_path}", "ckpt_path=last"))


def test_every_cv_fold_starts_from_the_run_and_an_interrupted_one_resumes(source, tmp_path, data_dir):
    cfg = compose_train(tmp_path, data_dir, *TINY_OVERRIDES, *SHORT, f"init_from={source}", "cv.folds=[0]",
                        config_name="cv")  # fmt: skip
    cross_validate(cfg)
    fold = tmp_path / "run" / "fold_0" / "seed_42"
    record = json.loads((fold / "metrics.json").read_text())["init_from"]
    assert record["checkpoint"] == str(source / "checkpoints" / "best.ckpt")
    (fold / "metrics.json").unlink()  # interrupted before testing: continued from the fold's last.ckpt
    cross_validate(cfg)
    assert json.loads((fold / "metrics.json").read_text())["init_from"] == record


@pytest.mark.slow
def test_serlab_train_reports_a_missing_init_from_in_one_line(tmp_path, data_dir):
    proc = run_cli("serlab.cli.train", *cli_overrides(tmp_path, data_dir), f"init_from={tmp_path / 'nowhere'}",
                   cwd=tmp_path, expect=2)  # fmt: skip
    lines = proc.stderr.strip().splitlines()
    assert lines[-1] == f"error: init_from: no run folder or checkpoint at {tmp_path / 'nowhere'}; " + (
        "pass a serlab-train run folder or a checkpoint file"
    )
