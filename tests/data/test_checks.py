from collections import Counter
from pathlib import Path

import pytest

from serlab.data.audio import AudioError
from serlab.data.checks import EmptyClassError, UnusableFilesError, check_classes, file_problems
from serlab.data.manifest import Utterance
from serlab.errors import UserError
from tests.conftest import write_tone


def test_file_problems_reads_sizes_and_headers_of_every_row(tmp_path):
    write_tone(tmp_path / "good.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "noise.wav").write_bytes(b"not audio at all")
    names = ("good", "empty", "noise", "gone")
    rows = [Utterance(id=n, path=tmp_path / f"{n}.wav", label="happy", speaker="s") for n in names]
    problems = file_problems(rows)
    assert {i: p.reason.split(" (")[0] for i, p in problems.items()} == {
        "empty": "empty", "noise": "unreadable audio", "gone": "file not found",
    }  # fmt: skip


def test_unusable_files_are_one_line_naming_the_count_and_the_first_few():
    problems = [AudioError(Path(f"/corpus/{i}.wav"), "file not found") for i in range(5)]
    message = str(UnusableFilesError(problems))
    assert message.startswith("/corpus/0.wav: file not found; 5 unusable files in all, also /corpus/1.wav: file")
    assert "/corpus/2.wav" in message and "/corpus/3.wav" not in message and "\n" not in message
    assert message.endswith("(set data.on_bad_file=skip to leave such files out)")
    assert isinstance(UnusableFilesError(problems[:1]), UserError)


def test_classes_without_training_utterances_name_the_dropped_labels_with_counts():
    train = [Utterance(id="a", path=Path("a.wav"), label="sad", speaker="s")]
    dropped = r"class 'happy'; the map dropped the corpus labels 'Happy' \(12\), 'Sad ' \(2\)"
    with pytest.raises(EmptyClassError, match=dropped):
        check_classes(["happy", "sad"], train, Counter(sad=1), Counter({"Happy": 12, "Sad ": 2}))
    check_classes(["sad"], train, Counter(sad=1), Counter({"Happy": 12}))
