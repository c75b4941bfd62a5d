"""Losses: (ModelOutput, targets) -> scalar."""
