"""Managed values: state keys the engine computes per task instead of storing.

Declare ``remaining_steps: RemainingSteps`` in a state schema and every node sees how
many steps are left before ``recursion_limit``; ``is_last_step: IsLastStep`` is True in
the last step allowed.
"""

from __future__ import annotations

from typing import Annotated


class ManagedValue:
    """Marker base: ``compute(step, stop)`` gives the value a task at ``step`` sees."""

    @staticmethod
    def compute(step: int, stop: int) -> object:
        raise NotImplementedError


class _RemainingStepsValue(ManagedValue):
    @staticmethod
    def compute(step: int, stop: int) -> int:
        return stop - step


class _IsLastStepValue(ManagedValue):
    @staticmethod
    def compute(step: int, stop: int) -> bool:
        return step == stop - 1


RemainingSteps = Annotated[int, _RemainingStepsValue]
IsLastStep = Annotated[bool, _IsLastStepValue]

__all__ = ["IsLastStep", "ManagedValue", "RemainingSteps"]
