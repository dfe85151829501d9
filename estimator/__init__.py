"""Training-cost estimator and capacity planner for Transformer models.

Public API::

    from estimator import load_scenario, scenario_from_dict, estimate_training
"""

from estimator.scenario_io import load_scenario, scenario_from_dict
from estimator.training import estimate_training

__all__ = ["estimate_training", "load_scenario", "scenario_from_dict"]
