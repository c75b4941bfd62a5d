"""Every option of every config group composes, and its `_target_` instantiates."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from serlab.configs import CONFIG_DIR
from serlab.training.build import build_datamodule, build_module, check_config
from tests.conftest import compose_train
from tests.features.pretrained import real_model
from tests.options import PRETRAINED, frontend_overrides, preset_choice, preset_overrides
from tests.training.test_build import steps

GROUPS = [
    "data",
    "frontend",
    "model",
    "loss",
    "regularizer",
    "optimizer",
    "scheduler",
    "trainer",
    "logger",
    "callbacks",
    "reconstruction",
    "adaptation",
    "pruning",
    "quantization",
]
# Without a GPU the GPU trainers are built on the CPU; the rest of their config is kept.
ON_CPU = ["trainer.accelerator=cpu", "trainer.precision=32-true"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml") if not p.stem.startswith("_"))


# Corpora the user brings need their root; composing and instantiating never reads it.
ROOTS = {
    "manifest": ["data.path=/corpora/list.csv", "data.label_map={a: a}"],
    "multi": ["data.roots.emodb=/corpora/emodb", "data.roots.ravdess=/corpora/ravdess", "data.split.test=[ravdess]"],
    "synthetic": [],
}


def test_every_group_of_the_design_exists():
    expected = set(GROUPS) | {"paths", "hydra", "experiment", "debug", "hparams_search"}
    present = {p.name for p in Path(CONFIG_DIR).iterdir() if p.is_dir() and any(p.glob("*.yaml"))}
    assert expected <= present


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_option_composes_and_instantiates(tmp_path, data_dir, group, option):
    override = f"regularizer=[{option}]" if group == "regularizer" else f"{group}={option}"
    extra = ON_CPU if group == "trainer" and option in ("gpu", "ddp") else []
    if group == "data":
        extra = ROOTS.get(option, ["data.root=/corpora/x"])
    if group == "frontend":
        extra = list(frontend_overrides(option))  # pretrained ones: a small local model
    cfg = compose_train(tmp_path, data_dir, override, *extra)
    check_config(cfg)  # every shipped option passes the key and type check
    node = cfg.get(group)
    if group in ("logger", "callbacks", "regularizer"):
        built = [instantiate(v) for v in (node or {}).values()]
        assert all(b is not None for b in built)
    elif group in ("scheduler", "adaptation", "pruning", "quantization") and not node:
        assert option == "none"
    elif group == "scheduler":
        factory = instantiate(node)
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        per_step = "total_steps" in inspect.signature(factory).parameters
        assert factory(optimizer=optimizer, **({"total_steps": 10} if per_step else {})) is not None
    elif group == "data":
        assert build_datamodule(cfg).corpus is not None
    elif group in ("model", "optimizer", "adaptation"):
        assert callable(instantiate(node))  # partials, completed at build time
    else:
        assert instantiate(node) is not None


@pytest.mark.parametrize("option", options("experiment") + options("debug"))
def test_presets_build_a_module(tmp_path, data_dir, option):
    group = "experiment" if option in options("experiment") else "debug"
    real = option.startswith("emodb")  # presets that pin a corpus the user brings
    encoders = preset_overrides(option) if group == "experiment" else ()
    cfg = compose_train(
        tmp_path, data_dir, f"{group}={option}", *(["data.root=/corpora/emodb"] if real else []), *encoders,
        tiny=not real,
    )  # fmt: skip
    if OmegaConf.select(cfg, "data.streams.embeddings.encoder.path"):
        # a preset on a pretrained encoder: its weights from ../shared/models, as a user's local folder
        weights = f"data.streams.embeddings.encoder.path={real_model('whisper-tiny.en')}"
        cfg = compose_train(tmp_path, data_dir, f"{group}={option}", "data.root=/corpora/emodb", weights, tiny=False)
    classes = list(dict.fromkeys(cfg.data.label_map.values()))
    check_config(cfg)
    module = build_module(cfg, classes)
    assert module.classes == classes and sum(p.numel() for p in module.parameters()) > 0


@pytest.mark.parametrize("option", [o for o in options("experiment") if preset_choice(o, "frontend") in PRETRAINED])
def test_presets_on_pretrained_encoders_train_on_any_corpus_with_the_encoder_frozen(tmp_path, data_dir, option):
    # they pin no corpus: the synthetic one (the default) trains, as would any data=
    assert preset_choice(option, "data") is None
    frontend = preset_choice(option, "frontend")
    cfg = compose_train(tmp_path, data_dir, f"experiment={option}", *preset_overrides(option))
    steps(cfg, n=1)
    module = build_module(cfg, ["a", "b"])
    assert not any(p.requires_grad for p in module.frontend.encoder.parameters()), f"{frontend} is fine-tuned"
    assert module.frontend.mix.scores is not None and module.frontend.mix.scores.requires_grad  # the layer mix learns


def test_default_experiment_is_the_documented_one(tmp_path, data_dir):
    cfg: DictConfig = compose_train(tmp_path, data_dir)
    assert cfg.data.corpus._target_.endswith("SyntheticCorpus")
    assert cfg.model._target_.endswith("CRNN") and cfg.frontend._target_.endswith("LogMel")
    assert cfg.monitor == "val/uar" and cfg.callbacks.model_checkpoint.monitor == "val/uar"
    assert list(cfg.regularizer) == ["dropout"]


def test_gradient_clipping_is_a_trainer_setting_and_early_stopping_a_callback(tmp_path, data_dir):
    from lightning.pytorch.callbacks import EarlyStopping

    from serlab.training.build import instantiate_each

    cfg = compose_train(tmp_path, data_dir, "trainer.gradient_clip_val=5.0", "callbacks=[early_stopping]")
    trainer = instantiate(cfg.trainer, logger=False, callbacks=instantiate_each(cfg.callbacks))
    assert trainer.gradient_clip_val == 5.0
    assert [type(c) for c in trainer.callbacks if isinstance(c, EarlyStopping)] == [EarlyStopping]
    assert compose_train(tmp_path, data_dir).trainer.gradient_clip_val is None


def test_eval_config_requires_a_checkpoint(tmp_path, data_dir):
    from omegaconf.errors import MissingMandatoryValue

    cfg = compose_train(tmp_path, data_dir, config_name="eval")
    with pytest.raises(MissingMandatoryValue):
        _ = cfg.ckpt_path


@pytest.mark.parametrize("option", options("hparams_search"))
def test_search_spaces_name_existing_keys(tmp_path, data_dir, option):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[f"hparams_search={option}"], return_hydra_config=True)
    assert cfg.hydra.sweeper.direction == "maximize" and cfg.optimized_metric == "val/uar"
    for key in cfg.hydra.sweeper.params:
        assert OmegaConf.select(cfg, key) is not None, f"{option} searches {key}, which train.yaml does not have"


@pytest.mark.parametrize("group", ["data/split", "data/label_map"])
def test_nested_data_options_compose(tmp_path, data_dir, group):
    for option in options(group):
        extra = ["data.split.test=[synthetic]"] if option == "cross_corpus" else []
        cfg = compose_train(tmp_path, data_dir, f"{group}={option}", *extra)
        node = cfg.data.split if group == "data/split" else cfg.data.label_map
        if group == "data/split":
            assert instantiate(node).n_folds_for is not None
        else:
            assert node and all(isinstance(v, str) for v in node.values())
