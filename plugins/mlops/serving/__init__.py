"""Serving: predictions from a model's production endpoint (mlops.serving.predict)."""
