"""Training data for the retrieval model."""
