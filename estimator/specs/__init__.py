"""Frozen, validated inputs."""

from estimator.specs.hardware import HardwareSpec, PeakFlops, Price
from estimator.specs.model import ModelSpec
from estimator.specs.parallel import ParallelismSpec
from estimator.specs.precision import OPTIMIZERS, PRECISIONS, OptimizerPolicy, PrecisionPolicy
from estimator.specs.scenario import Scenario
from estimator.specs.workload import AssumptionsSpec, EnergySpec, PricingSpec, TrainingSpec

__all__ = [
    "OPTIMIZERS",
    "PRECISIONS",
    "AssumptionsSpec",
    "EnergySpec",
    "HardwareSpec",
    "ModelSpec",
    "OptimizerPolicy",
    "ParallelismSpec",
    "PeakFlops",
    "PrecisionPolicy",
    "Price",
    "PricingSpec",
    "Scenario",
    "TrainingSpec",
]
