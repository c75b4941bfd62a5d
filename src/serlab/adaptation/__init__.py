"""Unsupervised domain adaptation and self-training: loss terms on labelled source and unlabelled target batches."""
