"""wav2vec 2.0-family encoders as a frontend: every layer, frame counts from the model, padding-free."""

import huggingface_hub
import pytest
import torch

from serlab.errors import UserError
from serlab.features.hf_encoder import HFEncoder, standardize
from tests.features.pretrained import tiny_hf_encoder
from tests.features.test_frontends import assert_padding_free

# (model type, convolution norm, whether a padded batch is encoded at once with an attention mask)
KINDS = [
    ("wav2vec2", "layer", True),
    ("wav2vec2", "group", False),
    ("hubert", "layer", True),
    ("wavlm", "layer", True),
    ("wavlm", "group", False),
    ("data2vec-audio", "layer", False),
]


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[tuple[str, str], str]:
    root = tmp_path_factory.mktemp("encoders")
    return {(kind, norm): str(tiny_hf_encoder(root / f"{kind}-{norm}", kind, norm)) for kind, norm, _ in KINDS}


@pytest.mark.parametrize(("kind", "norm", "masked"), KINDS)
def test_every_layer_with_the_models_frame_counts_and_no_padding_effect(folders, kind, norm, masked):
    frontend = HFEncoder(folders[kind, norm]).eval()
    assert frontend.masked == masked and frontend.out_features == 32
    lengths = torch.tensor([16000, 9000, 300])
    hidden, frames = frontend.hidden_states(torch.randn(3, 16000), lengths)
    # 20 ms frames; an utterance shorter than one frame's 400 samples still gets one
    assert hidden.shape == (3, 3, 49, 32) and frames.tolist() == [49, 27, 1]
    assert frames[:2].tolist() == frontend.encoder._get_feat_extract_output_lengths(lengths[:2]).tolist()
    assert_padding_free(frontend)


def test_a_chosen_layer_is_the_models_hidden_state(folders):
    folder = folders["wav2vec2", "layer"]
    wave, lengths = torch.randn(1, 8000), torch.tensor([8000])
    frontend = HFEncoder(folder, layer=1).eval()
    feats, frames = frontend(wave, lengths)
    with torch.no_grad():
        states = frontend.encoder(standardize(wave, lengths), output_hidden_states=True).hidden_states
    assert len(states) == 3 and frames.tolist() == [24]
    torch.testing.assert_close(feats, states[1].transpose(1, 2))
    assert list(frontend.mix.parameters()) == []
    assert HFEncoder(folder).mix.weights.tolist() == pytest.approx([1 / 3] * 3)


def test_freezing_the_top_layers(folders):
    frontend = HFEncoder(folders["wavlm", "group"], freeze="top:1", encoder_lr=1e-5)
    trainable = {n for n, p in frontend.named_parameters() if p.requires_grad}
    assert "mix.scores" in trainable and len(trainable) > 1
    assert all(n == "mix.scores" or n.startswith("encoder.encoder.layers.1.") for n in trainable)
    assert [g.get("lr") for g in frontend.parameter_groups()] == [None, 1e-5]
    # frozen parts, the convolutions' group norm among them, stay in eval mode while the frontend trains
    frontend.train()
    assert not frontend.encoder.feature_extractor.training and frontend.encoder.encoder.layers[1].training


def test_gradient_checkpointing_reaches_the_layers(folders):
    frontend = HFEncoder(folders["wav2vec2", "layer"], freeze="top:1", gradient_checkpointing=True)
    assert all(layer.gradient_checkpointing for layer in frontend.encoder.encoder.layers)
    frontend(torch.randn(2, 8000), torch.tensor([8000, 6000]))[0].sum().backward()
    assert frontend.encoder.encoder.layers[1].feed_forward.output_dense.weight.grad is not None


def test_a_model_name_missing_offline_is_a_user_error(monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(UserError, match=r"^frontend.model: serlab-tests/no-such-encoder is not in the local Hugging"):
        HFEncoder("serlab-tests/no-such-encoder")
