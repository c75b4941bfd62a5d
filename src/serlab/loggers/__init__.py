"""Experiment loggers: factories with offline defaults, and image logging across backends."""
