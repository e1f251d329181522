from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from returnhub.domain.retry import DEFAULT_DELAYS, RetryPolicy

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def test_default_schedule_spans_about_a_day_in_eight_attempts() -> None:
    policy = RetryPolicy(jitter=0.0)
    assert policy.max_attempts == 8
    waits = [policy.next_attempt_at(n, NOW) for n in range(1, 8)]
    assert [(w - NOW).total_seconds() for w in waits if w] == list(map(float, DEFAULT_DELAYS))
    assert policy.next_attempt_at(8, NOW) is None
    assert 22 * 3600 < sum(DEFAULT_DELAYS) < 26 * 3600


def test_jitter_stays_within_bounds() -> None:
    policy = RetryPolicy(delays=(100,), jitter=0.2, rng=random.Random(1))
    for _ in range(200):
        at = policy.next_attempt_at(1, NOW)
        assert at is not None
        assert timedelta(seconds=80) <= at - NOW <= timedelta(seconds=120)


def test_retry_after_wins_when_longer() -> None:
    policy = RetryPolicy(delays=(30,), jitter=0.0)
    assert policy.next_attempt_at(1, NOW, retry_after=600) == NOW + timedelta(seconds=600)
    assert policy.next_attempt_at(1, NOW, retry_after=5) == NOW + timedelta(seconds=30)


@pytest.mark.parametrize("spec", ["", "a,b", "10,-1", "0"])
def test_bad_specs(spec: str) -> None:
    with pytest.raises(ValueError, match="retry delays"):
        RetryPolicy.parse(spec)


def test_parse() -> None:
    assert RetryPolicy.parse("1, 2,3").delays == (1, 2, 3)
