"""Split work into requests that respect a service's limits on item count and payload size."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def size_bounded(items: Sequence[T], size: Callable[[T], int], max_items: int, max_bytes: int) -> list[list[T]]:
    """Consecutive groups of at most `max_items` whose sizes add up to at most `max_bytes`.

    An item larger than `max_bytes` on its own still goes, alone: the caller trims items first.
    """
    out: list[list[T]] = []
    current: list[T] = []
    total = 0
    for item in items:
        n = size(item)
        if current and (len(current) == max_items or total + n > max_bytes):
            out.append(current)
            current, total = [], 0
        current.append(item)
        total += n
    if current:
        out.append(current)
    return out
