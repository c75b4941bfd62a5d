"""Regularizers, chosen as a list; each implements the Protocol (serlab.regularizers.protocol) of the place
in training it acts on: the model, waveforms, features, batch mixing or the loss."""
