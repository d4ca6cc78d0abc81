"""Training: model configuration, training data, the retrain rule, the job request, the run's steps, the gate."""
