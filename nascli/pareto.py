"""Pareto fronts of points to maximise in every coordinate: dominance, NSGA-II's non-dominated sorting
and crowding distance (Deb et al., IEEE TEC 2002), and the knee of a two-objective front.

A coordinate whose lower values are better (a cost, a perplexity) enters negated: callers orient
each part by its metric's direction (nascli.runtime.metrics.score), so this module stays one rule."""

from __future__ import annotations

import math
from collections.abc import Sequence

Point = Sequence[float]


def dominates(a: Point, b: Point) -> bool:
    """`a` is at least as good as `b` everywhere and better somewhere (all coordinates maximised)."""
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))


def non_dominated_sort(points: Sequence[Point]) -> list[list[int]]:
    """Indices of `points` by front: the first front dominates no one's ..., in index order."""
    dominated_by: list[list[int]] = [[] for _ in points]  # j in dominated_by[i]: i dominates j
    counts = [0] * len(points)                              # how many points dominate i
    for i, a in enumerate(points):
        for j in range(i + 1, len(points)):
            if dominates(a, points[j]):
                dominated_by[i].append(j)
                counts[j] += 1
            elif dominates(points[j], a):
                dominated_by[j].append(i)
                counts[i] += 1
    fronts, current = [], [i for i, c in enumerate(counts) if c == 0]
    while current:
        fronts.append(current)
        following = []
        for i in current:
            for j in dominated_by[i]:
                counts[j] -= 1
                if counts[j] == 0:
                    following.append(j)
        current = sorted(following)
    return fronts


def front(points: Sequence[Point]) -> list[int]:
    """Indices of the non-dominated points (empty for no points)."""
    fronts = non_dominated_sort(points)
    return fronts[0] if fronts else []


def crowding_distance(points: Sequence[Point], members: Sequence[int]) -> dict[int, float]:
    """NSGA-II's crowding distance of each member of one front: the normalised side lengths of the
    box its neighbours span, summed over coordinates; the extremes get infinity."""
    distance = {i: 0.0 for i in members}
    if len(members) < 3:
        return {i: math.inf for i in members}
    for k in range(len(points[members[0]])):
        ordered = sorted(members, key=lambda i: (points[i][k], i))
        low, high = points[ordered[0]][k], points[ordered[-1]][k]
        distance[ordered[0]] = distance[ordered[-1]] = math.inf
        if high == low:
            continue
        for prev, here, nxt in zip(ordered, ordered[1:], ordered[2:]):
            distance[here] += (points[nxt][k] - points[prev][k]) / (high - low)
    return distance


def ranking(points: Sequence[Point]) -> list[tuple[int, float]]:
    """(front number, -crowding distance) of every point: smaller is better, NSGA-II's order."""
    out: list[tuple[int, float]] = [(0, 0.0)] * len(points)
    for rank, members in enumerate(non_dominated_sort(points)):
        for i, d in crowding_distance(points, members).items():
            out[i] = (rank, -d)
    return out


def knee(points: Sequence[Point], members: Sequence[int]) -> int:
    """The member of a two-objective front farthest from the line through its extremes (both
    coordinates normalised): where giving up one objective buys the most of the other."""
    if len(members) < 3:
        return max(members, key=lambda i: (points[i][0], -i))
    xs = [points[i][0] for i in members]
    ys = [points[i][1] for i in members]
    span_x, span_y = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0
    norm = {i: ((points[i][0] - min(xs)) / span_x, (points[i][1] - min(ys)) / span_y) for i in members}
    a = min(members, key=lambda i: (norm[i][0], i))
    b = max(members, key=lambda i: (norm[i][0], -i))
    (ax, ay), (bx, by) = norm[a], norm[b]

    def gap(i: int) -> float:
        x, y = norm[i]
        return abs((by - ay) * x - (bx - ax) * y + bx * ay - by * ax)

    return max(members, key=lambda i: (gap(i), -i))
