"""Every frontend x model pair that makes sense trains a few steps; the others fail at build time, saying why."""

import re

import pytest
import torch
from hydra.utils import get_class
from lightning import Trainer

from serlab.config_check import ConfigError
from serlab.training.build import build_datamodule, build_module
from tests.conftest import compose_train, write_tone
from tests.options import FRONTENDS, FUNCTIONALS, MODELS, frontend_overrides, model_node, small

PAIRING = r"reads .* features, but frontend=.* gives .* ones: choose frontend="


def steps(cfg, n: int = 2) -> None:
    datamodule = build_datamodule(cfg)
    module = build_module(cfg, datamodule.classes)
    trainer = Trainer(max_steps=n, limit_val_batches=1, limit_test_batches=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, use_distributed_sampler=False)  # fmt: skip
    trainer.fit(module, datamodule=datamodule)
    assert torch.isfinite(torch.tensor(float(trainer.callback_metrics["train/loss_step"])))
    trainer.test(module, datamodule=datamodule, verbose=False)
    assert 0.0 <= float(trainer.callback_metrics["test/uar"]) <= 1.0


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("frontend", FRONTENDS)
def test_frontend_model_pairs(tmp_path, data_dir, frontend, model):
    # a model that joins vector streams gets the functionals; any other pair trains or is refused for its features
    extra = [FUNCTIONALS] if "streams" in model_node(model) else []
    pair = [f"frontend={frontend}", *frontend_overrides(frontend), f"model={model}", *small(model), *extra]
    cfg = compose_train(tmp_path, data_dir, *pair)
    try:
        build_module(cfg, ["a", "b"])
    except ConfigError as refused:
        assert re.search(PAIRING, str(refused)), refused
        return
    steps(cfg)


@pytest.mark.parametrize("model", [m for m in MODELS if get_class(model_node(m)._target_).frame_scores])
def test_ctc_trains_each_frame_level_model(tmp_path, data_dir, model):
    frontend = "raw" if model == "e2e" else "logmel"
    steps(compose_train(tmp_path, data_dir, f"frontend={frontend}", f"model={model}", "loss=ctc", *small(model)))


def test_ctc_refuses_a_model_without_frame_scores(tmp_path, data_dir):
    cfg = compose_train(tmp_path, data_dir, "model=multitask", "loss=ctc")
    with pytest.raises(ValueError, match="no frame-level head"):
        build_module(cfg, ["a", "b"])


@pytest.mark.parametrize(
    "overrides",
    [
        ["regularizer=[dropout,weight_penalty,specaugment,noise,mixup]"],
        ["optimizer=sgd", "scheduler=warmup_cosine"],
        ["optimizer=adamw", "scheduler=onecycle"],
        ["scheduler=plateau", "loss.class_weights=balanced", "frontend.normalize=global"],
        ["frontend.normalize=speaker", "regularizer=[dropout,mixup]"],
    ],
)
def test_regularizers_optimizers_and_schedules_train(tmp_path, data_dir, overrides):
    steps(compose_train(tmp_path, data_dir, *small("crnn"), *overrides, "trainer.max_epochs=1"), n=3)


def test_rating_heads_train_and_report_concordance(tmp_path, data_dir):
    lines = []
    for s in range(5):
        for k, label in enumerate(["calm", "joy", "calm", "joy"]):
            write_tone(tmp_path / "audio" / f"s{s}_{k}.wav", seconds=0.3 + 0.1 * k)
            lines.append(f"audio/s{s}_{k}.wav,{label},s{s},{0.2 * k + 0.1 * s:.2f}")
    (tmp_path / "list.csv").write_text("path,label,speaker,arousal\n" + "\n".join(lines) + "\n")
    cfg = compose_train(
        tmp_path, data_dir, "data=manifest", f"data.path={tmp_path / 'list.csv'}",
        "data.label_map={calm: calm, joy: joy}",
        "model=multitask", "+model.tasks.arousal=1", "loss=multitask", "+loss.weights.arousal=1.0",
        *small("blstm"), "data.batch_size=4",
    )  # fmt: skip
    datamodule = build_datamodule(cfg)
    module = build_module(cfg, datamodule.classes)
    trainer = Trainer(max_steps=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, use_distributed_sampler=False)  # fmt: skip
    trainer.fit(module, datamodule=datamodule)
    assert -1.0 <= float(trainer.callback_metrics["val/ccc_arousal"]) <= 1.0


def test_one_emotion_head_per_corpus_trains_on_several_corpora(tmp_path, data_dir):
    # every class of the big-four map needs training utterances: neutral and sad from speakers 03 and 08
    emodb = ["03a01Fa", "03a02Wb", "08a01Wa", "08a02Fa", "09a01Fa", "09a02Wa", "03a04Na", "08a04Na", "03a05Ta",
             "08a05Ta"]  # fmt: skip
    for name in emodb:
        write_tone(tmp_path / "emodb" / "wav" / f"{name}.wav", seconds=0.4)
    for actor in ("01", "02"):
        for emotion in ("03", "05"):
            write_tone(tmp_path / "ravdess" / f"Actor_{actor}" / f"03-01-{emotion}-01-01-01-{actor}.wav", seconds=0.4)
    cfg = compose_train(
        tmp_path, data_dir, "data=multi", f"data.roots.emodb={tmp_path / 'emodb'}",
        f"data.roots.ravdess={tmp_path / 'ravdess'}",
        "data.split.test=[ravdess]", "data.batch_size=2", "model=multitask", "~model.tasks.gender",
        "model.corpus_heads=[emodb,ravdess]", "loss=multitask",
        "~loss.weights.gender",
        "+loss.weights.emotion_emodb=1.0", "+loss.weights.emotion_ravdess=1.0", *small("blstm"),
    )  # fmt: skip
    datamodule = build_datamodule(cfg)
    module = build_module(cfg, datamodule.classes)
    assert set(module.model.tasks) == {"emotion_emodb", "emotion_ravdess"}
    assert module.model.tasks["emotion_emodb"].out_features == len(datamodule.classes)
    steps(cfg)


def test_fusion_trains_with_functionals_and_each_half_refuses_the_other_missing(tmp_path, data_dir):
    fusion = ["model=fusion", "data/streams/functionals=egemaps", "model.vector_hidden=8", *small("crnn")]
    cfg = compose_train(tmp_path, data_dir, *fusion, "regularizer=[dropout,mixup]")
    steps(cfg)
    missing = r"model.streams: .*\['functionals'\].*data provides none.*data/streams/functionals="
    with pytest.raises(ValueError, match=missing):
        build_module(compose_train(tmp_path, data_dir, "model=fusion"), ["a", "b"])
    with pytest.raises(ValueError, match="data.streams.functionals is computed, but model=CRNN does not read it"):
        build_module(compose_train(tmp_path, data_dir, "data/streams/functionals=egemaps"), ["a", "b"])


def test_the_reconstruction_stream_is_joined_by_name_and_its_sources_need_not_be_read_by_the_model(tmp_path, data_dir):
    egemaps = ["data/streams/functionals=egemaps", "reconstruction=autoencoder", "reconstruction.epochs=2"]
    fusion = ["model=fusion", *egemaps, "model.streams=[reconstruction]", "model.vector_hidden=8", *small("crnn")]
    module = build_module(compose_train(tmp_path, data_dir, *fusion), ["a", "b"])
    # the functionals feed the autoencoder alone; the model joins its 88 errors, and its weights never train
    assert module.model.reads == ("reconstruction",)
    assert module.model.branches["reconstruction"].layer[1].in_features == 88
    autoencoder = {id(p) for p in module.reconstruction.parameters()}
    assert not autoencoder & {id(p) for group in module.parameter_groups() for p in group["params"]}
    steps(compose_train(tmp_path, data_dir, *fusion, "regularizer=[dropout,mixup]"))
    # a model that reads no stream: the autoencoder alone reads the functionals (for novelty)
    assert build_module(compose_train(tmp_path, data_dir, *egemaps, *small("crnn")), ["a", "b"]).model.reads == ()
    unnamed = r"^model.streams: the reconstruction stream .* add reconstruction=autoencoder$"
    with pytest.raises(ConfigError, match=unnamed):
        build_module(compose_train(tmp_path, data_dir, *fusion[:1], "data/streams/functionals=egemaps",
                                   "model.streams=[functionals,reconstruction]"), ["a", "b"])  # fmt: skip


def test_a_pretrained_encoder_trains_at_its_own_learning_rate(tmp_path, data_dir):
    frontend = ["frontend=whisper", *frontend_overrides("whisper"), "frontend.freeze=top:1", "frontend.encoder_lr=1e-5"]
    cfg = compose_train(tmp_path, data_dir, *frontend, "model=attention", *small("attention"), "optimizer.lr=1e-3")
    module = build_module(cfg, ["a", "b"])
    optimizer = module.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    rates = [group["lr"] for group in optimizer.param_groups]
    assert rates == [1e-3, 1e-5, 1e-3]  # the layer mix, the top encoder block, the model
    top = {id(p) for p in module.frontend.encoder.layers[-1].parameters()}
    assert {id(p) for p in optimizer.param_groups[1]["params"]} == top
    trained = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert not trained & {id(p) for p in module.frontend.encoder.layers[0].parameters()}  # frozen blocks stay out
