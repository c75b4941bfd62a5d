"""Autoencoder adaptation: masking noise, and a decoder whose error on both domains is the term."""

import pytest
import torch
from torch import nn

from serlab.adaptation.autoencoder import AutoencoderAdaptation
from serlab.adaptation.protocol import Domain, input_summary, input_summary_size


def test_masking_noise_zeroes_about_its_share_of_entries_and_leaves_the_rest():
    torch.manual_seed(0)
    ae = AutoencoderAdaptation(embedding_size=4, input_size=8, noise=0.25)
    values = torch.rand(200, 50) + 1.0
    corrupted = ae.corrupt({"embeddings": values})["embeddings"]
    zeroed = corrupted == 0
    assert 0.22 < zeroed.float().mean().item() < 0.28
    assert torch.equal(corrupted[~zeroed], values[~zeroed])


def test_the_term_is_the_reconstruction_error_of_both_domains_clean_inputs():
    torch.manual_seed(0)
    ae = AutoencoderAdaptation(embedding_size=3, input_size=5, hidden=4, weight=2.0)
    code_s, code_t, clean_s, clean_t = torch.randn(4, 3), torch.randn(6, 3), torch.randn(4, 5), torch.randn(6, 5)
    source = Domain(code_s, torch.zeros(4, 2), clean_s, ["s"] * 4)
    target = Domain(code_t, torch.zeros(6, 2), clean_t, ["t"] * 6)
    expected = 2.0 * nn.functional.mse_loss(ae.decoder(torch.cat([code_s, code_t])), torch.cat([clean_s, clean_t]))
    assert ae(source, target, progress=0.3).item() == pytest.approx(expected.item(), rel=1e-6)


def test_the_input_summary_is_the_streams_a_model_reads_or_its_mean_frame():
    features = torch.arange(12.0).view(1, 2, 6)  # 2 features, 6 frames, 3 of them real
    vectors = {"a": torch.ones(1, 2, 3), "b": torch.zeros(1, 4)}
    assert input_summary(features, torch.tensor([3]), vectors, ("a", "b")).shape == (1, 10)
    assert torch.equal(input_summary(features, torch.tensor([3]), vectors, ()), torch.tensor([[1.0, 7.0]]))
    assert input_summary_size(40, {"a": (2, 3), "b": (4,)}, ("a", "b")) == 10
    assert input_summary_size(40, {"a": (2, 3)}, ()) == 40
