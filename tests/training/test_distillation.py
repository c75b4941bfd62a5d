"""Knowledge distillation: the loss against a hand computation, which teacher runs a student may learn from, the
cache of teacher outputs, and a student trained from a teacher of other features."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from lightning import Trainer

from serlab.cli.cv import report_notes
from serlab.cli.train import train
from serlab.config_check import ConfigError
from serlab.training import distillation
from serlab.training.build import build_datamodule, build_module
from serlab.training.distillation import (
    Distillation,
    TeacherError,
    TeacherRun,
    admissible,
    check_classes,
    distillation_term,
    soften,
    teacher_runs,
)
from tests.conftest import cli_overrides, compose_train, run_cli

SHORT = ("debug=limit", "trainer.max_epochs=1", "test=false")
# a linear probe of openSMILE functionals on MFCC frames: other inputs than the log-mel CRNN student's
PROBE = ("frontend=mfcc", "model=vector_head", "model.vector_hidden=8", "data/streams/functionals=egemaps",
         "model.streams=[functionals]")  # fmt: skip
CLASSES = ["neutral", "happy", "angry", "sad"]


@pytest.fixture(scope="module")
def teachers(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict[int, Path]:
    """Finished one-epoch probe runs of folds 0 and 1, by fold."""
    runs = {}
    for fold in (0, 1):
        root = tmp_path_factory.mktemp(f"teacher_{fold}")
        train(compose_train(root, data_dir, *SHORT, *PROBE, f"data.fold={fold}"))
        runs[fold] = root / "run"
    return runs


def student(tmp_path: Path, data_dir: Path, *overrides: str):
    """The config and datamodule (set up for fitting) of a log-mel CRNN student on fold 0."""
    cfg = compose_train(tmp_path, data_dir, *SHORT, *overrides)
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    return cfg, datamodule


def fake_run(folder: Path, train: list[str], val: list[str], test: list[str], classes=CLASSES) -> Path:
    """A run folder with a split.json and a checkpoint holding only its class order."""
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "split.json").write_text(json.dumps({"speakers": {"train": train, "val": val, "test": test}}))
    torch.save({"serlab": {"classes": classes}}, folder / "checkpoints" / "best.ckpt")
    return folder


def test_the_loss_is_the_hand_computed_blend_of_label_loss_and_softened_kl():
    # T = 2. Row 1: student logits (1, 0) soften to softmax(0.5, 0) = (0.622459, 0.377541); teacher (0.8, 0.2)
    # softens to (√0.8, √0.2) / (√0.8 + √0.2) = (2/3, 1/3): KL = 2/3 ln(0.666667 / 0.622459)
    # + 1/3 ln(0.333333 / 0.377541) = 0.0042295.
    # Row 2: student (0, 2) -> softmax(0, 1) = (0.268941, 0.731059); teacher (0.5, 0.5) stays: KL = 0.5 ln(0.5 /
    # 0.268941) + 0.5 ln(0.5 / 0.731059) = 0.1201145. Batch mean 0.0621720, times T² = 4: 0.2486880.
    # With weight 0.25 and a label loss of 1.2: 0.75 * 1.2 + 0.25 * 0.2486880 = 0.9621720.
    logits = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    teacher = soften(torch.tensor([[0.8, 0.2], [0.5, 0.5]]), temperature=2.0)
    assert torch.allclose(teacher, torch.tensor([[2 / 3, 1 / 3], [0.5, 0.5]]))
    assert distillation_term(logits, teacher, 2.0).item() == pytest.approx(0.2486880, abs=1e-6)
    total, term = Distillation("run", temperature=2.0, weight=0.25)(torch.tensor(1.2), logits, teacher)
    assert term.item() == pytest.approx(0.2486880, abs=1e-6)
    assert total.item() == pytest.approx(0.9621720, abs=1e-6)


def test_weight_and_temperature_set_the_blend_and_the_softening():
    logits, label = torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor(1.2)
    teacher = soften(torch.tensor([[0.8, 0.2], [0.5, 0.5]]), temperature=1.0)
    assert torch.allclose(teacher, torch.tensor([[0.8, 0.2], [0.5, 0.5]]))  # T = 1 leaves probabilities as they are
    assert Distillation("run", weight=0.0)(label, logits, teacher)[0].item() == pytest.approx(1.2)
    total, term = Distillation("run", temperature=1.0, weight=1.0)(label, logits, teacher)
    assert total.item() == pytest.approx(term.item()) and term.item() != pytest.approx(0.2486880, abs=1e-3)
    # a higher temperature flattens the teacher towards uniform
    assert soften(torch.tensor([[0.8, 0.2]]), 8.0)[0, 0].item() == pytest.approx(0.8**0.125 / (0.8**0.125 + 0.2**0.125))
    with pytest.raises(ConfigError, match="^distill.temperature must be positive"):
        Distillation("run", temperature=0.0)
    with pytest.raises(ConfigError, match="^distill.weight .* from 0 to 1"):
        Distillation("run", weight=1.5)


def test_the_options_reach_the_module_and_no_teacher_changes_nothing(tmp_path, data_dir):
    cfg = compose_train(tmp_path, data_dir, "distill.teacher=runs/x", "distill.temperature=2.5", "distill.weight=0.3")
    made = build_module(cfg, CLASSES).distillation
    assert isinstance(made, Distillation) and (made.temperature, made.weight, made.teacher) == (2.5, 0.3, "runs/x")
    assert build_module(compose_train(tmp_path, data_dir), CLASSES).distillation is None
    with pytest.raises(ConfigError, match="^distill.teacher: .* loss=CTC scores frames"):
        build_module(compose_train(tmp_path, data_dir, "distill.teacher=runs/x", "loss=ctc", "model=blstm"), CLASSES)


def test_a_named_teacher_that_trained_on_a_test_speaker_is_refused(tmp_path):
    clean = fake_run(tmp_path / "clean", ["a", "b"], ["c"], ["d"])
    leaky = fake_run(tmp_path / "leaky", ["a", "d"], ["c"], ["b"])
    kept, left_out = admissible(teacher_runs([str(clean)]), test_speakers=["d"])
    assert [r.folder for r in kept] == [clean] and left_out == []
    with pytest.raises(TeacherError, match=rf"^distill.teacher: {leaky} trained or validated on .* \['d'\]"):
        admissible(teacher_runs([str(clean), str(leaky)]), test_speakers=["d"])
    validated = fake_run(tmp_path / "validated", ["a"], ["d"], ["b"])
    with pytest.raises(TeacherError, match="test speakers \\['d'\\]"):
        admissible(teacher_runs(str(validated)), test_speakers=["d"])


def test_a_folder_of_runs_gives_the_fold_matched_ones_and_one_with_none_is_refused(tmp_path):
    cv = tmp_path / "cv"
    folds = [["a", "b"], ["c", "d"], ["e", "f"]]  # each fold's test speakers
    for k, test in enumerate(folds):
        rest = [s for fold in folds for s in fold if s not in test]
        fake_run(cv / f"fold_{k}" / "seed_1", rest[1:], rest[:1], test)
        fake_run(cv / f"fold_{k}" / "seed_2", rest[1:], rest[:1], test)
    (cv / "report.md").write_text("not a run\n")
    kept, left_out = admissible(teacher_runs(str(cv)), test_speakers=["c", "d"])
    assert [r.folder for r in kept] == [cv / "fold_1" / "seed_1", cv / "fold_1" / "seed_2"]
    assert len(left_out) == 4 and not any(r.named for r in kept)
    with pytest.raises(TeacherError, match="^distill.teacher: none of the 6 run\\(s\\) found leaves out"):
        admissible(teacher_runs(str(cv)), test_speakers=["a", "c"])
    with pytest.raises(TeacherError, match=f"^distill.teacher: {tmp_path / 'nowhere'} is no finished"):
        teacher_runs(str(tmp_path / "nowhere"))


def test_a_teacher_of_other_classes_is_refused(tmp_path):
    run = fake_run(tmp_path / "run", ["a"], ["b"], ["c"], classes=["happy", "neutral", "angry", "sad"])
    with pytest.raises(TeacherError, match=rf"^distill.teacher: {run} predicts the classes .* same order"):
        check_classes(TeacherRun(run, run / "checkpoints" / "best.ckpt", named=True), CLASSES)


def test_teacher_outputs_are_scored_once_and_read_back_by_the_next_student(tmp_path, data_dir, teachers, monkeypatch):
    calls = []
    scoring = distillation.score_utterances

    def counted(checkpoint, rows, batch_size, device):
        calls.append(len(rows))
        return scoring(checkpoint, rows, batch_size, device)

    monkeypatch.setattr(distillation, "score_utterances", counted)
    cache = tmp_path / "teacher_outputs"
    cfg, datamodule = student(tmp_path, data_dir, f"distill.teacher={teachers[0]}", f"distill.cache_dir={cache}")
    first = build_module(cfg, datamodule.classes).distillation
    first.prepare(datamodule, torch.device("cpu"))
    rows = datamodule.datasets["train"].rows
    assert calls == [len(rows)] and len(list(cache.glob("*.pt"))) == 1
    again = build_module(cfg, datamodule.classes).distillation
    again.prepare(datamodule, torch.device("cpu"))
    assert calls == [len(rows)]  # read from the cache, not scored again
    assert torch.equal(first.table, again.table) and first.table.shape == (len(rows), len(CLASSES))
    assert torch.allclose(first.table.sum(-1), torch.ones(len(rows)))
    # an ensemble averages its teachers' softened probabilities; a named run of another fold is refused
    both = Distillation([str(teachers[0]), str(teachers[0])], cache_dir=str(cache))
    both.prepare(datamodule, torch.device("cpu"))
    assert torch.allclose(both.table, first.table) and calls == [len(rows)]
    with pytest.raises(TeacherError, match="trained or validated on the student's test speakers"):
        Distillation(str(teachers[1])).prepare(datamodule, torch.device("cpu"))


@pytest.mark.parametrize("regularizer", ["[dropout]", "[mixup]"])
def test_a_crnn_student_trains_on_a_probe_teacher_of_other_features(tmp_path, data_dir, teachers, regularizer):
    cfg = compose_train(tmp_path, data_dir, f"distill.teacher={teachers[0]}", f"regularizer={regularizer}")
    datamodule = build_datamodule(cfg)
    module = build_module(cfg, datamodule.classes)
    trainer = Trainer(max_steps=3, limit_val_batches=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    trainer.fit(module, datamodule=datamodule)
    logged = trainer.callback_metrics
    assert torch.isfinite(logged["train/distillation"]) and logged["train/distillation"].item() > 0
    assert torch.isfinite(logged["train/label_loss"])
    assert module.distillation.record()["teachers"] == [str(teachers[0])]


def test_serlab_train_with_a_teacher_records_it_in_metrics_json(tmp_path, data_dir, teachers):
    cv = tmp_path / "cv"
    for fold, run in teachers.items():
        shutil.copytree(run, cv / f"fold_{fold}" / "seed_42")
    options = [f"distill.teacher={cv}", "distill.temperature=3", "distill.weight=0.7", "trainer.max_epochs=1"]
    run_cli("serlab.cli.train", *cli_overrides(tmp_path, data_dir), *options, f"hydra.run.dir={tmp_path / 'run'}",
            cwd=tmp_path)  # fmt: skip
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())["distillation"]
    assert record["teachers"] == [str(cv / "fold_0" / "seed_42")]
    assert record["left_out"] == [str(cv / "fold_1" / "seed_42")]
    assert record["checkpoints"] == [str(cv / "fold_0" / "seed_42" / "checkpoints" / "best.ckpt")]
    assert (record["temperature"], record["weight"]) == (3, 0.7)
    # the other fold's run, named, saw this student's test speakers: one line, before any training
    proc = run_cli("serlab.cli.train", *cli_overrides(tmp_path, data_dir), f"distill.teacher={teachers[1]}",
                   f"hydra.run.dir={tmp_path / 'refused'}", cwd=tmp_path, expect=2)  # fmt: skip
    (line,) = [text for text in proc.stderr.splitlines() if text.startswith("error: ")]
    assert line.startswith(f"error: distill.teacher: {teachers[1]} trained or validated on the student's test")
    assert not list((tmp_path / "refused").rglob("*.ckpt"))


def test_a_cv_report_says_what_its_folds_learned_from(tmp_path, data_dir):
    one_run = SimpleNamespace(folds=[0], seeds=[1], runs=[], has_seed_ensemble=False, energy_kwh=lambda: None)
    cfg = compose_train(tmp_path, data_dir, "distill.teacher=runs/cv", "distill.weight=0.3", config_name="cv")
    (note,) = [n for n in report_notes(cfg, one_run) if n.startswith("distillation")]
    assert "runs/cv" in note and "weight 0.3" in note and "never trained or validated on its test speakers" in note
    assert not any(n.startswith("distillation") for n in report_notes(compose_train(tmp_path, data_dir), one_run))
