"""Declared interfaces: a part that lacks a member is refused at build time, naming what it lacks."""

from __future__ import annotations

import pytest
from torch import nn

from serlab.config_check import ConfigError
from serlab.interfaces import Frontend, Loss, Model, VectorStream, check_interface
from serlab.training.build import build_module
from tests.conftest import compose_train


class NoKind(nn.Module):
    """A frontend that forgot to say what its frames are."""

    out_features = 4

    def raw_features(self, waveforms, lengths):
        return waveforms, lengths


class Unpaired(nn.Module):
    """A model class that declares none of the pairing attributes."""

    def __init__(self, n_features: int, n_classes: int) -> None:
        super().__init__()
        self.head = nn.Linear(n_features, n_classes)


def test_a_part_lacking_members_is_refused_naming_them():
    with pytest.raises(ConfigError, match=r"^frontend: NoKind is not a Frontend: it lacks kind, norm \(see serlab"):
        check_interface(NoKind(), Frontend, "frontend")
    with pytest.raises(ConfigError, match=r"^data.streams.x: object is not a VectorStream: it lacks shape, per_spea"):
        check_interface(object(), VectorStream, "data.streams.x")


def test_shipped_parts_keep_their_interfaces(tmp_path, data_dir):
    module = build_module(compose_train(tmp_path, data_dir), ["a", "b"])
    for part, interface in ((module.frontend, Frontend), (module.model, Model), (module.loss, Loss)):
        check_interface(part, interface, "x")


def test_a_model_class_that_declares_no_pairing_is_refused_before_it_is_built(tmp_path, data_dir):
    cfg = compose_train(tmp_path, data_dir, f"model._target_={__name__}.Unpaired")
    with pytest.raises(ConfigError, match=r"^model: Unpaired does not declare accepts, frame_scores"):
        build_module(cfg, ["a", "b"])
