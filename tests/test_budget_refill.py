"""A known bug, kept out of the mutation test set until it is fixed: ProviderBudget.wait_s asks
pyrate-limiter's bucket.waiting(), which only knows a wait after a refused acquire, so a budget
spent to its last unit reports "refills in 0 s" (and the status says "cooldown ... refills in
0 s"), while remaining() rightly says 0."""
from __future__ import annotations

from providers.base import RateLimit
from routing.health import ProviderBudget


def test_a_spent_budget_reports_a_positive_refill_time():
    budget = ProviderBudget(RateLimit(5, 60))          # capacity 4 per 60 s
    for _ in range(budget.capacity):
        assert budget.try_spend(1)
    assert budget.remaining() == 0
    assert 59.0 < budget.wait_s() <= 60.0
