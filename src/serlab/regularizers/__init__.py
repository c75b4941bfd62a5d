"""Regularizers, chosen as a list; each adjusts the model or the training step it is attached to."""
