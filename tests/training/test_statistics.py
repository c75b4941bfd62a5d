"""StreamStatistics: every input stream's statistics come from the training split, once, and travel in checkpoints."""

from __future__ import annotations

import torch
from lightning import Trainer

from serlab.training.build import build_datamodule, build_module
from tests.conftest import compose_train
from tests.options import small

FUSION = ["model=fusion", "data/streams/functionals=egemaps", *small("fusion")]


def test_statistics_of_every_stream_come_from_the_training_split_and_survive_a_checkpoint(tmp_path, data_dir):
    cfg = compose_train(tmp_path, data_dir, *FUSION, "frontend.normalize=global", "loss.class_weights=balanced")
    datamodule = build_datamodule(cfg)
    module = build_module(cfg, datamodule.classes)
    norm = module.vector_norms["functionals"]
    assert norm.needs_statistics and module.frontend.norm.needs_statistics
    trainer = Trainer(max_steps=1, limit_val_batches=0, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    trainer.fit(module, datamodule=datamodule)

    train = datamodule.datasets["train"]
    functionals = train.vectors["functionals"].flatten(0, 1)
    torch.testing.assert_close(norm.mean, functionals.mean(0))
    torch.testing.assert_close(norm.std, torch.where(functionals.std(0) > 1e-8, functionals.std(0), 1.0))
    frames = sum(int(module.frontend.frame_lengths(torch.tensor([len(w)]))) for w in train.waveforms)
    assert int(module.frontend.norm.count) == frames  # every training frame, and no other
    counts = torch.bincount(torch.tensor(train.targets), minlength=len(datamodule.classes)).float()
    torch.testing.assert_close(module.loss.weight, counts.sum() / (len(counts) * counts))

    trainer.save_checkpoint(tmp_path / "a.ckpt")
    restored = build_module(cfg, datamodule.classes)
    restored.load_state_dict(torch.load(tmp_path / "a.ckpt", weights_only=False)["state_dict"])
    assert not restored.vector_norms["functionals"].needs_statistics and not restored.frontend.norm.needs_statistics
    torch.testing.assert_close(restored.vector_norms["functionals"].std, norm.std)


RECONSTRUCTION = [
    "model=vector_head",
    "data/streams/functionals=egemaps",
    "reconstruction=autoencoder",
    "model.streams=[functionals,reconstruction]",
    "reconstruction.epochs=5",
]


def test_the_autoencoder_learns_the_training_split_alone_and_survives_a_checkpoint(tmp_path, data_dir):
    cfg = compose_train(tmp_path, data_dir, *RECONSTRUCTION)
    datamodule = build_datamodule(cfg)
    module = build_module(cfg, datamodule.classes)
    autoencoder = module.reconstruction
    assert autoencoder is not None and autoencoder.needs_statistics
    trainer = Trainer(max_steps=1, limit_val_batches=0, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    trainer.fit(module, datamodule=datamodule)
    assert not autoencoder.needs_statistics

    # the same autoencoder, fitted on the standardised training values by hand, has the same weights
    datamodule.setup("test")
    sides = {side: datamodule.datasets[side].vectors["functionals"].flatten(0, 1) for side in ("train", "val", "test")}
    norm = module.vector_norms["functionals"]
    alone, with_others = build_module(cfg, datamodule.classes).reconstruction, build_module(cfg, datamodule.classes)
    with torch.no_grad():
        alone.fit({"functionals": norm(sides["train"])})
        with_others.reconstruction.fit({"functionals": norm(torch.cat(list(sides.values())))})
    for name, tensor in autoencoder.state_dict().items():
        torch.testing.assert_close(tensor, alone.state_dict()[name], msg=name)
    assert not torch.equal(autoencoder.decoder.weight, with_others.reconstruction.decoder.weight)
    with torch.no_grad():
        errors = (norm(sides["train"]) - autoencoder(norm(sides["train"]))).square().mean(-1)
    torch.testing.assert_close(autoencoder.reference, errors.median())

    trainer.save_checkpoint(tmp_path / "a.ckpt")
    restored = build_module(cfg, datamodule.classes)
    restored.load_state_dict(torch.load(tmp_path / "a.ckpt", weights_only=False)["state_dict"])
    assert restored.reconstruction is not None and not restored.reconstruction.needs_statistics
    vectors = {"functionals": sides["test"]}
    with torch.no_grad():
        torch.testing.assert_close(
            restored.standardized(vectors)["reconstruction"], module.standardized(vectors)["reconstruction"]
        )
