"""serlab-pretrain: BYOL-A on a folder of audio or a corpus's speakers, writing an encoder frontend=byol_s loads."""

from __future__ import annotations

import csv
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import soundfile as sf
import torch

from serlab.cli.pretrain import source_files
from serlab.features.byol_s import ByolS
from serlab.pretraining.data import PretrainDataError
from tests.cli.test_commands import console_script
from tests.conftest import TINY, compose_train, run_cli
from tests.features.pretrained import random_byol_s, real_model

# Tiny networks and segments: a run is two steps of four 16-frame segments.
SMALL = ["byol.hidden=32", "byol.projection=16", "segments.frames=16", "pretrain.batch_size=4", "trainer.max_epochs=1",
         "print_config=false"]  # fmt: skip


class FirstStepWeights(L.Callback):
    """Saves the online and target encoders' state dicts as the first training step starts."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: object, i: int) -> None:
        if trainer.global_step == 0 and i == 0:
            torch.save({"online": pl_module.encoder.state_dict(), "target": pl_module.target.encoder.state_dict()},
                       self.path)  # fmt: skip


def audio_folder(root: Path, n: int = 8) -> Path:
    """`n` half-second noise clips of several types in nested folders, one broken file and one text file."""
    rng = np.random.default_rng(0)
    for i in range(n):
        name = root / ("deep" if i % 2 else "") / f"clip{i}.{'flac' if i % 3 == 0 else 'wav'}"
        name.parent.mkdir(parents=True, exist_ok=True)
        sf.write(name, 0.1 * rng.standard_normal(8000 + 800 * i), 16000)
    (root / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVE")
    (root / "notes.txt").write_text("not audio")
    return root


def test_pretraining_a_folder_writes_an_encoder_byol_s_loads_strictly(tmp_path):
    audio, init = audio_folder(tmp_path / "audio"), random_byol_s(tmp_path / "init.pth")
    run = tmp_path / "run"
    args = [f"pretrain.audio={audio}", f"pretrain.init={init}", f"paths.root_dir={tmp_path}", f"hydra.run.dir={run}"]
    out = run_cli("serlab.cli.pretrain", *args, *SMALL, cwd=tmp_path).stdout
    encoder = (run / "encoder.pth").resolve()
    assert out.rstrip().splitlines()[-1] == f"frontend=byol_s frontend.weights={encoder}"
    assert "pretrained on 8 file(s), 1 unusable file(s) skipped" in out
    with open(run / "skipped.csv", newline="") as f:
        assert [r["path"] for r in csv.DictReader(f)] == [str(audio / "broken.wav")]
    assert (run / "checkpoints" / "last.ckpt").is_file() and (run / "input_stats.json").is_file()
    frontend = ByolS(str(encoder))  # loads strictly
    start = torch.load(init, weights_only=True)
    trained = frontend.encoder.state_dict()
    assert set(trained) == set(start)
    assert not torch.equal(trained["features.0.weight"], start["features.0.weight"])
    assert not torch.equal(trained["fc.3.weight"], start["fc.3.weight"])


@pytest.mark.slow
def test_a_run_continues_from_its_last_checkpoint(tmp_path):
    audio, run = audio_folder(tmp_path / "audio"), tmp_path / "run"
    args = [f"pretrain.audio={audio}", f"paths.root_dir={tmp_path}", f"hydra.run.dir={run}", *SMALL]
    run_cli("serlab.cli.pretrain", *args, cwd=tmp_path)
    again = run_cli("serlab.cli.pretrain", *args, "trainer.max_epochs=2", "ckpt_path=last", cwd=tmp_path)
    shown = again.stdout + again.stderr
    assert "epoch 1:" in shown and "epoch 0:" not in shown  # the first epoch is not trained again
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    assert checkpoint["global_step"] == 4  # two steps per epoch


def test_continuing_from_the_published_byol_s_weights_starts_from_them(tmp_path):
    published = real_model("byol-s-512") / "byol-s-512.pth"
    audio, first = audio_folder(tmp_path / "audio", n=4), tmp_path / "first_step.pth"
    callback = ["+callbacks.first._target_=tests.cli.test_pretrain.FirstStepWeights", f"+callbacks.first.path={first}"]
    args = [f"pretrain.audio={audio}", f"pretrain.init={published}", f"paths.root_dir={tmp_path}", *callback]
    run_cli("serlab.cli.pretrain", *args, *SMALL, cwd=tmp_path)
    state, weights = torch.load(published, weights_only=True), torch.load(first, weights_only=True)
    for network in ("online", "target"):
        assert set(weights[network]) == set(state)
        for name, value in state.items():
            torch.testing.assert_close(weights[network][name], value, rtol=0, atol=0)


def test_a_corpus_option_gives_its_files_or_only_some_speakers(tmp_path, data_dir):
    tiny = [f"data.corpus.{k}={v}" for k, v in TINY.items()]
    cfg = compose_train(tmp_path, data_dir, "data=synthetic", *tiny, config_name="pretrain")
    every = source_files(cfg)
    assert len(every) == TINY["n_speakers"] * TINY["utterances_per_emotion"] * 4
    cfg = compose_train(tmp_path, data_dir, "data=synthetic", *tiny, "pretrain.sides=[train]", "data.fold=1",
                        config_name="pretrain")  # fmt: skip
    # 6 speakers in 5 folds: fold 1 tests on one block and validates on the next speaker; the rest train
    kept = source_files(cfg)
    assert 0 < len(kept) < len(every) and len(kept) % (TINY["utterances_per_emotion"] * 4) == 0


@pytest.mark.parametrize(
    "overrides,message",
    [
        ([], "pretrain.audio: pass either a folder of audio (pretrain.audio=<folder>) or a corpus option"),
        (["pretrain.audio=AUDIO", "data=synthetic"], "not both"),
        (["pretrain.audio=AUDIO", "pretrain.sides=[train]"], "choose speakers of a corpus: add data=<corpus>"),
    ],
    ids=["neither", "both", "sides_of_a_folder"],
)
def test_a_missing_or_doubled_source_is_refused(tmp_path, data_dir, overrides, message):
    audio = str(audio_folder(tmp_path / "audio", n=1))
    cfg = compose_train(tmp_path, data_dir, *(o.replace("AUDIO", audio) for o in overrides), config_name="pretrain")
    with pytest.raises(PretrainDataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        source_files(cfg)


def test_a_mistake_ends_in_one_line_naming_the_key(tmp_path):
    audio = audio_folder(tmp_path / "audio", n=2)
    proc = run_cli("serlab.cli.pretrain", f"pretrain.audio={audio}", f"paths.root_dir={tmp_path}", *SMALL,
                   "pretrain.batch_size=16", cwd=tmp_path, expect=2)  # fmt: skip
    assert proc.stderr.strip().splitlines() == [
        "error: pretrain.batch_size=16: must be at least 2 and at most the 2 usable clips"
    ]


def test_help_shows_the_pretraining_options_without_the_training_stack(tmp_path):
    out = run_cli(console_script(tmp_path, "serlab-pretrain", "--help"), cwd=tmp_path).stdout
    assert "pretrain.audio" in out or "audio: null" in out
    assert "data: crema_d, emodb" in out and out.rstrip().splitlines()[-1] == "imported: []"
