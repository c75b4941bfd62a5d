"""Frontends: waveform + lengths -> features (batch, n_features, frames) + frame lengths."""
