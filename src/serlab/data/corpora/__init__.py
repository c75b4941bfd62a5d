"""Corpus adapters: each turns a corpus folder into manifest rows."""
