"""What every pretrained frontend shares: layer mixing, freezing and the encoder's learning rate."""

import pytest
import torch
from torch import nn

from serlab.cli.train import train
from serlab.errors import UserError
from serlab.features.layers import LayerMix, PretrainedFrontend, load_pretrained
from serlab.features.normalize import FeatureNorm
from tests.conftest import compose_train
from tests.features.pretrained import tiny_hf_encoder
from tests.options import small


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
        ({"freeze": "all", "warmup_epochs": 1}, r"frontend.warmup_epochs .*needs frontend.freeze other than 'all'"),
        ({"freeze": "none", "warmup_epochs": -1}, "frontend.warmup_epochs must be 0 or more"),
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


def test_a_warm_up_holds_the_encoder_frozen_for_its_first_epochs():
    frontend = Toy(freeze="top:1", warmup_epochs=2)
    top = frontend.encoder["blocks"][2]
    # in the optimizer's groups from the start, so that its state stays consistent when the warm-up ends
    assert {id(p) for p in frontend.parameter_groups()[1]["params"]} == {id(p) for p in top.parameters()}
    for epoch, warming_up in [(0, True), (1, True), (2, False), (3, False)]:
        frontend.start_epoch(epoch)
        frontend.train()
        frontend.zero_grad()
        feats, _ = frontend(torch.randn(2, 6), torch.tensor([6, 4]))
        feats.sum().backward()
        assert frontend.mix.scores.grad is not None
        assert (top[0].weight.grad is None) == warming_up and top.training != warming_up
        assert not any(block.training for block in frontend.encoder["blocks"][:2])


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory):
    return tiny_hf_encoder(tmp_path_factory.mktemp("encoders") / "wav2vec2")


@pytest.mark.slow
def test_the_warm_up_continues_in_a_resumed_run_and_then_the_encoder_trains(tmp_path, data_dir, tiny_encoder):
    from transformers import AutoModel

    start = {name: p.detach() for name, p in AutoModel.from_pretrained(tiny_encoder).named_parameters()}
    frontend = [f"frontend.model={tiny_encoder}", "frontend.freeze=top:1", "frontend.warmup_epochs=2"]
    run = ["frontend=hf_encoder", *frontend, *small("crnn"), "debug=limit", "test=false", "ckpt_path=last"]
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    top = [name for name in start if name.startswith("encoder.layers.1.")]
    moved = []
    for epochs in (1, 2, 3):  # epochs 0 and 1 warm up, the second in a resumed run; epoch 2 trains the top layer
        train(compose_train(tmp_path, data_dir, *run, f"trainer.max_epochs={epochs}"))
        checkpoint = torch.load(last, map_location="cpu", weights_only=True)
        weights = {name.removeprefix("frontend.encoder."): w for name, w in checkpoint["state_dict"].items()}
        moved.append([name for name in top if not torch.equal(weights[name], start[name])])
        assert checkpoint["state_dict"]["frontend.mix.scores"].any()  # the layer mix learns from the first epoch
        # the top layer's group is in the optimizer from the first epoch on
        groups = checkpoint["optimizer_states"][0]["param_groups"]
        assert len(groups[1]["params"]) == len(top)
    assert moved[:2] == [[], []] and moved[2] == top
