"""Training: the step time and memory of a layout from the ledger, composed into an estimate."""

from estimator.training.estimate import estimate_training

__all__ = ["estimate_training"]
