"""Pretrained-encoder embeddings: per-layer statistics over real frames, cached once per utterance, shared safely."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import huggingface_hub.constants
import numpy as np
import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from serlab.cli.commands import user_message
from serlab.configs import CONFIG_DIR
from serlab.data.embeddings import PretrainedEmbeddings
from serlab.data.encoders import WhisperEncoder
from serlab.errors import UserError

WHISPER = Path("/work/shared/models/whisper-tiny.en")
STREAM = Path(CONFIG_DIR, "data", "streams", "embeddings", "whisper.yaml")


class FakeEncoder:
    """Frames of 100 samples; three layers of four statistics per frame. Frames past a waveform's length hold
    1e6, so pooling that reads padding shows at once. Counts the utterances it encodes and the batches' lengths."""

    sample_rate = 16000
    layers = 3
    dim = 4
    hop = 100

    def __init__(self, fingerprint: str = "fake-1", delay: float = 0.0) -> None:
        self.fingerprint = fingerprint
        self.delay = delay
        self.encoded = 0
        self.batches: list[list[int]] = []

    def hidden_states(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        time.sleep(self.delay)
        self.encoded += len(lengths)
        self.batches.append(lengths.tolist())
        steps = waveforms.shape[1] // self.hop
        x = waveforms[:, : steps * self.hop].reshape(len(lengths), steps, self.hop)
        frame = torch.stack([x.mean(-1), x.abs().amax(-1), x[..., 0], x.std(-1)], dim=-1)
        states = torch.stack([frame * (layer + 1) for layer in range(self.layers)])
        frames = lengths // self.hop
        states[:, torch.arange(steps) >= frames[:, None]] = 1e6
        return states, frames


def chirps(seconds: list[float], rate: int = 16000) -> list[torch.Tensor]:
    """One distinct waveform per duration."""
    waves = []
    for i, s in enumerate(seconds):
        t = torch.arange(int(s * rate)) / rate
        waves.append(0.3 * torch.sin(2 * torch.pi * (120 + 40 * i) * t * (1 + t)) * (0.5 + t / s))
    return waves


def test_each_utterance_gets_mean_and_std_per_layer_over_its_real_frames_only(tmp_path):
    waves = chirps([0.5, 1.3, 0.8])
    encoder = FakeEncoder()
    stats = PretrainedEmbeddings(encoder, cache_dir=tmp_path)(waves, 16000, ["a"] * 3)
    extractor = PretrainedEmbeddings(encoder)
    assert extractor.shape == (3, 8) and extractor.size == 24 and stats.shape == (3, 3, 8)
    assert encoder.batches == [[8000, 12800, 20800]]  # one padded batch
    for wave, row in zip(waves, stats):
        alone, frames = encoder.hidden_states(wave[None], torch.tensor([len(wave)]))
        real = alone[:, 0, : frames[0]]
        torch.testing.assert_close(row, torch.cat([real.mean(1), real.std(1, correction=0)], dim=1))
    assert stats.abs().max() < 1e3


def test_per_speaker_statistics_are_standardised_within_each_speaker_and_the_cache_keeps_raw_ones(tmp_path):
    waves = chirps([0.5, 1.3, 0.8, 0.6, 1.1])
    speakers = ["a", "b", "a", "b", "a"]
    raw = PretrainedEmbeddings(FakeEncoder(), cache_dir=tmp_path)(waves, 16000, speakers)
    adaptive = PretrainedEmbeddings(FakeEncoder(), cache_dir=tmp_path, per_speaker=True)(waves, 16000, speakers)
    for speaker in "ab":
        rows = torch.tensor([s == speaker for s in speakers])
        own = raw[rows]
        spread = own.std(0, correction=0)
        expected = (own - own.mean(0)) / torch.where(spread > 1e-8, spread, torch.ones_like(spread))
        torch.testing.assert_close(adaptive[rows], expected)
    # the speaker-adaptive run read the raw statistics the first one cached
    torch.testing.assert_close(PretrainedEmbeddings(FakeEncoder(), cache_dir=tmp_path)(waves, 16000, speakers), raw)


def test_a_second_call_and_nine_more_folds_only_read_the_cache(tmp_path, caplog):
    caplog.set_level("INFO", logger="serlab.data.embeddings")
    waves = chirps([0.5, 1.3, 0.8])
    encoder = FakeEncoder()
    first = PretrainedEmbeddings(encoder, cache_dir=tmp_path)(waves, 16000, ["a", "b", "c"])
    assert encoder.encoded == 3 and "3 utterance(s) computed, 0 read" in caplog.text
    caplog.clear()
    for _ in range(9):  # each fold of a CV builds its own extractor
        later = FakeEncoder()
        again = PretrainedEmbeddings(later, cache_dir=tmp_path)(waves, 16000, ["a", "b", "c"])
        torch.testing.assert_close(again, first)
        assert later.encoded == 0
    assert "0 utterance(s) computed, 3 read" in caplog.text


def test_another_encoder_or_sample_rate_never_reads_an_entry(tmp_path):
    waves = chirps([0.5])
    PretrainedEmbeddings(FakeEncoder(), cache_dir=tmp_path)(waves, 16000, ["a"])
    other = FakeEncoder(fingerprint="fake-2")
    PretrainedEmbeddings(other, cache_dir=tmp_path)(waves, 16000, ["a"])
    assert other.encoded == 1
    slower = FakeEncoder()
    slower.sample_rate = 8000
    PretrainedEmbeddings(slower, cache_dir=tmp_path)(waves, 8000, ["a"])
    assert slower.encoded == 1
    assert len(list(tmp_path.rglob("*.npy"))) == 3


@pytest.mark.parametrize("damage", [b"not an array", b"\x93NUMPY", "wrong shape"])
def test_a_damaged_entry_is_computed_again_and_overwritten(tmp_path, damage):
    waves = chirps([0.5, 0.7])
    first = PretrainedEmbeddings(FakeEncoder(), cache_dir=tmp_path)(waves, 16000, ["a", "a"])
    entry = sorted(tmp_path.rglob("*.npy"))[0]
    if damage == "wrong shape":
        np.save(entry, np.zeros((2, 8), np.float32))
    else:
        entry.write_bytes(damage)
    again = FakeEncoder()
    torch.testing.assert_close(PretrainedEmbeddings(again, cache_dir=tmp_path)(waves, 16000, ["a", "a"]), first)
    assert again.encoded == 1
    assert np.load(entry).shape == (3, 8)


def test_processes_filling_one_cache_at_once_never_see_a_torn_entry(tmp_path):
    waves = chirps([0.3 + 0.1 * i for i in range(8)])
    expected = PretrainedEmbeddings(FakeEncoder())(waves, 16000, ["a"] * 8)
    results: list[torch.Tensor] = []
    errors: list[BaseException] = []
    writing = threading.Event()

    def fill() -> None:
        # one utterance per batch, so the writers' entries interleave
        extractor = PretrainedEmbeddings(FakeEncoder(delay=0.005), cache_dir=tmp_path, batch_seconds=0.5)
        results.append(extractor(waves, 16000, ["a"] * 8))

    def read_while_writing() -> None:
        while writing.is_set():
            for entry in tmp_path.rglob("*.npy"):
                try:
                    assert np.load(entry).shape == (3, 8)
                except (OSError, ValueError, AssertionError) as error:  # FileNotFoundError would be a torn rename too
                    errors.append(error)

    writing.set()
    reader = threading.Thread(target=read_while_writing)
    writers = [threading.Thread(target=fill) for _ in range(3)]
    reader.start()
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    writing.clear()
    reader.join()
    assert not errors and len(results) == 3
    for result in results:
        torch.testing.assert_close(result, expected)
    assert len(list(tmp_path.rglob("*.npy"))) == 8 and not list(tmp_path.rglob("*.tmp"))


def test_utterances_of_similar_length_are_encoded_together():
    encoder = FakeEncoder()
    PretrainedEmbeddings(encoder, batch_seconds=20)(chirps([1.0, 10.0, 1.1, 9.0]), 16000, ["a"] * 4)
    assert encoder.batches == [[16000, 17600], [144000, 160000]]


def test_audio_at_another_rate_than_the_encoders_names_the_key():
    with pytest.raises(UserError, match=r"^data\.audio\.sample_rate is 8000 Hz .* set data\.audio\.sample_rate=16000$"):
        PretrainedEmbeddings(FakeEncoder())(chirps([0.5], rate=8000), 8000, ["a"])


def stream(data_dir: Path, model: str) -> DictConfig:
    """The shipped data/streams/embeddings=whisper config, resolved, on `model`."""
    cfg = OmegaConf.merge({"paths": {"data_dir": str(data_dir)}}, {"stream": OmegaConf.load(STREAM)})
    cfg.stream.encoder.path = model
    return cfg.stream


def test_a_hub_model_missing_from_the_offline_cache_is_one_line_naming_the_key(monkeypatch, tmp_path):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(InstantiationException) as caught:
        instantiate(stream(tmp_path, "serlab-tests/absent-model"))
    message = user_message(caught.value)
    assert message is not None and "\n" not in message
    assert message.startswith("encoder.path='serlab-tests/absent-model' is neither a folder")
    assert "hf download serlab-tests/absent-model" in message


@pytest.fixture(scope="module")
def whisper(tmp_path_factory: pytest.TempPathFactory) -> PretrainedEmbeddings:
    """The shipped data/streams/embeddings=whisper config, on the local tiny.en checkpoint."""
    if not WHISPER.is_dir():
        pytest.skip(f"no Whisper checkpoint at {WHISPER}")
    return instantiate(stream(tmp_path_factory.mktemp("data"), str(WHISPER)))


def voice(seconds: float = 2.0, rate: int = 16000) -> torch.Tensor:
    """A vowel-like clip: a gliding harmonic tone with a syllable-rate envelope and a little noise."""
    t = torch.arange(int(seconds * rate)) / rate
    pitch = 2 * torch.pi * (140 * t + 15 * t**2)
    tone = sum(torch.sin(k * pitch) / k for k in range(1, 8))
    noise = 0.01 * torch.randn(len(t), generator=torch.Generator().manual_seed(0))
    return (0.2 * tone * torch.sin(torch.pi * 2.5 * t) ** 2 + noise).float()


def test_whisper_on_real_frames_stays_close_to_its_standard_padded_encoding(whisper):
    encoder = whisper.encoder
    assert whisper.shape == (5, 768)
    clip = voice()
    states, frames = encoder.hidden_states(clip[None], torch.tensor([len(clip)]))
    assert frames.tolist() == [100] and states.shape == (5, 1, 100, 384)
    mel = encoder.mel(clip.numpy(), sampling_rate=16000, return_tensors="pt").input_features  # padded to 30 s
    with torch.no_grad():
        padded = torch.stack(encoder.encoder(mel, output_hidden_states=True).hidden_states)[:, 0, :100]
    ours = states[:, 0]
    # The input embeddings differ only in the last frames, whose mel windows reach past the clip's end.
    torch.testing.assert_close(ours[0, :-2], padded[0, :-2], atol=1e-5, rtol=1e-5)
    # Deeper layers attend to the 28 s of padding in the standard encoding, so they drift, the last layer most.
    # Measured on this clip, embeddings then layers 1-4: median per-frame cosine 1.000 0.9997 0.990 0.965 0.903;
    # cosine of the means over frames 1.000 0.9997 0.993 0.980 0.915; of the deviations >= 0.986.
    # (On EmoDB clips: last-layer median per-frame cosine 0.96-0.97, of the means 0.965-0.970.)
    cosine = torch.nn.functional.cosine_similarity(ours, padded, dim=-1)
    assert (cosine.median(dim=1).values > torch.tensor([0.9999, 0.999, 0.98, 0.95, 0.88])).all()
    means = torch.nn.functional.cosine_similarity(ours.mean(1), padded.mean(1), dim=-1)
    assert (means > torch.tensor([0.9999, 0.999, 0.98, 0.96, 0.89])).all()
    assert (torch.nn.functional.cosine_similarity(ours.std(1), padded.std(1), dim=-1) > 0.98).all()
    # and closer to its own padded encoding than to that of another clip (median cosine 0.82 there)
    other = encoder.mel(voice(2.0).flip(0).numpy(), sampling_rate=16000, return_tensors="pt").input_features
    with torch.no_grad():
        elsewhere = encoder.encoder(other).last_hidden_state[0, :100]
    assert torch.nn.functional.cosine_similarity(ours[-1], elsewhere, dim=-1).median() < cosine[-1].median()


def test_whisper_batches_encode_each_clip_as_if_alone(whisper):
    clips = [voice(1.0), voice(2.5), voice(0.3)]
    batch = torch.nn.utils.rnn.pad_sequence(clips, batch_first=True)
    states, frames = whisper.encoder.hidden_states(batch, torch.tensor([len(c) for c in clips]))
    assert frames.tolist() == [50, 125, 15]
    for i, clip in enumerate(clips):
        alone, _ = whisper.encoder.hidden_states(clip[None], torch.tensor([len(clip)]))
        torch.testing.assert_close(states[:, i, : frames[i]], alone[:, 0], atol=1e-4, rtol=1e-4)


def test_whisper_encodes_clips_past_30_s_in_joined_windows(whisper):
    clip = voice(31.0)
    states, frames = whisper.encoder.hidden_states(clip[None], torch.tensor([len(clip)]))
    first, _ = whisper.encoder.hidden_states(clip[None, :248000], torch.tensor([248000]))
    assert frames.tolist() == [1550]
    torch.testing.assert_close(states[:, 0, :775], first[:, 0], atol=1e-4, rtol=1e-4)


def test_whisper_statistics_are_cached_under_the_weights_fingerprint(whisper):
    stats = whisper([voice(1.0)], 16000, ["a"])
    assert stats.shape == (1, 5, 768) and torch.isfinite(stats).all()
    (entry,) = whisper.cache_dir.glob("*.npy")
    assert whisper.cache_dir.name.startswith("whisper-") and np.load(entry).shape == (5, 768)


def test_whisper_padded_to_its_window_gives_the_standard_encodings_real_frames(whisper):
    padded = WhisperEncoder(str(WHISPER), pad_to_window=True)
    assert padded.fingerprint != whisper.encoder.fingerprint
    clips = [voice(2.0), voice(0.5)]
    batch = torch.nn.utils.rnn.pad_sequence(clips, batch_first=True)
    states, frames = padded.hidden_states(batch, torch.tensor([len(c) for c in clips]))
    assert frames.tolist() == [100, 25]
    mel = padded.mel(clips[1].numpy(), sampling_rate=16000, return_tensors="pt").input_features
    with torch.no_grad():
        standard = torch.stack(padded.encoder(mel, output_hidden_states=True).hidden_states)[:, 0, :25]
    torch.testing.assert_close(states[:, 1, :25], standard, atol=1e-4, rtol=1e-4)
