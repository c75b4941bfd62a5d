"""serlab-predict: input listing, windows, and scoring new audio with a tiny trained run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hydra.utils import instantiate

from serlab.cli.predict import list_inputs, predict, windows
from serlab.cli.train import train
from serlab.data.audio import load_audio
from serlab.errors import UserError
from serlab.inference import audio_settings
from serlab.training.build import build_module
from serlab.training.checkpointing import load_run
from tests.conftest import compose_train, run_cli, write_tone
from tests.options import PRETRAINED, embeddings_overrides, pretrained_run

CLASSES = ["neutral", "happy", "angry", "sad"]
PROBS = [f"p_{c}" for c in CLASSES]


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_windows_are_evenly_spaced_and_the_last_ends_with_the_file():
    assert windows(10, 4, 4) == [(0, 4), (4, 8), (6, 10)]
    assert windows(8, 4, 2) == [(0, 4), (2, 6), (4, 8)]
    assert windows(3, 4, 2) == [(0, 3)]  # no longer than a window: scored whole
    assert windows(10, None, 1) == [(0, 10)]


def test_inputs_from_a_folder_a_file_and_a_list(tmp_path):
    clips = tmp_path / "clips"
    write_tone(clips / "a.wav")
    write_tone(clips / "deep" / "b.FLAC")
    (clips / "notes.txt").write_text("not audio")
    (clips / "deep" / "README").write_text("no suffix")
    inputs = list_inputs(clips)
    found = [(i.name, i.path) for i in inputs.items]
    assert found == [("a.wav", clips / "a.wav"), ("deep/b.FLAC", clips / "deep" / "b.FLAC")]
    assert inputs.ignored == ["deep/README", "notes.txt"]
    assert [i.path for i in list_inputs(clips / "a.wav").items] == [clips / "a.wav"]

    table = tmp_path / "lists" / "todo.csv"
    table.parent.mkdir()
    table.write_text(f"id,path\n1,../clips/a.wav\n2,{clips / 'deep' / 'b.FLAC'}\n")
    items = list_inputs(table).items
    assert [i.name for i in items] == ["../clips/a.wav", str(clips / "deep" / "b.FLAC")]
    assert items[0].path.resolve() == (clips / "a.wav").resolve()


def test_unusable_inputs_are_refused_with_the_reason(tmp_path):
    (tmp_path / "empty").mkdir()
    for name in ["a.txt", "b", "c.dat"]:
        (tmp_path / "docs" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "docs" / name).write_text("not audio")
    (tmp_path / "no_path.csv").write_text("file\nx.wav\n")
    (tmp_path / "blank.csv").write_text("path,id\n,1\n")
    with pytest.raises(UserError, match="no audio files"):
        list_inputs(tmp_path / "empty")
    with pytest.raises(UserError, match=r"under .*docs \(only 3 file\(s\) of other types: a\.txt, b, c\.dat\)"):
        list_inputs(tmp_path / "docs")
    with pytest.raises(UserError, match="no file or folder"):
        list_inputs(tmp_path / "missing")
    with pytest.raises(UserError, match="no_path.csv has no `path` column"):
        list_inputs(tmp_path / "no_path.csv")
    with pytest.raises(UserError, match="blank.csv line 2 has an empty path"):
        list_inputs(tmp_path / "blank.csv")


def _compose(tmp_path: Path, data_dir: Path, *overrides: str):
    return compose_train(tmp_path, data_dir, *overrides, config_name="predict")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["window=0"], r"window=0: must be a positive number of seconds"),
        (["window=-2"], r"window=-2: must be a positive number of seconds"),
        (["window=abc"], r"window='abc': must be a positive number of seconds"),
        (["window=true"], r"window=True: must be a positive number of seconds"),
        (["window=2", "hop=0"], r"hop=0: must be a positive number of seconds"),
        (["window=2", "hop=fast"], r"hop='fast': must be a positive number of seconds"),
        (["hop=1"], r"hop=1 needs a window: set window= \(seconds\) too"),
        (["window=2", "hop=3"], r"hop=3 is longer than window=2, so parts of every file would go unscored"),
    ],
    ids=["zero", "negative", "text", "bool", "zero hop", "text hop", "hop without window", "hop over window"],
)
def test_window_and_hop_must_be_positive_seconds(tmp_path, data_dir, overrides, message):
    # Refused before the checkpoint is read: this one does not exist.
    cfg = _compose(tmp_path, data_dir, "ckpt_path=missing.ckpt", f"input={write_tone(tmp_path / 'a.wav')}", *overrides)
    with pytest.raises(UserError, match=message):
        predict(cfg)


def _not_a_checkpoint(tmp_path: Path, kind: str) -> tuple[Path, str]:
    """A ckpt_path of `kind` and what the refusal must suggest instead."""
    hint = r"pass the best\.ckpt or last\.ckpt in the checkpoints/ folder of a serlab-train run"
    if kind == "missing":
        return tmp_path / "nowhere.ckpt", r"no checkpoint at .*nowhere\.ckpt; " + hint
    if kind == "run folder":
        (tmp_path / "run1" / "checkpoints").mkdir(parents=True)
        (tmp_path / "run1" / "checkpoints" / "best.ckpt").write_bytes(b"")
        return tmp_path / "run1", r"run1 is a folder, not a checkpoint; pass .*run1/checkpoints/best\.ckpt$"
    if kind == "text":
        (tmp_path / "notes.txt").write_text("hello\n")
        return tmp_path / "notes.txt", r"notes\.txt is not a PyTorch checkpoint .*; " + hint
    torch.save({"state_dict": {"w": torch.zeros(2)}}, tmp_path / "weights.pt")
    return tmp_path / "weights.pt", r"weights\.pt was not written by serlab-train \(no 'serlab' record .*\); " + hint


@pytest.mark.parametrize("kind", ["missing", "run folder", "text", "foreign torch file"])
def test_ckpt_path_that_is_no_checkpoint_says_what_to_pass(tmp_path, data_dir, kind):
    path, message = _not_a_checkpoint(tmp_path, kind)
    cfg = _compose(tmp_path, data_dir, f"ckpt_path={path}", f"input={write_tone(tmp_path / 'a.wav')}")
    with pytest.raises(UserError, match="^ckpt_path: .*" + message) as refused:
        predict(cfg)
    assert "\n" not in str(refused.value)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """best.ckpt of the default CRNN after two training batches on the tiny corpus."""
    root = tmp_path_factory.mktemp("trained")
    limits = ["trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1"]
    train(compose_train(root, data_dir, "debug=limit", *limits, "test=false"))
    return root / "run" / "checkpoints" / "best.ckpt"


def _predict(tmp_path: Path, data_dir: Path, checkpoint: Path, source: Path, *overrides: str) -> list[dict]:
    cfg = _compose(tmp_path, data_dir, f"ckpt_path={checkpoint}", f"input={source}", *overrides)
    return predict(cfg)


def _eval_style(checkpoint: Path, path: Path) -> torch.Tensor:
    """Probabilities as serlab-eval computes them: the run's module on one decoded waveform."""
    state, run_cfg, classes = load_run(checkpoint)
    module = build_module(run_cfg, classes)
    module.load_state_dict(state["state_dict"])
    module.eval()
    wave = load_audio(path, audio_settings(run_cfg))
    with torch.no_grad():
        return module.loss.predict(module(wave[None], torch.tensor([len(wave)])))[0]


@pytest.mark.slow
def test_folder_of_any_rate_and_channel_count(tmp_path, data_dir, checkpoint):
    clips = tmp_path / "clips"
    made = [
        write_tone(clips / "a_8k_mono.wav", 0.6, 8000, 1),
        write_tone(clips / "b_44k_stereo.flac", 1.1, 44100, 2),
        write_tone(clips / "nested" / "c_16k_stereo.wav", 0.9, 16000, 2),
        write_tone(clips / "nested" / "d_16k_mono.flac", 1.7, 16000, 1),
    ]
    _predict(tmp_path, data_dir, checkpoint, clips, "batch_size=3")
    rows = _read_csv(tmp_path / "run" / "predictions.csv")
    assert [r["path"] for r in rows] == [p.relative_to(clips).as_posix() for p in made]
    assert {r["level"] for r in rows} == {"file"}
    for row, path in zip(rows, made):
        probs = torch.tensor([float(row[c]) for c in PROBS])
        assert float(probs.sum()) == pytest.approx(1.0, abs=1e-5)
        assert row["emotion"] == CLASSES[int(probs.argmax())]
        # Batched with padding, at its own rate and channel count: the same as scoring it alone.
        torch.testing.assert_close(probs, _eval_style(checkpoint, path), atol=1e-5, rtol=0)
        assert float(row["end"]) == pytest.approx(sf.info(path).duration, abs=1e-3)


@pytest.mark.slow
def test_long_file_is_scored_in_windows(tmp_path, data_dir, checkpoint):
    rate = 22050
    t = np.arange(5 * rate) / rate
    # Loudness and pitch change along the file, so its windows score differently.
    wave = 0.05 * np.sin(2 * np.pi * 200 * t) * (1 + 6 * (t > 2.5)) + 0.02 * np.sin(2 * np.pi * 1500 * t) * (t < 1)
    long = tmp_path / "long.wav"
    sf.write(long, np.stack([wave, 0.5 * wave], axis=1), rate)
    rows = _predict(tmp_path, data_dir, checkpoint, long, "window=2", "hop=1", f"output={tmp_path / 'out.json'}")
    assert json.loads((tmp_path / "out.json").read_text()) == rows
    (whole,) = [r for r in rows if r["level"] == "file"]
    parts = [r for r in rows if r["level"] == "window"]
    assert [(p["start"], p["end"]) for p in parts] == [(0.0, 2.0), (1.0, 3.0), (2.0, 4.0), (3.0, 5.0)]
    assert len({tuple(p[c] for c in PROBS) for p in parts}) > 1
    for column in PROBS:
        assert whole[column] == pytest.approx(np.mean([p[column] for p in parts]), abs=1e-5)
    assert whole["end"] == pytest.approx(5.0, abs=1e-3)


@pytest.mark.slow
def test_list_input_on_the_command_line(tmp_path, data_dir, checkpoint):
    write_tone(tmp_path / "audio" / "x.wav", 0.8, 16000)
    write_tone(tmp_path / "audio" / "y.flac", 0.5, 8000, 2)
    table = tmp_path / "list.csv"
    table.write_text("path,speaker\naudio/y.flac,s1\naudio/x.wav,s2\n")
    out = tmp_path / "preds.csv"
    args = [f"paths.root_dir={tmp_path}", f"ckpt_path={checkpoint}", f"input={table}", f"output={out}"]
    run_cli("serlab.cli.predict", *args, cwd=tmp_path)
    rows = _read_csv(out)
    assert [r["path"] for r in rows] == ["audio/y.flac", "audio/x.wav"]
    assert all(r["emotion"] in CLASSES for r in rows)


@pytest.mark.slow
def test_bad_files_stop_the_run_or_are_skipped_and_listed(tmp_path, data_dir, checkpoint, capsys):
    clips = tmp_path / "clips"
    write_tone(clips / "good.wav")
    (clips / "broken.wav").write_bytes(b"RIFF but not really audio")
    with pytest.raises(UserError, match=r"broken\.wav: unreadable audio .*on_bad_file=skip"):
        _predict(tmp_path, data_dir, checkpoint, clips)

    rows = _predict(tmp_path, data_dir, checkpoint, clips, "on_bad_file=skip")
    assert [r["path"] for r in rows] == ["good.wav"]
    skipped = _read_csv(tmp_path / "run" / "skipped.csv")
    assert [s["path"] for s in skipped] == ["broken.wav"] and "unreadable" in skipped[0]["reason"]
    out = capsys.readouterr().out
    assert "skipped 1 unusable file(s)" in out and "\n  broken.wav: unreadable audio" in out


@pytest.mark.slow
def test_a_too_short_file_points_to_on_bad_file_not_to_the_runs_settings(tmp_path, data_dir, checkpoint):
    # data.audio.* comes with the checkpoint: predict has no such keys to set.
    short = write_tone(tmp_path / "short.wav", 0.02)
    hint = r"short\.wav: too short .*; set on_bad_file=skip .*\(the run's data\.audio settings come with its checkpoint"
    with pytest.raises(UserError, match=hint):
        _predict(tmp_path, data_dir, checkpoint, short)


@pytest.mark.slow
def test_files_of_other_types_in_a_folder_are_counted(tmp_path, data_dir, checkpoint, capsys):
    clips = tmp_path / "clips"
    write_tone(clips / "a.wav")
    for name in ["notes.txt", "b", "deep/c.TXT"]:
        (clips / name).parent.mkdir(exist_ok=True)
        (clips / name).write_text("not audio")
    rows = _predict(tmp_path, data_dir, checkpoint, clips)
    assert [r["path"] for r in rows] == ["a.wav"]
    assert "ignored 3 file(s) that are not audio: b, deep/c.TXT, notes.txt" in capsys.readouterr().out


@pytest.mark.slow
def test_a_window_shorter_than_the_run_accepts_is_refused(tmp_path, data_dir, checkpoint):
    with pytest.raises(UserError, match=r"window=0\.01: shorter than the 0\.1 s the run needs of a file"):
        _predict(tmp_path, data_dir, checkpoint, write_tone(tmp_path / "a.wav"), "window=0.01")


@pytest.mark.slow
def test_every_input_unusable_exits_nonzero_with_a_summary(tmp_path, checkpoint):
    clips = tmp_path / "clips"
    (clips / "broken.wav").parent.mkdir()
    (clips / "broken.wav").write_bytes(b"RIFF but not really audio")
    write_tone(clips / "short.flac", 0.02)
    args = [f"paths.root_dir={tmp_path}", f"paths.output_dir={tmp_path / 'out'}", f"ckpt_path={checkpoint}"]
    proc = run_cli("serlab.cli.predict", *args, f"input={clips}", "on_bad_file=skip", cwd=tmp_path, expect=2)
    assert "input: all 2 file(s) were unusable" in proc.stderr
    assert [s["path"] for s in _read_csv(tmp_path / "out" / "skipped.csv")] == ["broken.wav", "short.flac"]
    assert not (tmp_path / "out" / "predictions.csv").exists()


def test_output_suffix_must_name_a_format(tmp_path, data_dir):
    overrides = ["ckpt_path=x.ckpt", f"input={tmp_path}", "output=preds.txt"]
    cfg = compose_train(tmp_path, data_dir, *overrides, config_name="predict")
    with pytest.raises(UserError, match=r"output: preds\.txt must end in \.csv or \.json"):
        predict(cfg)


# fusion: a model joining functionals; each pretrained frontend (its small local encoder) under attentive pooling;
# a linear probe of the Whisper embeddings stream
SCORED_RUNS = {
    "fusion": lambda: ["model=fusion", "data/streams/functionals=egemaps", "model.vector_hidden=8", "model.hidden=16"],
    **{frontend: lambda frontend=frontend: pretrained_run(frontend) for frontend in PRETRAINED},
    "embeddings": embeddings_overrides,
}


@pytest.mark.slow
@pytest.mark.parametrize("run", list(SCORED_RUNS))
def test_runs_on_streams_or_pretrained_encoders_score_new_files_as_each_file_alone(tmp_path, data_dir, run):
    limits = ["trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1"]
    train(compose_train(tmp_path / "a", data_dir, *SCORED_RUNS[run](), "debug=limit", *limits, "test=false"))
    ckpt = tmp_path / "a" / "run" / "checkpoints" / "best.ckpt"
    clips = tmp_path / "clips"
    made = [write_tone(clips / "a.wav", 0.6, 16000), write_tone(clips / "b.wav", 1.3, 22050)]
    _predict(tmp_path, data_dir, ckpt, clips, "batch_size=2")
    rows = _read_csv(tmp_path / "run" / "predictions.csv")
    assert [r["path"] for r in rows] == ["a.wav", "b.wav"]
    state, run_cfg, classes = load_run(ckpt)
    module = build_module(run_cfg, classes)
    module.load_state_dict(state["state_dict"])
    module.eval()
    for row, path in zip(rows, made):
        wave = load_audio(path, audio_settings(run_cfg))
        # the run's streams (functionals, embeddings) as its data side computes them, for this file alone
        vectors = {name: instantiate(node)([wave], 16000, [""]) for name, node in (run_cfg.data.streams or {}).items()}
        with torch.no_grad():
            expected = module.loss.predict(module(wave[None], torch.tensor([len(wave)]), vectors=vectors))[0]
        # scored in a padded batch of two: the same as alone
        torch.testing.assert_close(torch.tensor([float(row[c]) for c in PROBS]), expected, atol=1e-5, rtol=0)


def test_novelty_is_written_and_higher_for_audio_unlike_the_training_split(tmp_path, data_dir):
    # a CRNN that reads no vector stream: the autoencoder alone reads the functionals, for novelty
    streams = ["data/streams/functionals=egemaps", "reconstruction=autoencoder", "model.hidden=16"]
    cfg = compose_train(tmp_path / "a", data_dir, *streams, "debug=limit", "trainer.max_epochs=1", "test=false")
    train(cfg)
    ckpt = tmp_path / "a" / "run" / "checkpoints" / "best.ckpt"
    split = {r["id"]: r["split"] for r in _read_csv(tmp_path / "a" / "run" / "split.csv")}
    corpus = data_dir / "synthetic"
    heard = next(p for p in sorted(corpus.rglob("*.wav")) if split.get(p.stem) == "train")
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / "heard.wav").write_bytes(heard.read_bytes())
    noise = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    sf.write(clips / "white_noise.wav", noise, 16000)

    rows = {r["path"]: r for r in _predict(tmp_path, data_dir, ckpt, clips)}
    novelty = {name: float(row["novelty"]) for name, row in rows.items()}
    assert all(np.isfinite(list(novelty.values()))) and novelty["white_noise.wav"] > 3 * novelty["heard.wav"]
    header = (tmp_path / "run" / "predictions.csv").read_text().splitlines()[0]
    assert header.split(",") == ["path", "level", "start", "end", "emotion", *PROBS, "novelty"]
    # a file scored in windows: its novelty is the mean of its windows'
    windowed = _predict(tmp_path, data_dir, ckpt, clips / "white_noise.wav", "window=0.4", "hop=0.3")
    own = [float(r["novelty"]) for r in windowed if r["level"] == "window"]
    assert len(own) == 3 and float(windowed[0]["novelty"]) == pytest.approx(np.mean(own), abs=1e-5)
