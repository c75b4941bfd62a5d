"""Speed perturbation: faster copies are shorter and higher, each epoch serves one version, functionals follow it."""

import math

import pytest
import torch
from hydra.utils import instantiate

from serlab.data.corpora.synthetic import SyntheticCorpus
from serlab.data.datamodule import SERDataModule
from serlab.data.perturb import SpeedPerturbation
from serlab.data.samplers import Draw
from serlab.data.splits import SpeakerFolds
from tests.conftest import TINY, compose_train


def peak_hz(wave: torch.Tensor, rate: int = 16000) -> float:
    spectrum = torch.fft.rfft(wave * torch.hann_window(len(wave))).abs()
    return float(spectrum.argmax()) * rate / len(wave)


def test_a_faster_copy_is_shorter_and_higher_pitched():
    tone = torch.sin(2 * torch.pi * 200 * torch.arange(16000) / 16000)
    slower, faster = SpeedPerturbation([0.8, 1.25])(tone, 16000)
    assert len(slower) == 20000 and len(faster) == 12800
    assert peak_hz(slower) == pytest.approx(160, abs=1.5) and peak_hz(faster) == pytest.approx(250, abs=1.5)


@pytest.mark.parametrize("factors", [[], [1.0], [0.3], [0.9, 0.9]])
def test_bad_factors_name_the_key(factors):
    with pytest.raises(ValueError, match="data.perturb.factors"):
        SpeedPerturbation(factors)


class Lengths:
    """A stand-in for openSMILE whose one 'functional' is the waveform's length, to see which copy was served."""

    shape = (1,)
    per_speaker = False

    def __call__(self, waveforms, sample_rate, speakers):
        return torch.tensor([[float(len(w))] for w in waveforms])


def test_training_serves_one_version_per_draw_with_its_own_functionals(data_dir):
    corpus = SyntheticCorpus(data_dir / "synthetic", **TINY)
    label_map = {e: e for e in ("neutral", "happy", "angry", "sad")}
    dm = SERDataModule(corpus, label_map, SpeakerFolds(n_folds=5, n_val_speakers=1), batch_size=4,
                       streams={"functionals": Lengths()}, perturb=SpeedPerturbation([0.8, 1.25]))  # fmt: skip
    dm.setup()
    train = dm.datasets["train"]
    assert len(train.versions) == 3 and train.vectors["functionals"].shape == (3, len(train), 1)
    assert len(dm.datasets["val"].versions) == len(dm.datasets["test"].versions) == 1
    original = len(train.waveforms[0])
    served = {}
    for seed in range(40):
        example = train[Draw(0, seed)]
        assert example.vectors["functionals"].item() == len(example.waveform)
        assert train[Draw(0, seed)].waveform.equal(example.waveform)  # a draw fixes the version
        served[len(example.waveform)] = seed
    assert sorted(served) == [math.ceil(original / 1.25), original, math.ceil(original / 0.8)]
    val = dm.datasets["val"]
    assert all(len(val[i].waveform) == len(val.waveforms[i]) for i in range(len(val)))
    # serving validation utterances (one version, no crop) draws nothing from torch's generator, so it cannot
    # shift the training randomness that follows it
    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    _ = [val[i] for i in range(len(val))]
    assert torch.rand(1).equal(expected)


def test_the_option_composes_and_reaches_the_datamodule(tmp_path, data_dir):
    cfg = compose_train(tmp_path, data_dir, "data/perturb=speed")
    assert instantiate(cfg.data).perturb.factors == [0.9, 1.1]
    assert "perturb" not in compose_train(tmp_path, data_dir).data
