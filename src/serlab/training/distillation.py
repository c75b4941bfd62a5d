"""Teacher-student knowledge distillation: the student also learns the class probabilities of trained runs.

With teacher runs named in `distill.teacher`, each training step's loss is

    loss = (1 - w) * label_loss + w * T² * KL(p_teacher,T ‖ p_student,T)

where p_student,T = softmax(z / T) of the student's utterance logits z, and p_teacher,T is the mean over the
teachers of softmax(log p_k / T), p_k being teacher k's class probabilities of the clean whole utterance (for a
softmax read-out softmax(log p / T) is softmax(z_k / T) of its logits). The KL divergence is averaged over the
batch; the T² factor (Hinton et al., 2015) keeps the gradients of the softened term on the scale of the label
loss's whatever the temperature. w = `weight`, T = `temperature`.

Teachers are whole runs (serlab.inference.load_recognizer), so they may read other features than the student
(a Whisper probe teaching a log-mel CRNN). Before training starts they score every training utterance of the
student once; the scores are cached on disk per teacher checkpoint and utterance id, so later runs with the
same teacher read them. A teacher that trained or validated on any of the student's test speakers would leak
their labels into the student: a run named so is refused, and a folder of runs (a serlab-cv output) is searched
for the runs whose splits leave those speakers out (over the same split protocol: the fold-matched runs).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence

from serlab.config_check import ConfigError
from serlab.data.audio import load_audio
from serlab.data.cache import write_atomically
from serlab.data.datamodule import SERDataModule
from serlab.data.manifest import Utterance
from serlab.inference import audio_settings, load_recognizer
from serlab.training.checkpointing import checkpoint_in, load_run, saved_record

log = logging.getLogger(__name__)

# What a finished serlab-train run folder holds besides its checkpoints: which speakers it trained on.
SPLIT_FILE = "split.json"


class TeacherError(ConfigError):
    """A `distill.teacher` that names no usable teacher run for this student."""


@dataclass(frozen=True)
class TeacherRun:
    """A finished run to learn from: its folder, its checkpoint and whether the user named it (not found in a
    folder of runs)."""

    folder: Path
    checkpoint: Path
    named: bool


def finished_run(folder: Path) -> Path | None:
    """The checkpoint of the run in `folder` (best.ckpt, else last.ckpt) when it is a finished run (split.json)."""
    return checkpoint_in(folder) if (folder / SPLIT_FILE).is_file() else None


def teacher_runs(teacher: str | Sequence[str]) -> list[TeacherRun]:
    """The runs `distill.teacher` names: each entry a run folder, or a folder of runs searched for them."""
    runs = []
    for entry in [teacher] if isinstance(teacher, str) else list(teacher):
        folder = Path(entry).expanduser().resolve()
        checkpoint = finished_run(folder)
        if checkpoint is not None:
            runs.append(TeacherRun(folder, checkpoint, named=True))
            continue
        found = sorted(split.parent for split in folder.rglob(SPLIT_FILE)) if folder.is_dir() else []
        inside = [TeacherRun(run, ckpt, named=False) for run in found if (ckpt := finished_run(run)) is not None]
        if not inside:
            raise TeacherError(
                f"distill.teacher: {folder} is no finished serlab-train run (split.json and checkpoints/best.ckpt) "
                "and holds none; name a run folder or a serlab-cv output folder"
            )
        runs += inside
    return runs


def seen_speakers(run: Path) -> set[str]:
    """The speakers a run trained or validated on, from its split.json."""
    sides = json.loads((run / SPLIT_FILE).read_text())["speakers"]
    return {*sides.get("train", ()), *sides.get("val", ())}


def admissible(runs: list[TeacherRun], test_speakers: Sequence[str]) -> tuple[list[TeacherRun], list[TeacherRun]]:
    """The runs that never trained or validated on a test speaker of the student, and those found in a folder
    that did; a named run that did is refused."""
    kept, left_out = [], []
    for run in runs:
        leaked = sorted(seen_speakers(run.folder) & set(test_speakers))
        if not leaked:
            kept.append(run)
        elif run.named:
            raise TeacherError(
                f"distill.teacher: {run.folder} trained or validated on the student's test speakers {leaked}; "
                "name a run whose split leaves them out (serlab-cv over the same split: the same fold's run)"
            )
        else:
            left_out.append(run)
    if not kept:
        raise TeacherError(
            f"distill.teacher: none of the {len(runs)} run(s) found leaves out the student's test speakers "
            f"{sorted(test_speakers)}; train teachers over the same split (serlab-cv) or name other runs"
        )
    return kept, left_out


def check_classes(run: TeacherRun, classes: list[str]) -> None:
    """Refuse a teacher whose classes (in order) are not the student's."""
    theirs = list(saved_record(run.checkpoint).get("classes", []))
    if theirs != classes:
        raise TeacherError(
            f"distill.teacher: {run.folder} predicts the classes {theirs}, the student {classes}; "
            "a teacher needs the student's classes in the same order (data.label_map)"
        )


def soften(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """Class probabilities at temperature T: softmax(log p / T), which is softmax(z / T) of a softmax's logits."""
    return (probs.clamp_min(torch.finfo(probs.dtype).tiny).log() / temperature).softmax(dim=-1)


def distillation_term(logits: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """T² · KL(teacher ‖ softmax(logits / T)), averaged over the batch; `teacher` holds softened probabilities."""
    student = F.log_softmax(logits.float() / temperature, dim=-1)
    return temperature**2 * F.kl_div(student, teacher.to(student), reduction="batchmean")


class TeacherCache:
    """Teacher probabilities per utterance id, one file per teacher checkpoint (named after its path, size and
    modification time, so a retrained teacher is scored afresh); an utterance whose audio file moved is scored
    again."""

    def __init__(self, root: str | Path | None) -> None:
        self.root = None if root is None else Path(root)

    def entry(self, checkpoint: Path) -> Path | None:
        """Where the scores of `checkpoint` are kept (None: no cache)."""
        if self.root is None:
            return None
        stat = checkpoint.stat()
        key = f"{checkpoint.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        return self.root / f"{hashlib.sha1(key.encode()).hexdigest()[:24]}.pt"

    def load(self, checkpoint: Path) -> dict[str, tuple[str, torch.Tensor]]:
        """Utterance id -> (audio path, class probabilities) as cached for `checkpoint` (empty when none)."""
        entry = self.entry(checkpoint)
        if entry is None or not entry.is_file():
            return {}
        saved = torch.load(entry, map_location="cpu", weights_only=True)
        return {uid: (path, probs) for uid, path, probs in zip(saved["ids"], saved["paths"], saved["probs"])}

    def save(self, checkpoint: Path, scores: dict[str, tuple[str, torch.Tensor]]) -> None:
        """Write the scores of `checkpoint`, replacing the file atomically (processes may write it at once)."""
        entry = self.entry(checkpoint)
        if entry is None:
            return
        ids = sorted(scores)
        record = {"ids": ids, "paths": [scores[i][0] for i in ids], "probs": torch.stack([scores[i][1] for i in ids])}
        write_atomically(entry, lambda f: torch.save(record, f))


@torch.no_grad()
def score_utterances(
    checkpoint: Path, rows: list[Utterance], batch_size: int, device: torch.device
) -> list[torch.Tensor]:
    """The teacher's class probabilities of each row's whole clean clip, decoded as the teacher's run decoded
    its audio."""
    recognizer = load_recognizer(checkpoint).to(device)
    settings = audio_settings(load_run(checkpoint, key="distill.teacher")[1])
    scores: list[torch.Tensor] = []
    for start in range(0, len(rows), batch_size):
        waves = [load_audio(row.path, settings) for row in rows[start : start + batch_size]]
        lengths = torch.tensor([len(w) for w in waves], device=device)
        scores += list(recognizer(pad_sequence(waves, batch_first=True).to(device), lengths).float().cpu())
    return scores


class Distillation:
    """Learning from teacher runs besides the labels (see the module's docstring for the loss).

    `teacher`: a run folder, a folder of runs (a serlab-cv output) or a list of them; the admissible runs form an
    ensemble whose softened probabilities are averaged. `cache_dir`: where teacher scores are kept (null: scored
    in every run).
    """

    def __init__(
        self,
        teacher: str | list[str] | None,
        temperature: float = 4.0,
        weight: float = 0.5,
        cache_dir: str | None = None,
    ) -> None:
        if temperature <= 0:
            raise ConfigError(f"distill.temperature must be positive, got {temperature}")
        if not 0 <= weight <= 1:
            raise ConfigError(f"distill.weight is the distillation term's share of the loss, from 0 to 1; got {weight}")
        if not teacher:
            raise ConfigError("distill.teacher: name a run folder, a folder of runs or a list of them")
        self.teacher: str | list[str] = teacher
        self.temperature = temperature
        self.weight = weight
        self.cache = TeacherCache(cache_dir)
        self.teachers: list[TeacherRun] = []
        self.left_out: list[TeacherRun] = []
        self.index: dict[str, int] = {}
        self.table = torch.empty(0)

    def prepare(self, datamodule: SERDataModule, device: torch.device) -> None:
        """Choose the admissible teachers for the datamodule's split and take their probabilities of every training
        utterance, from the cache or scored now."""
        split = datamodule.speaker_split
        assert split is not None, "the datamodule is set up before the teachers are prepared"
        self.teachers, self.left_out = admissible(teacher_runs(self.teacher), split.test)
        for run in self.teachers:
            check_classes(run, datamodule.classes)
        if self.left_out:
            log.info("distillation: %d run(s) found that trained on the test speakers are no teachers, e.g. %s",
                     len(self.left_out), self.left_out[0].folder)  # fmt: skip
        rows = datamodule.datasets["train"].rows
        softened = [soften(self.probabilities(run, rows, datamodule.eval_batch_size, device), self.temperature)
                    for run in self.teachers]  # fmt: skip
        self.index = {row.id: i for i, row in enumerate(rows)}
        self.table = torch.stack(softened).mean(dim=0)
        log.info("distillation: %d teacher run(s), T=%g, weight %g, %d training utterances",
                 len(self.teachers), self.temperature, self.weight, len(rows))  # fmt: skip

    def probabilities(
        self, run: TeacherRun, rows: list[Utterance], batch_size: int, device: torch.device
    ) -> torch.Tensor:
        """(rows, classes) probabilities of `run`: cached ones, the others scored now and added to the cache."""
        cached = self.cache.load(run.checkpoint)
        missing = [row for row in rows if cached.get(row.id, ("",))[0] != str(row.path)]
        if missing:
            log.info("distillation: %s scores %d utterance(s)", run.folder, len(missing))
            scored = score_utterances(run.checkpoint, missing, batch_size, device)
            cached.update({row.id: (str(row.path), probs) for row, probs in zip(missing, scored)})
            self.cache.save(run.checkpoint, cached)
        return torch.stack([cached[row.id][1] for row in rows])

    def targets(self, ids: Sequence[str]) -> torch.Tensor:
        """(batch, classes) the teachers' softened probabilities of these training utterances."""
        return self.table[[self.index[uid] for uid in ids]]

    def __call__(
        self, label_loss: torch.Tensor, logits: torch.Tensor, teacher: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The step's loss and its distillation term T² · KL (before weighting)."""
        term = distillation_term(logits, teacher, self.temperature)
        return (1 - self.weight) * label_loss + self.weight * term, term

    def record(self) -> dict[str, Any] | None:
        """What a run learned from, for its metrics.json; None when it did not fit (no teachers chosen)."""
        if not self.teachers:
            return None
        return {
            "teachers": [str(run.folder) for run in self.teachers],
            "checkpoints": [str(run.checkpoint) for run in self.teachers],
            "left_out": [str(run.folder) for run in self.left_out],
            "temperature": self.temperature,
            "weight": self.weight,
            "ensemble": "mean of the teachers' softened probabilities",
        }
