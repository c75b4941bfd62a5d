"""Models: features + lengths -> ModelOutput (encoder, length-aware pooling, head)."""
