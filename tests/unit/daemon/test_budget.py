"""The answer budget: per user and in total, released when answers drain or clients go."""

from __future__ import annotations

from tessera.daemon.budget import AnswerBudget


def test_each_user_has_a_share_and_the_total_is_bounded() -> None:
    budget = AnswerBudget(total=10, per_uid=4)
    budget.hold("a1", 1, 4)
    assert not budget.allows(1)  # user 1 used its share
    assert budget.allows(2)  # user 2 is not held up by user 1
    budget.hold("b1", 2, 3)
    budget.hold("c1", 3, 3)
    assert budget.held == 10
    assert not budget.allows(4)  # the total is spent
    woken: list[str] = []
    budget.wait("d1", 4, lambda: woken.append("d1"))
    budget.wait("e1", 1, lambda: woken.append("e1"))  # user 1 is still over its share
    budget.release("b1")
    assert woken == ["d1"]  # only who now fits is woken
    budget.release("a1")
    assert woken == ["d1", "e1"]
    assert budget.allows(1) and budget.allows(4)


def test_a_holder_that_goes_away_releases_and_stops_waiting() -> None:
    budget = AnswerBudget(total=4, per_uid=4)
    budget.hold("a", 1, 4)
    woken: list[str] = []
    budget.wait("b", 2, lambda: woken.append("b"))
    budget.forget("b")
    budget.forget("a")
    assert budget.held == 0 and woken == []
    budget.hold("a", 1, 0)  # nothing unread: nothing held
    assert budget.held == 0
