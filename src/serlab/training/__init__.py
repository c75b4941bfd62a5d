"""The training side: the LightningModule, its metrics, and building both from config."""
