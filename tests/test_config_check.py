"""A bad configuration stops serlab-train before any audio is read, naming the key and what is allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest

from serlab.cli.train import train
from serlab.config_check import ConfigError, check_targets, fits
from serlab.data.cache import AudioCache
from tests.conftest import cli_overrides, compose_train, run_cli

# overrides -> a fragment of the error (a regular expression)
BAD = {
    "unknown key in a node":
        (["+model.hiden=3"], r"model\.hiden: .*CRNN takes no option 'hiden'; its options: .*\bhidden\b"),
    "unknown key in a nested node":
        (["+data.split.test=[x]"], r"data\.split\.test: .*takes no option 'test'; "
         r"its options: n_folds, n_val_speakers"),
    "unknown target":
        (["model._target_=serlab.models.crnn.CRN"], r"model\._target_: cannot import 'serlab\.models\.crnn\.CRN'"),
    "text for an int":
        (["trainer.max_epochs=abc"], r"trainer\.max_epochs='abc': lightning\.pytorch\.Trainer expects int or None"),
    "text for a float": (["optimizer.lr=fast"], r"optimizer\.lr='fast': torch\.optim\.Adam expects float"),
    "float for an int": (["model.hidden=1.5"], r"model\.hidden=1\.5: .*CRNN expects int"),
    "text for a nested int":
        (["data.audio.sample_rate=high"], r"data\.audio\.sample_rate='high': .*AudioSettings expects int"),
    "scalar for a list": (["model.channels=16"], r"model\.channels=16: .*CRNN expects Sequence"),
    "negative learning rate":
        (["optimizer.lr=-0.1"], r"optimizer: torch\.optim\.Adam refuses lr=-0\.1, .*: Invalid learning rate"),
    "negative momentum":
        (["optimizer=sgd", "optimizer.momentum=-1"], r"optimizer: torch\.optim\.SGD refuses .*momentum=-1"),
    "batch size 0": (["data.batch_size=0"], r"data\.batch_size must be >= 1, got 0"),
    "eval batch size 0": (["data.eval_batch_size=0"], r"data\.eval_batch_size must be >= 1"),
    "negative fold": (["data.fold=-1"], r"data\.fold must be >= 0, got -1"),
    "fold beyond the folds": (["data.fold=5"], r"data\.fold must be in 0\.\.4, got 5"),
    "fold beyond the speakers": (["data/split=loso", "data.fold=6"], r"data\.fold must be in 0\.\.5, got 6"),
    "more folds than speakers": (["data.split.n_folds=9"], r"data\.split: 6 speaker\(s\) .* cannot fill 9 test folds"),
    "dropout of 1": (["regularizer.dropout.p=1.0"], r"regularizer\.dropout\.p must be in \[0, 1\), got 1\.0"),
    "SNR range reversed":
        (["regularizer=[noise]", "regularizer.noise.min_snr_db=40"], r"regularizer\.noise: need min_snr_db <= max"),
    "label smoothing of 1": (["loss.label_smoothing=1.0"], r"loss\.label_smoothing must be in \[0, 1\)"),
    "unknown choice": (["model.rnn=transformer"], r"model\.rnn must be one of \['gru', 'lstm'\], got 'transformer'"),
    "unknown loudness":
        (["data.audio.loudness=lufs"], r"data\.audio\.loudness must be one of \['none', 'peak', 'rms'\]"),
    "unknown bad-file policy": (["data.on_bad_file=ignore"], r"data\.on_bad_file must be one of \['error', 'skip'\]"),
    "negative epochs": (["trainer.max_epochs=-3"], r"`max_epochs` must be a non-negative integer or -1"),
    "frontend that does not fit the model":
        (["model=e2e"], r"model=E2E reads waveform features, "
         r"but frontend=LogMel gives spectral .*: choose frontend=raw"),
    "loss that does not fit the model":
        (["model=multitask", "loss=ctc"], r"loss=CTC scores frames, but model=.* has no frame-level head"),
}  # fmt: skip


@pytest.mark.parametrize("overrides,message", BAD.values(), ids=BAD.keys())
def test_bad_config_fails_before_any_audio_is_read(tmp_path, data_dir, monkeypatch, overrides, message):
    def refuse(*args):
        pytest.fail("audio was read before the bad config was refused")

    monkeypatch.setattr(AudioCache, "load", refuse)
    cfg = compose_train(tmp_path, data_dir, *overrides)
    with pytest.raises(Exception, match=message):
        train(cfg)


@pytest.mark.parametrize(
    "override,message",
    [
        ("model=crnnn", r"(?s)Could not find 'model/crnnn'.*Available options in 'model':.*\bcrnn\b"),
        ("model.hiden=3", r"Could not override 'model\.hiden'"),
    ],
)
def test_unknown_options_fail_when_composing_and_say_what_exists(tmp_path, data_dir, override, message):
    with pytest.raises(Exception, match=message):
        compose_train(tmp_path, data_dir, override)


@pytest.mark.parametrize(
    "value,hint,ok",
    [
        (3, float, True), (True, int, False), ("3", int, False), (None, int | None, True), ([1, 2], list[int], True),
        ([1, "a"], list[int], False), ((1, 2), tuple[int, ...], True), ("gru", Literal["gru", "lstm"], True),
        ("rnn", Literal["gru", "lstm"], False), ({"_target_": "x"}, int, True), ("/x", Path, True), (3, Path, False),
    ],
)  # fmt: skip
def test_values_fit_their_annotations(value, hint, ok):
    assert fits(value, hint) is ok


def two_options(a: int = 0, b: str = "") -> None:
    """A target with exactly two options."""


def open_ended(a: int = 0, **rest: object) -> None:
    """A target that takes any keyword."""


def test_only_a_target_with_a_keyword_catch_all_takes_any_key():
    check_targets({"_target_": "tests.test_config_check.open_ended", "anything": 1})
    with pytest.raises(ConfigError, match=r"x\.anything: .*takes no option 'anything'; its options: a, b"):
        check_targets({"x": {"_target_": "tests.test_config_check.two_options", "anything": 1}})
    with pytest.raises(ConfigError, match=r"y\[0\]\.a='1': .*two_options expects int"):
        check_targets({"y": [{"_target_": "tests.test_config_check.two_options", "a": "1"}]})


@pytest.mark.slow
def test_serlab_train_exits_with_the_message_and_reads_no_audio(tmp_path, data_dir):
    cache = tmp_path / "cache"
    overrides = [*cli_overrides(tmp_path, data_dir), f"data.cache_dir={cache}", "optimizer.lr=-1"]
    proc = run_cli("serlab.cli.train", *overrides, cwd=tmp_path, expect=2)
    assert "optimizer: torch.optim.Adam refuses lr=-1" in proc.stderr
    assert not cache.exists()
