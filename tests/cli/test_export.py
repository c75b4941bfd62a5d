"""serlab-export: TorchScript and ONNX programs that match the PyTorch model, an int8 copy, the report."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import torch

from serlab.cli.export import ONNX, Program, TorchScript, export, noise_clip
from serlab.cli.run_data import run_datamodule, training_clips
from serlab.cli.train import train
from serlab.config_check import ConfigError
from serlab.inference import load_recognizer
from serlab.models.rnn import RecurrentEncoder
from serlab.training.build import build_module
from tests.conftest import compose_train
from tests.features.pretrained import tiny_hf_encoder
from tests.options import PRETRAINED, embeddings_overrides, pretrained_run

FORMS = {"pytorch", "torchscript", "onnx", "torchscript_int8"}


def test_recurrent_encoder_skips_packing_only_when_nothing_is_padded():
    torch.manual_seed(0)
    encoder = RecurrentEncoder(6, 8, layers=2, bidirectional=True, cell="gru").eval()
    x = torch.randn(3, 11, 6)
    full = torch.full((3,), 11)
    plain = encoder(x, full)[0]
    encoder.whole_sequences = True
    torch.testing.assert_close(encoder(x, full)[0], plain)
    # A padded row still runs packed: its valid frames match the row scored alone.
    encoder.whole_sequences = False
    padded = encoder(x, torch.tensor([11, 7, 11]))[0]
    torch.testing.assert_close(padded[1, :7], encoder(x[1:2, :7], torch.tensor([7]))[0][0], atol=1e-5, rtol=1e-5)


def test_frame_level_runs_are_refused(tmp_path, data_dir):
    cfg = compose_train(tmp_path, data_dir, "model=blstm", "loss=ctc")
    classes = list(dict.fromkeys(cfg.data.label_map.values()))
    module = build_module(cfg, classes)
    ckpt = tmp_path / "ctc.ckpt"
    torch.save({"state_dict": module.state_dict(), "serlab": {"config": module.run_config, "classes": classes}}, ckpt)
    with pytest.raises(ValueError, match="CTC.*cannot be exported"):
        export(compose_train(tmp_path, data_dir, f"ckpt_path={ckpt}", config_name="export"))


def group_norm_encoder(root: Path) -> list[str]:
    """Attentive pooling on a small wav2vec 2.0 whose convolutions use group norm (it encodes rows one by one).
    The BLSTM keeps its full size: the small encoder's weights are mostly convolutions, which int8 leaves as
    they are, and the int8 copy must have weights enough to be the smaller file."""
    folder = tiny_hf_encoder(root / "wav2vec2", feat_extract_norm="group")
    return ["frontend=hf_encoder", f"frontend.model={folder}", "model=attention"]


# fusion: a model that also reads a vector stream, which its programs take as a second input (reconstruction: and its
# reconstruction error, computed inside); then each pretrained frontend (its small local encoder) under attentive
# pooling, and a linear probe of the Whisper embeddings stream.
# Each gives the overrides of its run, writing what it needs in the folder it is given.
RUNS: dict[str, Callable[[Path], Sequence[str]]] = {
    "crnn": lambda _: ["model=crnn"],
    "blstm": lambda _: ["model=blstm"],
    "fusion": lambda _: ["model=fusion", "data/streams/functionals=egemaps", "model.vector_hidden=8"],
    # the autoencoder's reconstruction error, computed inside the program from the functionals it takes
    "reconstruction": lambda _: [
        "model=fusion", "data/streams/functionals=egemaps", "model.vector_hidden=8", "reconstruction=autoencoder",
        "model.streams=[functionals,reconstruction]", "reconstruction.epochs=10",
    ],
    **{frontend: lambda _, frontend=frontend: pretrained_run(frontend) for frontend in PRETRAINED},
    "hf_encoder_group_norm": group_norm_encoder,
    # with a hidden layer: a lone linear head has too few weights for its int8 copy to be the smaller file
    "embeddings": lambda _: [*embeddings_overrides(), "model.vector_hidden=64"],
}


@pytest.fixture(scope="module", params=list(RUNS))
def exported(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, data_dir: Path
) -> tuple[Path, dict, Path]:
    """A model trained on two batches, exported to every format: (checkpoint, report, export folder)."""
    root = tmp_path_factory.mktemp(request.param)
    limits = ["trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1"]
    train(compose_train(root, data_dir, *RUNS[request.param](root), "debug=limit", *limits, "test=false"))
    ckpt = root / "run" / "checkpoints" / "best.ckpt"
    cfg = compose_train(root / "export", data_dir, f"ckpt_path={ckpt}", "latency_runs=2", config_name="export")
    return ckpt, export(cfg), root / "export" / "run"


@pytest.mark.slow
def test_exports_match_pytorch_on_other_lengths_and_batches(exported):
    ckpt, record, folder = exported
    model = load_recognizer(ckpt)
    program = Program(model)
    rate = model.sample_rate
    # Traced on 3 s clips; checked on other lengths and on a batch of two.
    clips = [noise_clip(0.7, rate), noise_clip(4.2, rate), torch.cat([noise_clip(2.1, rate), -noise_clip(2.1, rate)])]
    programs = {
        "torchscript": TorchScript().load(folder / "model.torchscript.pt", program.input_names),
        "onnx": ONNX().load(folder / "model.onnx", program.input_names),
    }
    assert record["vector_inputs"].keys() == set(model.streams)
    for name, run in programs.items():
        for clip in clips:
            with torch.no_grad():
                expected = model(clip)  # the recognizer computes the streams from the clip itself
            torch.testing.assert_close(
                # the message is built, if at all, within this iteration
                run(*program.inputs(clip)), expected, atol=1e-4, rtol=0, msg=lambda m: f"{name}, {clip.shape}: {m}"  # noqa: B023
            )
    by_form = {e["form"]: e for e in record["entries"]}
    assert by_form["torchscript"]["max_abs_diff"] < 1e-4 and by_form["onnx"]["max_abs_diff"] < 1e-4


def mean_quantised_layer(program: Program) -> float:
    """The mean weight count of the layers the dynamic int8 copy stores in 8 bits (Linear, LSTM and GRU outside
    transformer blocks): each packed layer carries a fixed overhead, which outweighs the saving on tiny layers."""
    layers = dict(program.named_modules())
    blocks = [name for name, layer in layers.items() if isinstance(layer, torch.nn.TransformerEncoderLayer)]
    kinds = (torch.nn.Linear, torch.nn.LSTM, torch.nn.GRU)
    inside = {name for name in layers if any(name.startswith(f"{b}.") for b in blocks)}
    kept = [layer for name, layer in layers.items() if isinstance(layer, kinds) and name not in inside]
    return sum(p.numel() for layer in kept for p in layer.parameters()) / max(len(kept), 1)


@pytest.mark.slow
def test_int8_copy_runs_and_everything_is_reported(exported):
    _, record, folder = exported
    assert record["classes"] == ["neutral", "happy", "angry", "sad"] and record["sample_rate"] == 16000
    assert json.loads((folder / "export.json").read_text()) == record
    by_form = {e["form"]: e for e in record["entries"]}
    assert set(by_form) == FORMS
    for entry in by_form.values():
        assert (folder / entry["file"]).is_file() and entry["size_mb"] > 0 and entry["latency_ms"] > 0
        assert entry["parameters"] == by_form["pytorch"]["parameters"] > 0
    recognizer = load_recognizer(Path(record["checkpoint"]))
    int8 = TorchScript().load(folder / by_form["torchscript_int8"]["file"], Program(recognizer).input_names)
    probs = int8(*Program(recognizer).inputs(noise_clip(1.5, 16000)))
    assert probs.shape == (1, 4) and float(probs.sum()) == pytest.approx(1.0, abs=1e-5)
    # int8 weights: a smaller file whose probabilities stay close to the float model's
    # (file sizes in bytes: the record's megabytes are rounded, which hides the gain on the smallest test models)
    sizes = {form: (folder / by_form[form]["file"]).stat().st_size for form in ("torchscript", "torchscript_int8")}
    if mean_quantised_layer(Program(recognizer)) > 4096:
        assert sizes["torchscript_int8"] < sizes["torchscript"]
    assert by_form["torchscript_int8"]["max_abs_diff"] < 0.05


@pytest.fixture(scope="module")
def quantized(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> tuple[Path, dict, Path]:
    """A CRNN trained (and tested) for a few epochs, exported with every int8 form and scored on its test split:
    (run folder, report, export folder)."""
    root = tmp_path_factory.mktemp("quantized")
    # a learning rate that makes the tiny run predict several classes, so that its test scores tell forms apart
    overrides = ["model=crnn", "trainer.max_epochs=6", "model.hidden=16", "optimizer.lr=0.01"]
    train(compose_train(root, data_dir, *overrides))
    ckpt = root / "run" / "checkpoints" / "best.ckpt"
    cfg = compose_train(
        root / "export", data_dir, f"ckpt_path={ckpt}", "latency_runs=2", "quantize=[dynamic,static,onnx_dynamic]",
        "calibration_clips=6", "evaluate=test", config_name="export",
    )  # fmt: skip
    return root / "run", export(cfg), root / "export" / "run"


def producer_of(graph) -> dict[str, object]:
    """Each tensor name -> the node that computes it."""
    return {output: node for node in graph.node for output in node.output}


@pytest.mark.slow
def test_static_int8_runs_the_convolutions_on_int8_weights_and_stays_close(quantized):
    import onnx

    _, record, folder = quantized
    by_form = {e["form"]: e for e in record["entries"]}
    assert {"torchscript_int8", "onnx_int8_static", "onnx_int8_dynamic"} <= set(by_form)
    graph = onnx.load(str(folder / by_form["onnx_int8_static"]["file"])).graph
    made_by, initializers = producer_of(graph), {t.name: t for t in graph.initializer}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert len(convs) == 3  # one per CRNN block
    for conv in convs:
        # input and weight come through DequantizeLinear; the weight is stored as int8, one scale per channel
        data, weight = (made_by[name] for name in conv.input[:2])
        assert data.op_type == weight.op_type == "DequantizeLinear"
        stored = initializers[weight.input[0]]
        assert stored.data_type == onnx.TensorProto.INT8 and len(initializers[weight.input[1]].dims) == 1
    # the frontend stays float: the STFT's input and the mel filters' product read no dequantised tensor
    frontend = [n for n in graph.node if n.op_type == "STFT" or "recognizer.frontend.filters" in n.input]
    assert len(frontend) == 2
    assert all(made_by.get(name) is None or made_by[name].op_type != "DequantizeLinear"
               for node in frontend for name in node.input)  # fmt: skip
    # on the run's test utterances (clips like those calibrated on) the int8 probabilities stay close to the float
    # ones; the report's noise clips lie partly outside the calibrated ranges, where static int8 clips activations
    checkpoint = Path(record["checkpoint"])
    program = Program(load_recognizer(checkpoint))
    static = ONNX().load(folder / by_form["onnx_int8_static"]["file"], program.input_names)
    data = run_datamodule(checkpoint)
    data.setup("test")
    with torch.no_grad():
        clips = [program.inputs(wave[None]) for wave in data.datasets["test"].waveforms]
        diffs = [float((static(*clip) - program(*clip)).abs().max()) for clip in clips]
    assert 0 < max(diffs) < 0.1 and sum(diffs) / len(diffs) < 0.02
    assert 0 < by_form["onnx_int8_static"]["max_abs_diff"] < 0.5
    for form in ("torchscript_int8", "onnx_int8_dynamic"):
        assert 0 < by_form[form]["max_abs_diff"] < 0.05


@pytest.mark.slow
def test_calibration_and_evaluation_read_the_runs_own_training_and_test_speakers(quantized):
    run, record, _ = quantized
    split = json.loads((run / "split.json").read_text())["speakers"]
    calibration = record["calibration"]
    assert calibration["split"] == "train" and calibration["utterances"] == 6 and calibration["skipped_files"] == 0
    assert set(calibration["speakers"]) <= set(split["train"]) and not set(calibration["speakers"]) & {
        *split["val"], *split["test"]
    }
    assert record["evaluated"]["split"] == "test" and record["evaluated"]["speakers"] == sorted(split["test"])


@pytest.mark.slow
def test_evaluate_reproduces_the_runs_own_test_scores_for_every_float_form(quantized):
    run, record, _ = quantized
    with (run / "predictions.csv").open() as f:
        assert len({row["predicted"] for row in csv.DictReader(f)}) > 1  # the run predicts more than one class
    metrics = json.loads((run / "metrics.json").read_text())["metrics"]
    by_form = {e["form"]: e for e in record["entries"]}
    for form in ("pytorch", "torchscript", "onnx"):
        assert by_form[form]["uar"] == pytest.approx(metrics["test/uar"], abs=1e-6)
        assert by_form[form]["war"] == pytest.approx(metrics["test/war"], abs=1e-6)
    assert all(0 <= e["uar"] <= 1 and 0 <= e["war"] <= 1 for e in record["entries"])


def test_calibration_clips_are_exactly_training_utterances(tmp_path, data_dir):
    limits = ["debug=limit", "trainer.max_epochs=1", "trainer.limit_train_batches=1", "test=false"]
    train(compose_train(tmp_path, data_dir, "model=crnn", "model.hidden=8", *limits))
    data = run_datamodule(tmp_path / "run" / "checkpoints" / "best.ckpt")
    with (tmp_path / "run" / "split.csv").open() as f:
        training = {row["id"] for row in csv.DictReader(f) if row["split"] == "train"}
    assert {r.id for r in training_clips(data, 10_000).rows} == training
    few = training_clips(data, 5)
    assert len(few) == 5 and {r.id for r in few.rows} < training
    assert [r.id for r in training_clips(data, 5).rows] == [r.id for r in few.rows]  # the same draw every time


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["quantize=true"], "quantize: now a list of int8 forms .* quantize=\\[dynamic\\] for the former"),
        (["quantize=[int4]"], "quantize: no entry named \\['int4'\\]; choose among"),
        (["formats=[torchscript]", "quantize=[static]"], "quantize: static quantises the onnx program: add it"),
        (["evaluate=train"], "evaluate: 'train' is no split to score"),
        (["calibration_clips=0"], "calibration_clips: must be >= 1"),
    ],
    ids=["bool", "unknown", "no_onnx", "split", "clips"],
)
def test_int8_options_are_refused_in_one_line(tmp_path, data_dir, overrides, message):
    cfg = compose_train(tmp_path, data_dir, f"ckpt_path={tmp_path / 'none.ckpt'}", *overrides, config_name="export")
    with pytest.raises(ConfigError, match=message) as caught:
        export(cfg)
    assert "\n" not in str(caught.value)
