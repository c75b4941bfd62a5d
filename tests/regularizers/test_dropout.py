from serlab.models.crnn import CRNN
from serlab.regularizers.dropout import Dropout


def test_dropout_regularizer_sets_rates():
    model = CRNN(n_features=16, n_classes=3, rnn_layers=2)
    Dropout(p=0.4, recurrent_p=0.2).attach(model)
    assert model.dropout.p == 0.4 and model.encoder.rnn.rnn.dropout == 0.2
