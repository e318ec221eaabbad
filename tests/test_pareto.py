"""Pareto fronts of points maximised in every coordinate: dominance, NSGA-II's sorting and crowding
distance on known cases, and the knee of a front."""

from __future__ import annotations

import math

from nascli.pareto import crowding_distance, dominates, front, knee, non_dominated_sort, ranking

# (accuracy, -latency): higher is better in both
POINTS = [(90.0, -10.0), (85.0, -5.0), (80.0, -2.0), (84.0, -6.0), (70.0, -2.0), (90.0, -12.0), (60.0, -1.0)]


def test_dominance_needs_better_somewhere_and_worse_nowhere() -> None:
    assert dominates((90, -10), (90, -12)) and not dominates((90, -10), (90, -10))
    assert not dominates((90, -10), (85, -5)) and not dominates((85, -5), (90, -10))


def test_the_front_of_a_hand_made_set() -> None:
    # (84, -6) is dominated by (85, -5); (70, -2) by (80, -2); (90, -12) by (90, -10)
    assert front(POINTS) == [0, 1, 2, 6]
    assert front([]) == []


def test_non_dominated_sorting_peels_fronts_in_order() -> None:
    assert non_dominated_sort(POINTS) == [[0, 1, 2, 6], [3, 4, 5]]
    chain = [(1.0, 1.0), (2.0, 2.0), (3.0, 3.0)]
    assert non_dominated_sort(chain) == [[2], [1], [0]]


def test_crowding_distance_favours_isolated_points_and_keeps_the_extremes() -> None:
    members = [0, 1, 2, 6]
    distance = crowding_distance(POINTS, members)
    assert distance[0] == distance[6] == math.inf  # the extremes of either objective
    # (85, -5): neighbours (90, -10) and (80, -2) -> 10/30 + 8/9; (80, -2): (85, -5) and (60, -1) -> 25/30 + 4/9
    assert math.isclose(distance[1], 10 / 30 + 8 / 9) and math.isclose(distance[2], 25 / 30 + 4 / 9)
    order = ranking(POINTS)
    # front 1 by crowding (2 is more isolated than 1), then front 2: its extremes 4 and 5, then 3
    assert sorted(range(len(POINTS)), key=lambda i: (order[i], i)) == [0, 6, 2, 1, 4, 5, 3]


def test_the_knee_is_where_one_objective_buys_the_most_of_the_other() -> None:
    bent = [(60.0, -1.0), (88.0, -2.0), (90.0, -10.0)]
    assert knee(bent, [0, 1, 2]) == 1
