"""Small randomly initialised encoders saved as a user's local folders, so pretrained frontends run offline.

Real weights, where a test needs them, come from ../shared/models or $SERLAB_MODELS (see MODELS).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

MODELS = Path(os.environ.get("SERLAB_MODELS", Path(__file__).resolve().parents[3] / "shared" / "models"))


def real_model(name: str) -> Path:
    """The folder of real pretrained weights `name` under MODELS; the test is skipped without it."""
    path = MODELS / name
    if not path.exists():
        if os.environ.get("SERLAB_REQUIRE_CORPORA"):
            pytest.fail(f"pretrained weights not found at {path} (set SERLAB_MODELS)")
        pytest.skip(f"pretrained weights not found at {path} (set SERLAB_MODELS)")
    return path


def tiny_whisper(folder: Path) -> Path:
    """A two-block Whisper (d_model 32) with the real input size and positional table, and Whisper's feature
    extractor settings (which the embeddings stream reads), as a model folder."""
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    torch.manual_seed(0)
    config = WhisperConfig(
        vocab_size=64, num_mel_bins=80, d_model=32, encoder_layers=2, encoder_attention_heads=2,
        encoder_ffn_dim=64, decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=64,
        max_source_positions=1500, max_target_positions=16, pad_token_id=0, bos_token_id=1, eos_token_id=2,
        decoder_start_token_id=1,
    )  # fmt: skip
    WhisperModel(config).save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(folder)
    return folder


def random_byol_s(path: Path) -> Path:
    """A randomly initialised BYOL-S state dict (the real architecture) saved at `path`."""
    from serlab.features.byol_s import AudioNTT2020

    torch.manual_seed(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(AudioNTT2020().state_dict(), path)
    return path


def tiny_hf_encoder(folder: Path, model_type: str = "wav2vec2", feat_extract_norm: str = "layer") -> Path:
    """A two-layer wav2vec 2.0-family encoder (hidden size 32, the real convolution strides) as a model folder."""
    from transformers import AutoConfig, AutoModel

    torch.manual_seed(0)
    sizes = {
        "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
        "conv_dim": (16,) * 7, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2,
    }  # fmt: skip
    if model_type != "data2vec-audio":
        sizes["feat_extract_norm"] = feat_extract_norm
        sizes["do_stable_layer_norm"] = feat_extract_norm == "layer"
    AutoModel.from_config(AutoConfig.for_model(model_type, **sizes)).save_pretrained(folder)
    return folder
