"""The capacity planner: a vectorised search over parallel layouts, hardware and precision."""

from estimator.planner.search import PlanResult, plan

__all__ = ["PlanResult", "plan"]
