import torch

from serlab.losses.ctc import CTC, best_path
from serlab.models.output import ModelOutput
from tests.conftest import batch_of


def emissions(paths: list[list[int]], n_outputs: int = 4) -> torch.Tensor:
    """Confident frame logits that follow the given label paths (0 is the blank)."""
    logits = torch.full((len(paths), max(map(len, paths)), n_outputs), -5.0)
    for row, path in enumerate(paths):
        for t, token in enumerate(path):
            logits[row, t, token] = 5.0
    return logits


def test_best_path_merges_repeats_and_drops_blanks():
    log_probs = emissions([[0, 2, 2, 0, 2, 0], [1, 1, 0, 0, 0, 0]]).log_softmax(-1)
    assert best_path(log_probs, torch.tensor([6, 2])) == [[2, 2], [1]]


def test_decoded_label_feeds_the_prediction():
    # utterance 0 decodes to class 1 twice and class 2 once; utterance 1 is all blank but leans to class 0;
    # utterance 2 would decode to class 2 only in its padding.
    logits = emissions([[0, 2, 0, 2, 3, 0], [0, 0, 0, 0, 0, 0], [0, 0, 3, 3, 3, 3]])
    logits[1, :, 1] = 0.0
    output = ModelOutput(frame_logits=logits, frame_lengths=torch.tensor([6, 6, 2]))
    probs = CTC().predict(output)
    assert probs.argmax(-1).tolist()[:2] == [1, 0]
    torch.testing.assert_close(probs.sum(-1), torch.ones(3))
    assert probs[2].argmax() != 2


def test_loss_prefers_emissions_of_the_target():
    lengths = torch.tensor([5, 5])
    right = ModelOutput(frame_logits=emissions([[0, 2, 2, 0, 0], [1, 1, 0, 0, 0]]), frame_lengths=lengths)
    wrong = ModelOutput(frame_logits=emissions([[0, 3, 3, 0, 0], [2, 2, 0, 0, 0]]), frame_lengths=lengths)
    batch = batch_of([1, 0])
    assert CTC()(right, batch) < 0.1 < CTC()(wrong, batch)
    assert CTC().n_outputs(3) == 4
