"""Training randomness as a function of (seed, epoch), carried through checkpoints."""

from __future__ import annotations

import random
from typing import Any

import lightning as L
import numpy as np
import torch


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """A well-mixed 32-bit seed for one training epoch of one process."""
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1)[0])


def seed_all(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (CPU and every GPU)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """The global generators' states, as tensors and plain values that a weights-only load accepts."""
    _, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    return {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": pos,
            "has_gauss": has_gauss,
            "gauss": gauss,
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the global generators from `rng_state()`."""
    numpy = state["numpy"]
    keys = numpy["keys"].numpy().astype(np.uint32)
    random.setstate(state["python"])
    np.random.set_state(("MT19937", keys, numpy["pos"], numpy["has_gauss"], numpy["gauss"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class EpochSeeding(L.Callback):
    """Makes each epoch's dropout, noise, masks and mixing a function of (seed, epoch).

    The first batch of every epoch reseeds the global generators, so a run resumed from an
    end-of-epoch checkpoint draws what the uninterrupted run drew. (Reseeding at the batch rather
    than at the epoch start keeps the draw of a new loader iterator, which a resumed run makes
    earlier, out of the stream.) A checkpoint saved mid-epoch (on SIGTERM) stores the generator
    states, put back before the next batch. `seed=None` leaves the generators alone.
    """

    def __init__(self, seed: int | None) -> None:
        self.seed = seed
        self.pending: dict[str, Any] | None = None

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if batch_idx == 0:
            if self.seed is not None:
                seed_all(epoch_seed(self.seed, trainer.current_epoch, trainer.global_rank))
        elif self.pending is not None:
            set_rng_state(self.pending)
        self.pending = None

    def state_dict(self) -> dict[str, Any]:
        return {"rng": rng_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.pending = state_dict["rng"]
