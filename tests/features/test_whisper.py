"""Whisper's encoder as a frontend: its own log-mel, real frames only, padding-free, frozen or tuned."""

import huggingface_hub
import numpy as np
import pytest
import torch

from serlab.errors import UserError
from serlab.features.whisper import Whisper, WhisperLogMel
from tests.features.pretrained import real_model, tiny_whisper
from tests.features.test_frontends import assert_padding_free


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    return str(tiny_whisper(tmp_path_factory.mktemp("whisper")))


@pytest.fixture(scope="module")
def frontend(tiny) -> Whisper:
    return Whisper(tiny).eval()


@pytest.mark.parametrize("samples", [100, 12345, 40000])
def test_log_mel_is_whisper_feature_extractors(samples):
    from transformers import WhisperFeatureExtractor

    wave = np.random.default_rng(samples).normal(0, 0.1, samples).astype(np.float32)
    standard = WhisperFeatureExtractor()(wave, sampling_rate=16000, return_tensors="pt").input_features[0]
    mel, frames = WhisperLogMel()(torch.from_numpy(wave)[None], torch.tensor([samples]))
    assert frames.tolist() == [max(1, samples // 160)] and mel.shape[-1] >= frames[0] + 2
    # the frames after the utterance's end too: they hold its tail, then silence, as in the 30 s padding
    torch.testing.assert_close(mel[0], standard[:, : mel.shape[-1]], atol=1e-4, rtol=0)


def test_padding_does_not_change_any_layer(frontend):
    wave = torch.randn(2, 20000)
    lengths = torch.tensor([20000, 7001])
    hidden, frames = frontend.hidden_states(wave * (torch.arange(20000) < lengths[:, None]), lengths)
    assert hidden.shape == (3, 2, 63, 32) and frames.tolist() == [63, 22]
    alone, _ = frontend.hidden_states(wave[1:, :7001], lengths[1:])
    torch.testing.assert_close(hidden[:, 1, :22], alone[:, 0], atol=1e-5, rtol=1e-4)
    assert_padding_free(frontend)


def test_features_mix_all_layers_or_take_one(tiny, frontend):
    wave, lengths = torch.randn(1, 16000), torch.tensor([16000])
    hidden, _ = frontend.hidden_states(wave, lengths)
    feats, frames = frontend(wave, lengths)
    assert frontend.out_features == 32 and feats.shape == (1, 32, 50) and frames.tolist() == [50]
    torch.testing.assert_close(feats, hidden.mean(0).transpose(1, 2))
    last, _ = Whisper(tiny, layer=-1).eval()(wave, lengths)
    torch.testing.assert_close(last, hidden[-1].transpose(1, 2))


def test_real_frames_agree_with_the_standard_30s_encoding():
    """Encoding 1.9 s of EmoDB speech without the 30 s of padding: the input embedding is the standard one;
    attention no longer sees the silence, so layers drift from it (measured on 03a01Fa: per-frame cosine
    0.997, 0.992, 0.981 and 0.957 on layers 1-4, last-layer max abs difference 4.5; on other EmoDB clips
    0.92-0.97 on the last layer)."""
    import soundfile as sf
    from transformers import WhisperFeatureExtractor, WhisperModel

    from tests.data.corpora.test_emodb_release import ROOT

    folder = str(real_model("whisper-tiny.en"))
    if not (ROOT / "wav").is_dir():
        pytest.skip(f"EmoDB not found at {ROOT} (set SERLAB_EMODB)")
    wave, _ = sf.read(ROOT / "wav" / "03a01Fa.wav", dtype="float32")
    ours, frames = Whisper(folder).eval().hidden_states(torch.from_numpy(wave)[None], torch.tensor([len(wave)]))
    standard = WhisperFeatureExtractor.from_pretrained(folder)(wave, sampling_rate=16000, return_tensors="pt")
    encoder = WhisperModel.from_pretrained(folder, dtype=torch.float32).encoder.eval()
    with torch.no_grad():
        out = encoder(standard.input_features, output_hidden_states=True)
    reference = [*out.hidden_states[:-1], out.last_hidden_state]
    n = int(frames[0])
    assert len(reference) == len(ours) == 5 and n == 95
    torch.testing.assert_close(ours[0, 0], reference[0][0, :n], atol=1e-3, rtol=0)
    cosines = [torch.cosine_similarity(ours[i, 0], reference[i][0, :n], dim=-1).mean().item() for i in range(5)]
    assert min(cosines[1:4]) > 0.97 and cosines[4] > 0.94, cosines


def test_freezing_the_top_blocks(tiny):
    trainable = {n for n, p in Whisper(tiny, freeze="top:1").named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("mix.", "encoder.layers.1.")) for n in trainable)
    assert "encoder.layers.0.fc1.weight" not in trainable and "encoder.conv1.weight" not in trainable
    tuned = {n for n, p in Whisper(tiny, freeze="none").named_parameters() if p.requires_grad}
    # the fixed positional table stays fixed when the whole encoder is fine-tuned
    assert "encoder.conv1.weight" in tuned and "encoder.embed_positions.weight" not in tuned
    with pytest.raises(ValueError, match="frontend.freeze"):
        Whisper(tiny, freeze="top:3")


def test_gradient_checkpointing_gives_the_same_gradients(tiny):
    wave, lengths = torch.randn(2, 8000), torch.tensor([8000, 5000])
    grads = []
    for checkpointing in (False, True):
        frontend = Whisper(tiny, freeze="top:1", gradient_checkpointing=checkpointing).eval()
        assert all(block.gradient_checkpointing == checkpointing for block in frontend.encoder.layers)
        frontend.train()
        frontend.encoder.layers[1].dropout = 0.0
        frontend(wave, lengths)[0].square().sum().backward()
        grads.append(frontend.encoder.layers[1].fc1.weight.grad)
    torch.testing.assert_close(grads[0], grads[1])


def test_clips_over_30_seconds_are_refused(frontend):
    with pytest.raises(UserError, match=r"at most 30 s per utterance, got 30.5 s: set data.max_duration"):
        frontend(torch.zeros(1, 488000), torch.tensor([488000]))


def test_a_model_name_missing_offline_is_a_user_error(monkeypatch, tmp_path):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(UserError, match=r"^frontend.model: serlab-tests/no-such-model is not in the local Hugging"):
        Whisper("serlab-tests/no-such-model")
    with pytest.raises(UserError, match="or pass a local folder"):
        Whisper(str(tmp_path / "missing"))
