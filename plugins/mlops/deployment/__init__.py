"""Deployment: a model's endpoint settings, the SageMaker hosting requests, the in-service check, the steps."""
