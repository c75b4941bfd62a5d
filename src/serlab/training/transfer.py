"""Starting a run from another run's weights (`init_from`) and holding parameters fixed (`freeze`).

`init_from` names a serlab-train run folder (its best checkpoint) or a checkpoint file. Every tensor of the new
module's state dict that `init_from_include` / `init_from_exclude` select is copied from it, except:

- tensors the checkpoint lacks or holds in another shape stay as built;
- the output heads (the tensors whose shape follows the number of classes) stay as built whenever the
  checkpoint's classes differ from this run's, in names or in order, even when their number matches: a row of
  the head scores one class, and rows of other classes would only pretend to know them;
- the normalisers' statistics (frontend norm, vector streams) and the reconstruction autoencoder stay empty and
  are gathered (fitted) on this run's training split before fitting, as in any run, unless
  `init_from_keep_statistics=true`.

A resumed run (`ckpt_path`) has its weights in its own checkpoint: it is only accepted when that checkpoint's
run started from the same `init_from`, and nothing is loaded again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig

from serlab.config_check import ConfigError
from serlab.features.normalize import FeatureNorm, SpeakerNorm, VectorNorm
from serlab.features.reconstruction import Autoencoder
from serlab.training.build import class_dependent
from serlab.training.checkpointing import CheckpointError, checkpoint_in, load_run, saved_record
from serlab.training.module import SERModule

log = logging.getLogger(__name__)

# How many names of freshly initialised tensors the log line shows.
SHOWN = 4
# The parts fitted on each run's own training split: their tensors count as statistics.
FITTED = (FeatureNorm, VectorNorm, Autoencoder)
# The keys that refine `init_from`; each needs it.
INIT_FROM_OPTIONS = ("init_from_include", "init_from_exclude", "init_from_keep_statistics")


def patterns(cfg: DictConfig, key: str) -> list[str]:
    """The glob patterns under config `key`: a list of strings, or one string as a list of one."""
    value = cfg.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, ListConfig) and all(isinstance(item, str) for item in value):
        return [str(item) for item in value]
    raise ConfigError(f"{key}={value!r}: expected a list of name patterns, e.g. {key}='[model.head.*]'")


def prefixes(names: Iterable[str]) -> str:
    """The first two levels of `names` (e.g. `frontend.norm, model.encoder, model.head`), to show what exists."""
    return ", ".join(dict.fromkeys(".".join(name.split(".")[:2]) for name in names))


def matching(key: str, globs: Sequence[str], names: Sequence[str], what: str) -> set[str]:
    """The `names` any of `globs` matches (fnmatch style: `*` also crosses dots); a glob matching none is refused
    naming the config `key`."""
    for glob in globs:
        if not any(fnmatchcase(name, glob) for name in names):
            raise ConfigError(
                f"{key}: {glob!r} matches no {what} of this run's module; its {what}s start with {prefixes(names)}"
            )
    return {name for name in names if any(fnmatchcase(name, glob) for glob in globs)}


def statistics(module: SERModule) -> set[str]:
    """The state-dict names of the normalisers' gathered statistics (frame stream and vector streams) and of the
    reconstruction autoencoder."""
    return {
        f"{prefix}.{name}"
        for prefix, part in module.named_modules()
        if isinstance(part, FITTED)
        for name in part.state_dict()
    }


def unfilled(module: SERModule) -> bool:
    """Whether a normaliser or the autoencoder of the module still waits for its statistics."""
    return any(isinstance(part, FITTED) and part.needs_statistics for part in module.modules())


def source_checkpoint(source: str) -> Path:
    """The checkpoint `init_from` names: a file, or a run folder's best checkpoint (its last when it has none)."""
    path = Path(source).expanduser().resolve()
    if not path.exists():
        raise CheckpointError(
            f"init_from: no run folder or checkpoint at {path}; pass a serlab-train run folder or a checkpoint file"
        )
    if not path.is_dir():
        return path
    found = checkpoint_in(path)
    if found is None:
        raise CheckpointError(
            f"init_from: {path} holds no checkpoints/best.ckpt or last.ckpt; pass a serlab-train run folder "
            "(for a serlab-cv folder one of its fold_<k>/seed_<s> folders) or a checkpoint file"
        )
    return found


def sha256(path: Path) -> str:
    """The file's SHA-256, read in chunks of 1 MiB."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def same_shape(a: Any, b: Any) -> bool:
    """Whether two state-dict entries can replace each other (tensors of one shape; extra state is not a tensor)."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape
    return not isinstance(a, torch.Tensor) and not isinstance(b, torch.Tensor)


@dataclass(frozen=True)
class Plan:
    """What `init_from` does with each tensor of the module's state dict, by name."""

    loaded: list[str]
    # left as built: missing from the checkpoint, held there in another shape, or an output head of other classes
    fresh: list[str]
    # left as built by init_from_include / init_from_exclude
    skipped: list[str]
    # normaliser statistics, left to be gathered on this run's training split
    gathered: list[str]

    def summary(self) -> str:
        """One line of counts, naming the first few fresh tensors."""
        shown = ", ".join(self.fresh[:SHOWN]) + (", ..." if len(self.fresh) > SHOWN else "")
        return (
            f"loaded {len(self.loaded)} tensors, kept {len(self.fresh)} freshly initialised"
            + (f" ({shown})" if self.fresh else "")
            + f", skipped {len(self.skipped)} by pattern; {len(self.gathered)} normaliser statistics tensors to "
            "gather on this corpus"
        )


def plan(cfg: DictConfig, module: SERModule, weights: dict[str, Any], classes: list[str]) -> Plan:
    """Sort the module's tensors by what `init_from` does with them, given the checkpoint's `weights` and `classes`."""
    ours = module.state_dict()
    names = list(ours)
    include, exclude = patterns(cfg, "init_from_include"), patterns(cfg, "init_from_exclude")
    chosen = matching("init_from_include", include, names, "tensor") if include else set(names)
    skipped = (set(names) - chosen) | matching("init_from_exclude", exclude, names, "tensor")
    keep_statistics = bool(cfg.get("init_from_keep_statistics", False))
    gathered = set() if keep_statistics else statistics(module) - skipped
    heads = class_dependent(cfg, module) if classes != module.classes else set()
    candidates = [name for name in names if name not in skipped | gathered]
    fresh = [name for name in candidates if name in heads or not same_shape(weights.get(name), ours[name])]
    return Plan(
        loaded=[name for name in candidates if name not in fresh],
        fresh=fresh,
        skipped=[name for name in names if name in skipped],
        gathered=[name for name in names if name in gathered],
    )


def check_statistics(cfg: DictConfig, module: SERModule) -> None:
    """Refuse statistics that cannot serve this run: per-speaker ones kept, or none while none will be gathered."""
    if cfg.get("init_from_keep_statistics", False) and isinstance(module.frontend.norm, SpeakerNorm):
        raise ConfigError(
            "init_from_keep_statistics: frontend.normalize=speaker keeps statistics per speaker, and this corpus's "
            "speakers have none in the checkpoint; leave init_from_keep_statistics=false"
        )
    if not cfg.get("train", True) and unfilled(module):
        raise ConfigError(
            "init_from with train=false: statistics are gathered when fitting starts, so the normalisers would stay "
            "empty; add init_from_keep_statistics=true to test with the checkpoint's own"
        )


def init_from(cfg: DictConfig, module: SERModule, resumed: Path | None) -> dict[str, Any] | None:
    """Load `cfg.init_from` into `module` (see this module's docstring), log one line about it and keep the record
    in `module.transfer`; a resumed run takes the record from its checkpoint. Returns the record."""
    source = cfg.get("init_from")
    if source is None:
        given = [key for key in INIT_FROM_OPTIONS if cfg.get(key)]
        if given:
            raise ConfigError(f"{given[0]} is set but init_from is null: name the run or checkpoint to start from")
        return None
    if resumed is not None:
        module.transfer = continued(str(source), resumed)
        return module.transfer
    path = source_checkpoint(str(source))
    state, _, classes = load_run(path, key="init_from")
    steps = plan(cfg, module, state["state_dict"], classes)
    if not steps.loaded:
        raise ConfigError(
            f"init_from: no tensor of {path} fits this run's module ({steps.summary()}): is it a run of the same model?"
        )
    module.load_state_dict({name: state["state_dict"][name] for name in steps.loaded}, strict=False)
    check_statistics(cfg, module)
    module.transfer = {
        "checkpoint": str(path),
        "sha256": sha256(path),
        "classes": classes,
        "loaded": len(steps.loaded),
        "fresh": steps.fresh,
        "skipped": len(steps.skipped),
        "statistics": "kept" if cfg.get("init_from_keep_statistics", False) else "gathered",
    }
    heads = f"; its classes {classes} are not this run's {module.classes}, so the output heads start afresh"
    log.info("init_from %s: %s%s", path, steps.summary(), heads if classes != module.classes else "")
    return module.transfer


def continued(source: str, resumed: Path) -> dict[str, Any] | None:
    """The `init_from` record of the run a resumed checkpoint belongs to, which must have started from `source`."""
    if not resumed.is_file():
        raise CheckpointError(f"ckpt_path: no checkpoint at {resumed}; resume from the run's checkpoints/last.ckpt")
    saved = saved_record(resumed)
    started_from = (saved.get("config") or {}).get("init_from")
    if started_from != source:
        raise ConfigError(
            f"init_from: ckpt_path={resumed} resumes a run that started from init_from={started_from}, not {source}; "
            "a resumed run keeps its own weights: drop init_from to resume, or ckpt_path to start a new run from it"
        )
    log.info("init_from %s: resuming %s, which started from it; nothing loaded again", source, resumed)
    return saved.get("init_from")


def freeze(module: SERModule, globs: Sequence[str]) -> int:
    """Stop training the parameters whose names match `globs` (they leave the optimizer's groups too) and hold
    every part of the module whose parameters are all frozen in eval mode (see SERModule.held); returns the number
    of weights that still train."""
    if not globs:
        return sum(p.numel() for p in module.parameters() if p.requires_grad)
    parameters = dict(module.named_parameters())
    frozen = matching("freeze", globs, list(parameters), "parameter")
    for name in frozen:
        parameters[name].requires_grad_(False)
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    if not trainable:
        raise ConfigError(f"freeze: {list(globs)} leaves no parameter to train; freeze fewer parts")
    held: list[str] = []
    for prefix, part in module.named_modules():
        own = [f"{prefix}.{name}" for name, _ in part.named_parameters()]
        inside_held = any(prefix.startswith(f"{outer}.") for outer in held)
        if prefix and own and not inside_held and all(name in frozen for name in own):
            held.append(prefix)
    module.held = held
    module.train(module.training)
    log.info(
        "freeze %s: %d parameter tensors frozen, %d weights train; held in eval mode: %s",
        list(globs), len(frozen), trainable, ", ".join(held) or "none",
    )  # fmt: skip
    return trainable
