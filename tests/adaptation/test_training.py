"""Adaptations in training: the unlabelled side is the test speakers' audio without labels, every option trains,
and the run says it read target audio."""

import csv
import json
from pathlib import Path

import pytest
import torch
from lightning import Trainer

from serlab.cli.predict import predict
from serlab.config_check import ConfigError
from serlab.data.collate import Batch
from serlab.training.build import build_datamodule, build_module
from tests.adaptation import spy
from tests.conftest import cli_overrides, compose_train, run_cli
from tests.data.corpora.test_multi import URDU_COUNTS, trees  # noqa: F401  (a fixture)
from tests.options import options


def fit(cfg, steps: int = 3) -> tuple:
    datamodule = build_datamodule(cfg)
    module = build_module(cfg, datamodule.classes)
    datamodule.serve_unlabelled()
    trainer = Trainer(max_steps=steps, limit_val_batches=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, use_distributed_sampler=False)  # fmt: skip
    trainer.fit(module, datamodule=datamodule)
    return datamodule, module, trainer


def test_each_step_pairs_training_speakers_with_unlabelled_test_speakers(tmp_path, data_dir):
    spy.SEEN.clear()
    spying = ["+adaptation._target_=tests.adaptation.spy.Spy", "+adaptation._partial_=true"]
    cfg = compose_train(tmp_path, data_dir, *spying)
    datamodule, _, _ = fit(cfg)
    split = datamodule.speaker_split
    speaker = {r.id: r.speaker for r in datamodule.rows}
    assert len(spy.SEEN) == 3
    for source, target in spy.SEEN:
        assert {speaker[i] for i in source} <= set(split.train)
        assert {speaker[i] for i in target} <= set(split.test)
    batch: Batch = next(iter(datamodule.unlabelled_dataloader()))
    assert (batch.targets == -1).all() and batch.aux == {}


@pytest.mark.parametrize("method", [m for m in options("adaptation") if m != "none"])
def test_every_method_trains_a_crnn_and_a_probe_of_vector_streams(tmp_path, data_dir, method):
    overrides = [f"adaptation={method}", "adaptation.start_epoch=0"] if method == "self_training" else [
        f"adaptation={method}"]  # fmt: skip
    for model in (["model=crnn"], ["model=vector_head", "model.vector_hidden=16", "data/streams/functionals=egemaps",
                                   "model.streams=[functionals]"]):  # fmt: skip
        cfg = compose_train(tmp_path, data_dir, *overrides, *model)
        trainer = fit(cfg)[2]
        assert torch.isfinite(trainer.callback_metrics["train/adaptation"])
        assert trainer.callback_metrics["train/adaptation"].item() != 0.0 or method == "self_training"


def test_frame_level_losses_are_refused_naming_the_key(tmp_path, data_dir):
    cfg = compose_train(tmp_path, data_dir, "adaptation=coral", "loss=ctc", "model=blstm")
    with pytest.raises(ConfigError, match="adaptation: .* works on utterance representations, but loss=CTC"):
        build_module(cfg, ["a", "b"])


def test_self_training_labels_target_utterances_and_the_run_records_the_target_audio(tmp_path, data_dir):
    run_cli("serlab.cli.train", *cli_overrides(tmp_path, data_dir), "adaptation=self_training",
            "adaptation.start_epoch=1", "adaptation.every=1", "adaptation.rounds=2", "adaptation.threshold=0.3",
            "trainer.max_epochs=3", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)  # fmt: skip
    run = tmp_path / "run"
    record = json.loads((run / "metrics.json").read_text())["adaptation"]
    with open(run / "split.csv", newline="") as f:
        test_speakers = sorted({r["speaker"] for r in csv.DictReader(f) if r["split"] == "test"})
    assert record["saw_unlabelled_target_audio"] is True
    assert record["target_speakers"] == test_speakers
    assert record["method"].endswith("SelfTraining")
    log = next(run.glob("*.log")).read_text()
    assert log.count("self-training:") == 2 and "target utterances pseudo-labelled" in log


@pytest.mark.slow
def test_across_two_corpora_the_target_is_the_other_corpus_the_report_says_so_and_the_run_predicts(
    tmp_path, data_dir, trees  # noqa: F811
):
    emodb, urdu = trees
    corpora = ["data=multi", f"data.roots.emodb={emodb}", f"data.roots.urdu={urdu}", "data.split.test=[urdu]"]
    paths = [f"paths.root_dir={tmp_path}", f"paths.data_dir={data_dir}", "print_config=false"]
    run_cli("serlab.cli.cv", *paths, *corpora, "adaptation=adversarial",
            "trainer.max_epochs=2", "cv.folds=[0]", f"hydra.run.dir={tmp_path / 'cv'}", cwd=tmp_path)  # fmt: skip
    run = tmp_path / "cv" / "fold_0" / "seed_42"
    record = json.loads((run / "metrics.json").read_text())["adaptation"]
    assert record["target_speakers"] and all(s.startswith("urdu/") for s in record["target_speakers"])
    assert record["target_utterances"] == sum(URDU_COUNTS.values())
    assert "TRANSDUCTIVE" in (tmp_path / "cv" / "report.md").read_text()
    clip = next(Path(urdu).rglob("*.wav"))
    cfg = compose_train(tmp_path, data_dir, f"ckpt_path={run / 'checkpoints' / 'best.ckpt'}", f"input={clip}",
                        config_name="predict")  # fmt: skip
    (row,) = predict(cfg)
    assert row["emotion"] in ("neutral", "happy", "angry", "sad")


@pytest.mark.slow
def test_self_training_on_two_processes_labels_every_target_utterance_in_each(tmp_path, data_dir):
    run_cli("serlab.cli.train", *cli_overrides(tmp_path, data_dir), "trainer=ddp_cpu", "adaptation=self_training",
            "adaptation.start_epoch=1", "adaptation.rounds=1", "adaptation.threshold=0.01", "adaptation.balance=false",
            "trainer.max_epochs=2", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)  # fmt: skip
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())["adaptation"]
    log = next((tmp_path / "run").glob("*.log")).read_text()
    # a threshold of 0.01 labels every target utterance, gathered from both processes' shards
    assert f"{record['target_utterances']} of {record['target_utterances']} target utterances" in log
