"""serlab: a Hydra-configured experiment runner for speech emotion recognition."""

__version__ = "0.1.0"
