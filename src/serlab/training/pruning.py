"""Magnitude pruning: binary masks over the weights, raised to a target sparsity over a schedule, then fine-tuning.

The masks are plain tensors kept by the callback (and in its checkpoint state), not a reparametrisation of the
modules: every pruning step zeroes the masked weights, and the masks are applied again after every optimizer step,
so the weights themselves carry the zeros and every checkpoint, loader and export sees the sparse model as it is.

Prunable are the weight matrices of convolutions, linear layers and recurrent layers (input and hidden matrices)
whose names `include` selects and `exclude` does not; biases and normalisation parameters never are. The output
heads are left dense by default: they hold a small share of the weights, and each of their rows scores one class.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from torch import nn

from serlab.config_check import ConfigError
from serlab.training.weight_averaging import EMAWeights

Scope = Literal["global", "layer"]
Structure = Literal["unstructured", "channels"]
# Modules whose weight matrices may be pruned; recurrent ones name theirs weight_ih_l0, weight_hh_l0_reverse, ...
PRUNABLE_MODULES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.RNNBase)
# A pruned entry's score: below every magnitude, so that what is pruned stays pruned as sparsity rises.
PRUNED = -1.0


def prunable_weights(module: nn.Module, include: Sequence[str], exclude: Sequence[str]) -> dict[str, nn.Parameter]:
    """The weight matrices of `module`'s convolutions, linear and recurrent layers, by full parameter name,
    whose names match a pattern of `include` and none of `exclude` (fnmatch, e.g. `model.head.*`)."""
    chosen = {}
    for prefix, layer in module.named_modules():
        if not isinstance(layer, PRUNABLE_MODULES):
            continue
        for name, param in layer.named_parameters(recurse=False):
            full = f"{prefix}.{name}" if prefix else name
            is_weight = name == "weight" or name.startswith("weight_")
            selected = any(fnmatchcase(full, p) for p in include) and not any(fnmatchcase(full, p) for p in exclude)
            if is_weight and selected:
                chosen[full] = param
    return chosen


def row_scores(weight: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean magnitude of each output row (a convolution's output channel, a linear or recurrent unit's row);
    rows already pruned score PRUNED."""
    rows = weight.detach().abs().flatten(1).mean(dim=1)
    return torch.where(mask.flatten(1).any(dim=1), rows, torch.full_like(rows, PRUNED))


def entry_scores(weight: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The magnitude of each entry, flattened; entries already pruned score PRUNED."""
    return torch.where(mask, weight.detach().abs(), torch.full_like(weight, PRUNED)).flatten()


def lowest(scores: torch.Tensor, sizes: torch.Tensor, fraction: float) -> torch.Tensor:
    """A boolean vector marking the fewest lowest-scoring units whose sizes (weights per unit) add up to at least
    `fraction` of all."""
    # rounded first, so that 0.9 of 1000 weights is 900, not 901 by a float's last digit
    count = math.ceil(round(fraction * float(sizes.sum()), 6))
    order = torch.argsort(scores, stable=True)
    reached = torch.cumsum(sizes[order], dim=0)
    n = min(len(order), int((reached < count).sum()) + (1 if count > 0 else 0))
    marked = torch.zeros(len(scores), dtype=torch.bool, device=scores.device)
    marked[order[:n]] = True
    return marked


def units(weight: torch.Tensor, mask: torch.Tensor, structure: Structure) -> tuple[torch.Tensor, torch.Tensor]:
    """A tensor's pruning units: their scores and their sizes in weights (entries, or whole rows for `channels`)."""
    if structure == "channels":
        scores = row_scores(weight, mask)
        return scores, torch.full_like(scores, weight[0].numel())
    scores = entry_scores(weight, mask)
    return scores, torch.ones_like(scores)


def expand(pruned: torch.Tensor, weight: torch.Tensor, structure: Structure) -> torch.Tensor:
    """A unit-level pruning mark as a keep-mask of `weight`'s shape."""
    if structure == "channels":
        return ~pruned.view(-1, *([1] * (weight.dim() - 1))).expand_as(weight)
    return ~pruned.view_as(weight)


def magnitude_masks(
    weights: dict[str, torch.Tensor],
    masks: dict[str, torch.Tensor],
    sparsity: float,
    scope: Scope,
    structure: Structure,
) -> dict[str, torch.Tensor]:
    """Keep-masks that prune at least `sparsity` of the weights (all of them together for `global`, each tensor
    on its own for `layer`), lowest magnitude first; what `masks` pruned stays pruned. Per layer, one unit of each
    tensor always survives."""
    scored = {name: units(w, masks[name], structure) for name, w in weights.items()}
    if scope == "layer":
        marks = {}
        for name, (scores, sizes) in scored.items():
            marked = lowest(scores, sizes, sparsity)
            if marked.all():
                marked[torch.argmax(scores)] = False
            marks[name] = marked
    else:
        scores, sizes = (torch.cat([unit[i] for unit in scored.values()]) for i in (0, 1))
        marked = lowest(scores, sizes, sparsity)
        marks = dict(zip(scored, marked.split([len(s) for s, _ in scored.values()])))
    return {name: expand(marks[name], w, structure) & masks[name] for name, w in weights.items()}


def zero_fraction(tensors: Sequence[torch.Tensor]) -> float:
    """The fraction of the entries of `tensors` that are zero."""
    total = sum(t.numel() for t in tensors)
    return sum(int((t == 0).sum()) for t in tensors) / max(1, total)


def cubic_sparsity(epoch: int, target: float, start: int, end: int) -> float:
    """The sparsity due at `epoch` on the gradual schedule of Zhu & Gupta (2017): 0 until `start`, `target` from
    `end`, rising between them as target * (1 - (1 - progress)^3), fastest first."""
    if epoch < start:
        return 0.0
    progress = 1.0 if end == start else min(1.0, (epoch - start) / (end - start))
    return target * (1.0 - (1.0 - progress) ** 3)


def restart_model_selection(trainer: L.Trainer) -> None:
    """Forget the best validation score so far, as the weights it was scored on are gone: the best checkpoint is
    chosen again among the epochs to come, and early stopping counts its patience afresh."""
    for checkpoint in trainer.checkpoint_callbacks:
        if isinstance(checkpoint, ModelCheckpoint) and checkpoint.monitor is not None:
            worst = torch.tensor(math.inf if checkpoint.mode == "min" else -math.inf)
            checkpoint.best_k_models = {}
            checkpoint.kth_best_model_path = ""
            checkpoint.kth_value = worst
            checkpoint.best_model_score = None
            checkpoint.best_model_path = ""
    for callback in trainer.callbacks:  # type: ignore[attr-defined]  # declared as a property Lightning fills
        if isinstance(callback, EarlyStopping):
            callback.wait_count = 0
            callback.best_score = torch.tensor(math.inf if callback.monitor_op == torch.lt else -math.inf)


class Pruning(L.Callback):
    """Binary masks over the prunable weights, applied after every optimizer step and kept in checkpoints.

    Subclasses say which sparsity is due at the start of which epoch (`due`) and which epoch prunes last
    (`last_step`). Each pruning step zeroes the weights the masks drop and restarts model selection: the kept
    checkpoint is chosen only among epochs trained with the final masks, and early stopping is held until then.
    """

    def __init__(
        self,
        scope: Scope = "layer",
        structure: Structure = "unstructured",
        include: Sequence[str] = ("model.*",),
        exclude: Sequence[str] = ("model.head.*", "model.tasks.*"),
    ) -> None:
        if scope not in ("global", "layer"):
            raise ConfigError(f"pruning.scope={scope!r}: choose global or layer")
        if structure not in ("unstructured", "channels"):
            raise ConfigError(f"pruning.structure={structure!r}: choose unstructured or channels")
        self.scope: Scope = scope
        self.structure: Structure = structure
        self.include = list(include)
        self.exclude = list(exclude)
        self.weights: dict[str, nn.Parameter] = {}
        # keep-masks by parameter name (True: kept); empty until the first pruning step
        self.masks: dict[str, torch.Tensor] = {}
        # the last epoch whose pruning step was taken, so that a run resumed within that epoch does not repeat it
        self.pruned_epoch = -1

    @property
    def target(self) -> float:
        """The sparsity of the final model."""
        raise NotImplementedError

    @property
    def last_step(self) -> int:
        """The epoch at whose start the last pruning step is taken."""
        raise NotImplementedError

    def due(self, epoch: int) -> float | None:
        """The sparsity to prune to at the start of `epoch`; None when no step is taken then."""
        raise NotImplementedError

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.weights = prunable_weights(pl_module, self.include, self.exclude)
        if not self.weights:
            raise ConfigError(
                f"pruning.include={self.include} (less pruning.exclude={self.exclude}) selects no weight of a "
                "convolution, linear or recurrent layer: name some, e.g. pruning.include='[model.*]'"
            )
        averaging = [c for c in trainer.callbacks if isinstance(c, EMAWeights)]  # type: ignore[attr-defined]
        if averaging:
            raise ConfigError(
                "callbacks.ema: the weight average keeps values of pruned weights, so the tested model would not be "
                "sparse; drop ema from callbacks when pruning"
            )

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # masks restored from a checkpoint are read onto the CPU
        self.masks = {name: mask.to(self.weights[name].device) for name, mask in self.masks.items()}
        self.apply()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch
        sparsity = self.due(epoch)
        if sparsity is not None and sparsity > 0 and epoch > self.pruned_epoch:
            self.prune(sparsity)
            self.pruned(trainer, pl_module)
            self.pruned_epoch = epoch
        if epoch <= self.last_step:
            # the kept checkpoint and early stopping look only at epochs trained with the final masks
            restart_model_selection(trainer)
        pl_module.log("pruning/sparsity", self.sparsity(), on_epoch=True, on_step=False)

    def pruned(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Called right after each pruning step (lottery tickets rewind the weights here)."""

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        self.apply()

    def prune(self, sparsity: float) -> None:
        """Raise the masks to `sparsity` by magnitude and zero the pruned weights."""
        current = {name: self.masks.get(name, torch.ones_like(w, dtype=torch.bool)) for name, w in self.weights.items()}
        self.masks = magnitude_masks(dict(self.weights), current, sparsity, self.scope, self.structure)
        self.apply()

    @torch.no_grad()
    def apply(self) -> None:
        """Zero the weights the masks prune."""
        for name, mask in self.masks.items():
            self.weights[name].mul_(mask)

    def sparsity(self) -> float:
        """The fraction of the prunable weights that are zero now."""
        return zero_fraction([w.detach() for w in self.weights.values()])

    def record(self, module: nn.Module) -> dict[str, Any]:
        """What metrics.json says of the pruning: the method, the target, and the zeros in `module`'s prunable
        weights (all together and per tensor) and in all its parameters."""
        weights = {name: w.detach() for name, w in prunable_weights(module, self.include, self.exclude).items()}
        return {
            "method": f"{type(self).__module__}.{type(self).__qualname__}",
            "scope": self.scope,
            "structure": self.structure,
            "target_sparsity": self.target,
            "sparsity": zero_fraction(list(weights.values())),
            "prunable_weights": sum(w.numel() for w in weights.values()),
            "layers": {name: zero_fraction([w]) for name, w in weights.items()},
            "all_parameters_sparsity": zero_fraction([p.detach() for p in module.parameters()]),
        }

    def state_dict(self) -> dict[str, Any]:
        return {"masks": {name: mask.cpu() for name, mask in self.masks.items()}, "pruned_epoch": self.pruned_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.masks = dict(state_dict["masks"])
        self.pruned_epoch = int(state_dict["pruned_epoch"])


class MagnitudePruning(Pruning):
    """Gradual magnitude pruning (Zhu & Gupta 2017) to `sparsity`, then fine-tuning.

    At the start of epochs `start_epoch`, `start_epoch + every`, ... and `end_epoch`, the masks are raised to the
    sparsity of the cubic schedule (0 at `start_epoch`, `sparsity` at `end_epoch`); the epochs after `end_epoch`
    fine-tune the pruned model, and only they compete for the kept checkpoint. `start_epoch == end_epoch` prunes
    once. `sparsity` is the fraction of the prunable weights that are zero in the end, reached by magnitude over
    all of them (`scope=global`) or in each tensor (`layer`), entry by entry (`structure=unstructured`) or in whole
    output rows by their mean magnitude (`channels`: a convolution's output channels, the units of a linear or
    recurrent weight matrix).
    """

    def __init__(
        self,
        sparsity: float = 0.9,
        start_epoch: int = 2,
        end_epoch: int = 10,
        every: int = 1,
        scope: Scope = "layer",
        structure: Structure = "unstructured",
        include: Sequence[str] = ("model.*",),
        exclude: Sequence[str] = ("model.head.*", "model.tasks.*"),
    ) -> None:
        super().__init__(scope, structure, include, exclude)
        if not 0.0 <= sparsity < 1.0:
            raise ConfigError(f"pruning.sparsity={sparsity}: give the fraction of weights to zero, from 0 below 1")
        if not 0 <= start_epoch <= end_epoch or every < 1:
            raise ConfigError(
                f"pruning: start_epoch={start_epoch}, end_epoch={end_epoch}, every={every}: "
                "need 0 <= start_epoch <= end_epoch and every >= 1"
            )
        self.final = sparsity
        self.start_epoch = start_epoch
        self.end_epoch = end_epoch
        self.every = every

    @property
    def target(self) -> float:
        return self.final

    @property
    def last_step(self) -> int:
        return self.end_epoch

    def due(self, epoch: int) -> float | None:
        on_step = (epoch - self.start_epoch) % self.every == 0 or epoch == self.end_epoch
        if not self.start_epoch <= epoch <= self.end_epoch or not on_step:
            return None
        return cubic_sparsity(epoch, self.final, self.start_epoch, self.end_epoch)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        max_epochs = trainer.max_epochs
        if stage == "fit" and max_epochs is not None and 0 <= max_epochs <= self.end_epoch:
            raise ConfigError(
                f"pruning.end_epoch={self.end_epoch} is not below trainer.max_epochs={max_epochs}: the pruned model "
                "needs epochs to fine-tune; lower pruning.end_epoch or raise trainer.max_epochs"
            )
