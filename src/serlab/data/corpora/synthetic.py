"""The built-in corpus: deterministic, speech-like audio whose prosody carries the emotion.

Each utterance is rendered with a source-filter model: a harmonic glottal source whose pitch
contour, spectral tilt, jitter and breathiness follow the emotion, shaped by formant resonators
(vowels scaled by the speaker's vocal-tract length), interleaved with noise consonants and
pauses at an emotion-dependent speaking rate. Speakers differ in base pitch, vocal-tract
scaling and how strongly they express emotion, and every utterance draws its own variation
and recording gain, so held-out speakers are learnable but not trivially separable.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from scipy.signal import lfilter

from serlab.data.manifest import Utterance, read_manifest, write_manifest

GENERATOR_VERSION = 1


@dataclass(frozen=True)
class Prosody:
    """How one emotion moves the voice away from the speaker's neutral delivery."""

    pitch: float  # factor on the speaker's base f0
    pitch_range: float  # factor on the intonation range
    rate: float  # factor on the syllable rate
    loudness_db: float
    tilt_db: float  # source spectral slope in dB per octave (flatter = tenser voice)
    breath: float  # aspiration noise relative to the harmonic source
    jitter: float  # relative cycle-to-cycle f0 perturbation


# Directions follow the SER literature on acoustic correlates (e.g. Scherer 2003; Banse & Scherer 1996).
EMOTIONS: dict[str, Prosody] = {
    "neutral": Prosody(1.00, 1.00, 1.00, 0.0, -12.0, 0.06, 0.006),
    "happy": Prosody(1.22, 1.70, 1.10, 3.0, -9.5, 0.05, 0.010),
    "angry": Prosody(1.15, 1.25, 1.15, 7.0, -6.0, 0.03, 0.012),
    "sad": Prosody(0.90, 0.55, 0.78, -4.0, -15.0, 0.18, 0.008),
}

# Peterson & Barney style formant targets (F1, F2, F3) in Hz for an adult male vocal tract.
VOWELS = np.array(
    [[730, 1090, 2440], [270, 2290, 3010], [300, 870, 2240], [530, 1840, 2480], [570, 840, 2410]],
    dtype=float,
)
FORMANT_BANDWIDTHS = np.array([90.0, 110.0, 160.0])


@dataclass(frozen=True)
class Speaker:
    """Voice parameters of one synthetic speaker."""

    id: str
    gender: str
    f0: float
    tract_scale: float
    expressiveness: float
    rate: float


def _speakers(n: int, rng: np.random.Generator) -> list[Speaker]:
    """Draw alternating female/male speakers with individual voices."""
    out = []
    for i in range(n):
        female = i % 2 == 0
        out.append(
            Speaker(
                id=f"s{i:02d}",
                gender="f" if female else "m",
                f0=float(rng.uniform(185, 240) if female else rng.uniform(95, 135)),
                tract_scale=float((1.15 if female else 1.0) * rng.uniform(0.94, 1.06)),
                expressiveness=float(rng.uniform(0.55, 1.15)),
                rate=float(rng.uniform(0.85, 1.15)),
            )
        )
    return out


def _sentences(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Vowel sequences shared by all speakers, like a corpus's fixed sentence list."""
    return [rng.integers(0, len(VOWELS), size=int(rng.integers(6, 12))) for _ in range(n)]


def _resonate(x: np.ndarray, freqs: np.ndarray, sr: int) -> np.ndarray:
    """Pass x through a cascade of second-order formant resonators."""
    for f, bw in zip(freqs, FORMANT_BANDWIDTHS):
        if f >= 0.45 * sr:
            continue
        r = np.exp(-np.pi * bw / sr)
        theta = 2 * np.pi * f / sr
        a = [1.0, -2 * r * np.cos(theta), r * r]
        x = lfilter([1 - r], a, x)
    return x


def _glottal_source(freq: np.ndarray, closing: float, sr: int, opening: float = 0.4) -> np.ndarray:
    """Derivative of a Rosenberg glottal flow pulse train following the f0 track `freq`."""
    cycle = np.cumsum(freq) / sr % 1.0
    flow = np.where(
        cycle < opening,
        0.5 * (1 - np.cos(np.pi * cycle / opening)),
        np.where(cycle < opening + closing, np.cos(0.5 * np.pi * (cycle - opening) / closing), 0.0),
    )
    return np.diff(flow, prepend=0.0)


def _blend(expressed: Prosody, amount: float) -> Prosody:
    """Move from neutral towards `expressed` by `amount` (speaker expressiveness)."""
    neutral = asdict(EMOTIONS["neutral"])
    mixed = {}
    for key, value in asdict(expressed).items():
        base = neutral[key]
        mixed[key] = base + amount * (value - base)
    return Prosody(**mixed)


def _render(
    speaker: Speaker, prosody: Prosody, vowels: np.ndarray, sr: int, rng: np.random.Generator
) -> np.ndarray:
    """Synthesise one utterance as float32 samples."""
    p = _blend(prosody, speaker.expressiveness)
    # Every utterance is performed a little differently.
    f0 = speaker.f0 * p.pitch * rng.lognormal(0, 0.07)
    semitone_range = 2.5 * p.pitch_range * rng.lognormal(0, 0.25)
    rate = speaker.rate * p.rate * rng.lognormal(0, 0.08)
    tilt = p.tilt_db + rng.normal(0, 2.0)
    breath = p.breath * rng.lognormal(0, 0.3)
    loudness_db = p.loudness_db + rng.normal(0, 1.5)

    # A tenser voice closes the glottis faster, which flattens the source spectrum.
    closing = float(np.clip(0.05 + 0.016 * (-tilt - 6.0), 0.03, 0.35))
    pieces = []
    n_syl = len(vowels)
    for i, vowel in enumerate(vowels):
        if i > 0 and rng.random() < 0.7:  # a consonant onset: shaped noise burst
            n = int(sr * rng.uniform(0.03, 0.08) / rate)
            burst = _resonate(rng.standard_normal(n), np.array([3500.0, 5000.0, 6500.0]), sr)
            pieces.append(0.15 * burst * np.hanning(n))
        n = int(sr * rng.uniform(0.12, 0.24) / rate)
        t = np.linspace(0, 1, n)
        # Declination over the utterance plus a random accent on this syllable.
        position = (i + t) / n_syl
        accent = rng.normal(0, 0.6) * np.sin(np.pi * t)
        semitones = semitone_range * (0.5 - position + accent)
        wobble = 1 + p.jitter * np.convolve(rng.standard_normal(n), np.ones(40) / np.sqrt(40), "same")
        freq = f0 * 2 ** (semitones / 12) * wobble
        source = _glottal_source(freq, closing, sr)
        source = source / (np.sqrt(np.mean(source**2)) + 1e-9) + breath * 3 * rng.standard_normal(n)
        formants = VOWELS[vowel] * speaker.tract_scale * rng.uniform(0.95, 1.05, size=3)
        voiced = _resonate(source, formants, sr)
        envelope = np.minimum(1, np.minimum(t, 1 - t) * 8)
        pieces.append(voiced * envelope)
        if rng.random() < 0.25:  # a word boundary
            pieces.append(np.zeros(int(sr * rng.uniform(0.04, 0.15) / rate)))
    lead = np.zeros(int(sr * rng.uniform(0.05, 0.2)))
    audio = np.concatenate([lead, *pieces, lead])
    audio = audio / (np.sqrt(np.mean(audio**2)) + 1e-9)
    gain_db = -24 + loudness_db + rng.normal(0, 3.0)  # recording level varies per session
    audio = audio * 10 ** (gain_db / 20)
    snr_db = rng.uniform(25, 40)
    noise = rng.standard_normal(len(audio)) * np.sqrt(np.mean(audio**2)) * 10 ** (-snr_db / 20)
    return np.clip(audio + noise, -1, 1).astype(np.float32)


class SyntheticCorpus:
    """Speakers x emotions x sentences of generated audio, written once under `root`."""

    name = "synthetic"
    caveat = ""

    def __init__(
        self,
        root: str | Path,
        n_speakers: int = 10,
        utterances_per_emotion: int = 16,
        n_sentences: int = 8,
        emotions: tuple[str, ...] | list[str] = tuple(EMOTIONS),
        sample_rate: int = 16000,
        seed: int = 1234,
    ) -> None:
        unknown = sorted(set(emotions) - set(EMOTIONS))
        if unknown:
            raise ValueError(f"data.corpus.emotions: unknown {unknown}; allowed: {sorted(EMOTIONS)}")
        if n_speakers < 1 or utterances_per_emotion < 1 or n_sentences < 1:
            raise ValueError("data.corpus: n_speakers, utterances_per_emotion and n_sentences must be >= 1")
        self.root = Path(root)
        self.settings: dict[str, Any] = {
            "version": GENERATOR_VERSION,
            "n_speakers": n_speakers,
            "utterances_per_emotion": utterances_per_emotion,
            "n_sentences": n_sentences,
            "emotions": list(emotions),
            "sample_rate": sample_rate,
            "seed": seed,
        }

    @property
    def _settings_file(self) -> Path:
        return self.root / "synthetic.json"

    def is_ready(self) -> bool:
        """True when the corpus on disk was generated with these exact settings."""
        if not self._settings_file.exists() or not (self.root / "manifest.csv").exists():
            return False
        return json.loads(self._settings_file.read_text()) == self.settings

    def prepare(self) -> None:
        """Generate the corpus unless an identical one is already on disk."""
        if self.is_ready():
            return
        self.root.parent.mkdir(parents=True, exist_ok=True)
        # Build in a sibling folder and swap it in, so an interrupted run leaves no half corpus.
        staging = Path(tempfile.mkdtemp(prefix=".synthetic-", dir=self.root.parent))
        try:
            self._generate(staging)
            if self.root.exists():
                shutil.rmtree(self.root)
            staging.rename(self.root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _generate(self, out: Path) -> None:
        s = self.settings
        sr = s["sample_rate"]
        rng = np.random.default_rng(s["seed"])
        speakers = _speakers(s["n_speakers"], rng)
        sentences = _sentences(s["n_sentences"], rng)
        (out / "wav").mkdir()
        rows = []
        for si, speaker in enumerate(speakers):
            for ei, emotion in enumerate(s["emotions"]):
                for k in range(s["utterances_per_emotion"]):
                    # One stream per utterance: the corpus does not depend on generation order.
                    utt_rng = np.random.default_rng([s["seed"], si, ei, k])
                    text = k % s["n_sentences"]
                    audio = _render(speaker, EMOTIONS[emotion], sentences[text], sr, utt_rng)
                    uid = f"{speaker.id}_{emotion}_{k:02d}"
                    path = out / "wav" / f"{uid}.wav"
                    sf.write(path, audio, sr, subtype="PCM_16")
                    rows.append(
                        Utterance(uid, path, emotion, speaker.id, speaker.gender, f"t{text:02d}", len(audio) / sr)
                    )
        write_manifest(rows, out / "manifest.csv", relative_to=out)
        (out / "synthetic.json").write_text(json.dumps(s, indent=2))

    def scan(self) -> list[Utterance]:
        """Read the generated manifest (call `prepare` first)."""
        if not self.is_ready():
            raise FileNotFoundError(
                f"{self.root}: no synthetic corpus with these settings; it is generated by prepare()"
            )
        return read_manifest(self.root / "manifest.csv")
