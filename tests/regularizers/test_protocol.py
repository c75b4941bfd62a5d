"""Regularizers declare where they act; a list the training step cannot honour is refused when the module is built."""

from pathlib import Path

import pytest
from hydra.utils import instantiate

from serlab.config_check import ConfigError
from serlab.configs import CONFIG_DIR
from serlab.regularizers.mixup import Mixup
from serlab.regularizers.noise import AdditiveNoise
from serlab.regularizers.protocol import PLACES, BatchMixer, FeatureAugment, Regularizers, WaveformAugment
from serlab.regularizers.specaugment import SpecAugment
from serlab.training.build import build_module
from tests.conftest import compose_train

OPTIONS = sorted(p.stem for p in (Path(CONFIG_DIR) / "regularizer").glob("*.yaml"))
SMALL_CRNN = ["model.channels=[4,8]", "model.pools=[[2,2],[2,2]]", "model.hidden=16"]


@pytest.mark.parametrize("option", OPTIONS)
def test_every_regularizer_option_implements_a_place(tmp_path, data_dir, option):
    cfg = compose_train(tmp_path, data_dir, f"regularizer=[{option}]")
    (node,) = cfg.regularizer.values()
    assert isinstance(instantiate(node), PLACES)


def test_regularizers_are_sorted_by_place_in_list_order():
    noise, masks, mixup = AdditiveNoise(), SpecAugment(), Mixup()
    chosen = Regularizers.sort({"specaugment": masks, "noise": noise, "mixup": mixup})
    assert chosen.waveform == (noise,) and chosen.features == (masks,) and chosen.mixer is mixup
    assert isinstance(mixup, BatchMixer) and not isinstance(mixup, (WaveformAugment, FeatureAugment))


def test_a_second_batch_mixer_is_refused_at_build_time_in_one_line(tmp_path, data_dir):
    blend = "+regularizer.blend={_target_: serlab.regularizers.mixup.Mixup, alpha: 0.4}"
    cfg = compose_train(tmp_path, data_dir, *SMALL_CRNN, "regularizer=[dropout,mixup]", blend)
    with pytest.raises(ConfigError, match=r"^regularizer: mixup and blend both mix batches.*keep one of them$"):
        build_module(cfg, ["a", "b"])


def test_an_object_that_acts_nowhere_is_refused(tmp_path, data_dir):
    cfg = compose_train(tmp_path, data_dir, *SMALL_CRNN, "+regularizer.clip._target_=torch.nn.Identity")
    refused = r"^regularizer\.clip: Identity is not a regularizer; its class must implement"
    with pytest.raises(ConfigError, match=refused):
        build_module(cfg, ["a", "b"])
