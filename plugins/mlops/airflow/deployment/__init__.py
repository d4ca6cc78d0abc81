"""Deployment DAGs: one per model file, thin operators over `mlops.deployment` and the provider's SageMaker operators."""
