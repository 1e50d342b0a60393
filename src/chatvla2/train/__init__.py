"""Two-stage training of the model."""
