"""Calibration: hold the analytic model to real PyTorch layers (fvcore, FlopCounterMode, saved tensors)
and measure the local device's throughput. Imports torch; never imported by `estimator train`."""
