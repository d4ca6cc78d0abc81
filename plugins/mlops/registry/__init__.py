"""The model registry: SageMaker model packages, versions, the data cursor, metrics history, summaries."""
