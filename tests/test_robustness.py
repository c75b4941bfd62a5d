"""Degraded test conditions: exact SNRs, seeded packet loss, and serlab-eval's robustness table."""

import csv
import json

import pytest
import torch

from serlab.cli.eval import evaluate
from serlab.cli.train import train
from serlab.robustness import NoiseAtSNR, PacketLoss, conditions
from tests.conftest import compose_train


def utterances() -> list[tuple[torch.Tensor, str]]:
    """Two decoded utterances of different lengths and levels, with their ids."""
    return [(torch.sin(torch.arange(16000) * 0.05), "a"), (0.1 * torch.sin(torch.arange(8000) * 0.2), "b")]


@pytest.mark.parametrize("snr", [20.0, 0.0, -5.0])
def test_noise_reaches_the_asked_snr_and_is_the_same_every_time(snr):
    for wave, uid in utterances():
        noisy = NoiseAtSNR(snr)(wave, uid)
        assert noisy.shape == wave.shape
        measured = 10 * torch.log10(wave.pow(2).mean() / (noisy - wave).pow(2).mean())
        assert measured.item() == pytest.approx(snr, abs=0.01)
        torch.testing.assert_close(NoiseAtSNR(snr)(wave, uid), noisy)
        assert not torch.equal(NoiseAtSNR(snr, seed=1)(wave, uid), noisy)
        assert not torch.equal(NoiseAtSNR(snr)(wave, uid + "x"), noisy)


def test_packet_loss_zeroes_whole_packets_at_about_the_rate():
    wave = torch.ones(160000)
    lost = PacketLoss(0.3, packet_ms=20)(wave, "a")
    packets = lost.view(-1, 320)
    assert set(packets.mean(dim=1).tolist()) <= {0.0, 1.0}
    assert (packets.mean(dim=1) == 0).float().mean().item() == pytest.approx(0.3, abs=0.05)
    torch.testing.assert_close(PacketLoss(0.3)(wave, "a"), lost)
    assert len(PacketLoss(0.3)(torch.ones(1000), "b")) == 1000
    with pytest.raises(ValueError, match="robustness.packet_loss"):
        conditions(packet_loss=[1.5])


@pytest.mark.parametrize(
    "model", [[], ["model=fusion", "data/streams/functionals=egemaps", "model.vector_hidden=8"]], ids=["crnn", "fusion"]
)
def test_serlab_eval_tabulates_each_condition(tmp_path, data_dir, model):
    train(compose_train(tmp_path / "a", data_dir, "debug=fdr", *model))
    ckpt = next((tmp_path / "a" / "run" / "checkpoints").glob("*.ckpt"))
    cfg = compose_train(tmp_path / "b", data_dir, f"ckpt_path={ckpt}", "robustness.snr_db=[0]",
                        "robustness.packet_loss=[0.5]", config_name="eval")  # fmt: skip
    metrics = evaluate(cfg)
    run = tmp_path / "b" / "run"
    with open(run / "robustness.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["condition"] for r in rows] == ["clean", "noise 0 dB", "packet loss 50%"]
    assert float(rows[0]["uar"]) == pytest.approx(metrics["test/uar"])
    assert json.loads((run / "metrics.json").read_text())["metrics"]["test/uar"] == pytest.approx(metrics["test/uar"])
    assert (run / "robustness.png").stat().st_size > 0
