"""The data path: corpus folder -> manifest -> speaker split -> waveforms -> padded batches."""
