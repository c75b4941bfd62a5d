"""Self-supervised pretraining of serlab's encoders on unlabelled audio (serlab-pretrain)."""
