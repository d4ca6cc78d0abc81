"""Training DAGs: one per model file, thin operators over `mlops.training`."""
