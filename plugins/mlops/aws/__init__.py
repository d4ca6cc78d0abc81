"""Helpers over plain boto3 clients (which on Airflow come from the Amazon provider's hooks)."""
