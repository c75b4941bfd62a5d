"""Summaries over many runs: cross-validation reports."""
