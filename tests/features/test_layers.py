"""What every pretrained frontend shares: layer mixing, freezing and the encoder's learning rate."""

import pytest
import torch
from torch import nn

from serlab.errors import UserError
from serlab.features.layers import LayerMix, PretrainedFrontend, load_pretrained
from serlab.features.normalize import FeatureNorm


class Toy(PretrainedFrontend):
    """A stand-in encoder: an input projection, three blocks with dropout, each block's output one layer."""

    def __init__(self, **policy) -> None:
        blocks = nn.ModuleList(nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5)) for _ in range(3))
        encoder = nn.ModuleDict({"embed": nn.Linear(1, 4), "blocks": blocks})
        policy = {"layer": None, "freeze": "all", "encoder_lr": None, "norm": FeatureNorm(4), **policy}
        super().__init__(encoder, list(blocks), layers=4, out_features=4, **policy)

    def hidden_states(self, waveforms, lengths):
        x = self.encoder["embed"](waveforms.unsqueeze(-1))
        states = [x]
        for block in self.encoder["blocks"]:
            states.append(block(states[-1]))
        return torch.stack(states), lengths


BLOCKS = [{f"encoder.blocks.{i}.0.{p}" for p in ("weight", "bias")} for i in range(3)]


def trainable(frontend: PretrainedFrontend) -> set[str]:
    return {name for name, p in frontend.named_parameters() if p.requires_grad}


def test_mixing_weights_start_equal_and_sum_to_one():
    mix = LayerMix(5)
    assert torch.allclose(mix.weights, torch.full((5,), 0.2)) and mix.weights.sum().item() == pytest.approx(1.0)
    hidden = torch.randn(5, 2, 7, 3)
    torch.testing.assert_close(mix(hidden), hidden.mean(0).transpose(1, 2))
    with torch.no_grad():
        mix.scores.copy_(torch.tensor([0.0, 3.0, -1.0, 0.5, 2.0]))
    assert mix.weights.sum().item() == pytest.approx(1.0)
    torch.testing.assert_close(mix(hidden), torch.einsum("l,lbtd->bdt", mix.weights, hidden))


@pytest.mark.parametrize("layer", [0, 2, -1, -5])
def test_a_chosen_layer_is_that_hidden_state(layer):
    hidden = torch.randn(5, 2, 7, 3)
    mix = LayerMix(5, layer)
    assert list(mix.parameters()) == []
    assert torch.equal(mix(hidden), hidden[layer].transpose(1, 2))
    assert mix.weights[layer] == 1 and mix.weights.sum() == 1


@pytest.mark.parametrize("layer", [5, -6])
def test_a_layer_past_the_encoder_is_refused(layer):
    with pytest.raises(ValueError, match=r"frontend.layer .*\[-5, 4\]"):
        LayerMix(5, layer)


@pytest.mark.parametrize(
    ("freeze", "encoder_params"),
    [
        ("all", set()),
        ("top:1", BLOCKS[2]),
        ("top:2", BLOCKS[1] | BLOCKS[2]),
        ("none", {"encoder.embed.weight", "encoder.embed.bias"}.union(*BLOCKS)),
    ],
)
def test_freezing_chooses_which_encoder_parameters_train(freeze, encoder_params):
    frontend = Toy(freeze=freeze)
    assert trainable(frontend) == {"mix.scores"} | encoder_params
    # frozen blocks keep eval mode (no dropout) when the frontend trains; trainable ones follow it
    frontend.train()
    modes = [block.training for block in frontend.encoder["blocks"]]
    assert modes == [f"encoder.blocks.{i}.0.weight" in encoder_params for i in range(3)]
    frontend.eval()
    assert not any(m.training for m in frontend.modules())


def test_a_frozen_encoder_keeps_no_graph_but_the_mix_learns():
    frontend = Toy(freeze="all")
    feats, _ = frontend(torch.randn(2, 6), torch.tensor([6, 4]))
    feats.sum().backward()
    assert frontend.mix.scores.grad is not None
    assert all(p.grad is None for p in frontend.encoder.parameters())


def test_the_encoder_has_its_own_learning_rate():
    frontend = Toy(freeze="top:1", encoder_lr=1e-5)
    groups = frontend.parameter_groups()
    assert [g.get("lr") for g in groups] == [None, 1e-5]
    assert [p is frontend.mix.scores for p in groups[0]["params"]] == [True]
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in frontend.encoder["blocks"][2].parameters()}
    assert [g.get("lr") for g in Toy(freeze="none").parameter_groups()] == [None, None]
    # frozen and with one chosen layer, nothing trains
    assert Toy(layer=-1).parameter_groups() == []


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"freeze": "top:0"}, "frontend.freeze"),
        ({"freeze": "top:4"}, r"frontend.freeze .*1 <= k <= 3"),
        ({"freeze": "some"}, "frontend.freeze"),
        ({"freeze": "all", "encoder_lr": 1e-5}, "frontend.encoder_lr"),
        ({"freeze": "none", "encoder_lr": -1.0}, "frontend.encoder_lr"),
    ],
)
def test_bad_policies_are_refused_in_one_line(policy, message):
    with pytest.raises(ValueError, match=message) as err:
        Toy(**policy)
    assert "\n" not in str(err.value)


def test_a_model_that_cannot_be_found_is_a_user_error():
    def missing(name):
        raise OSError(f"{name} not found")

    with pytest.raises(UserError, match=r"^frontend.model: org/nothing is not in the local Hugging Face cache"):
        load_pretrained(missing, "org/nothing")
