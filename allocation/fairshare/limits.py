"""What the engine can compute exactly, and its refusal when a result breaks a promise.

Invariants:
- The stated limits of the scenario format (``scenario.py`` refuses input
  beyond them, naming the item): every figure (capacity, demand, quota,
  usage, chips, hours) at most ``FIGURE_MAX``; weights within
  ``[WEIGHT_MIN, WEIGHT_MAX]``, throughputs within
  ``[THROUGHPUT_MIN, THROUGHPUT_MAX]``; a horizon of at most
  ``HORIZON_HOURS_MAX`` hours (two leap years); usage at most
  ``USAGE_AHEAD_MAX_HALF_LIVES`` half-lives after ``now``.  Inside them no
  sum, product or level of the engine overflows, and the water levels are
  exact for any ratio of weights (``waterfill._weights_above``).
- ``EngineError`` is the engine's one refusal: ``str(error)`` is one line
  naming the offending item.  The rounds raise it rather than return a
  result that grants or books above capacity, or when figures are too large
  to add up, whatever their input (the services' input is not bounded by
  this module: a tenant weight comes from the database).
- Standard library only, no Django.
"""

from __future__ import annotations

from collections.abc import Sequence

FIGURE_MAX = 1e15
WEIGHT_MIN = 1e-30
WEIGHT_MAX = 1e30
# A throughput converts normalized hours back to GPU-hours, so float dust in
# normalized hours grows by 1 / throughput: kept to realistic chips.
THROUGHPUT_MIN = 1e-3
THROUGHPUT_MAX = 1e3
HORIZON_HOURS_MAX = 2 * 366 * 24
USAGE_AHEAD_MAX_HALF_LIVES = 64


class EngineError(ValueError):
    """The engine refuses to hand out a result; ``str(error)`` is one line naming the item."""


def capacity_check(names: Sequence[str], granted: Sequence[float], capacity: Sequence[float], tol: float) -> None:
    """Raise ``EngineError`` naming the first resource granted above its capacity.

    ``granted`` and ``capacity`` are per resource in the same unit; ``tol``
    absorbs float dust (the rounds clean figures at 12 significant digits).
    """
    for name, used, cap in zip(names, granted, capacity, strict=True):
        if not used <= cap + tol:  # also catches NaN
            raise EngineError(
                f"resource {name}: the round would grant {used!r} normalized hours on a capacity of {cap!r}; "
                "refused (the weights or figures are beyond what the engine computes exactly)"
            )
