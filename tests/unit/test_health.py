"""Health score: linear components, weights, renormalisation, recommendations."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wedsync_operator.engine.health import (
    NO_QUERIES_RECOMMENDATION,
    Health,
    HealthInputs,
    component_score,
    health_score,
)

ALL_GOOD = HealthInputs(
    api_p95_seconds=0.1,
    error_rate=0.0005,
    cache_hit_ratio=0.99,
    db_p95_seconds=0.02,
    utilization_percent=50,
)
ALL_BAD = HealthInputs(
    api_p95_seconds=2.0,
    error_rate=0.2,
    cache_hit_ratio=0.3,
    db_p95_seconds=1.0,
    utilization_percent=99,
)


@pytest.mark.parametrize(
    ("value", "good", "bad", "score"),
    [
        (0.2, 0.2, 1.0, 100),  # at good
        (0.1, 0.2, 1.0, 100),  # better than good
        (1.0, 0.2, 1.0, 0),  # at bad
        (3.0, 0.2, 1.0, 0),  # worse than bad
        (0.6, 0.2, 1.0, 50),
        (0.8, 0.2, 1.0, 25),
        (0.725, 0.95, 0.5, 50),  # higher is better for hit ratios
        (0.95, 0.95, 0.5, 100),
        (0.4, 0.95, 0.5, 0),
        (82.5, 70, 95, 50),
        (0.44, 0.2, 1.0, 70),
    ],
)
def test_component_is_scored_linearly_between_good_and_bad(
    value: float, good: float, bad: float, score: int
) -> None:
    assert component_score(value, good, bad) == score


def test_all_good_inputs_score_100_without_recommendations() -> None:
    h = health_score(ALL_GOOD)
    assert h == Health(
        score=100,
        components={
            "api_p95_seconds": 100,
            "error_rate": 100,
            "cache_hit_ratio": 100,
            "db_p95_seconds": 100,
            "utilization_percent": 100,
        },
        recommendations=(),
    )


def test_all_bad_inputs_score_0_with_one_recommendation_each() -> None:
    h = health_score(ALL_BAD)
    assert h.score == 0
    assert h.recommendations == (
        "API p95 is 2 s (goal ≤ 0.2 s): add app replicas or check slow endpoints",
        "error rate is 20% (goal ≤ 0.1%): check recent deploys and failing dependencies",
        "cache hit ratio is 30% (goal ≥ 95%): warm the cache for upcoming weddings or raise "
        "cache TTLs",
        "DB p95 is 1 s (goal ≤ 0.05 s): add read replicas or check slow queries",
        "utilization is 99% (goal ≤ 70%): add capacity before load grows further",
    )


@pytest.mark.parametrize(
    ("bad_field", "bad_value", "score"),
    [
        ("api_p95_seconds", 1.0, 75),  # weight 0.25
        ("error_rate", 0.05, 75),  # weight 0.25
        ("cache_hit_ratio", 0.5, 80),  # weight 0.20
        ("db_p95_seconds", 0.5, 80),  # weight 0.20
        ("utilization_percent", 95, 90),  # weight 0.10
    ],
)
def test_each_component_carries_its_weight(bad_field: str, bad_value: float, score: int) -> None:
    inputs = HealthInputs(**{**ALL_GOOD.__dict__, bad_field: bad_value})
    h = health_score(inputs)
    assert h.score == score
    assert h.components[bad_field] == 0


def test_missing_inputs_are_left_out_and_weights_renormalised() -> None:
    # API p95 scores 50 (weight 0.25), error rate 100 (weight 0.25): 75, not 37.
    h = health_score(HealthInputs(api_p95_seconds=0.6, error_rate=0.001))
    assert h.score == 75
    assert h.components == {"api_p95_seconds": 50, "error_rate": 100}


def test_single_input_is_the_score() -> None:
    assert health_score(HealthInputs(db_p95_seconds=0.275)).score == 50


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_unusable_samples_count_as_missing(value: float) -> None:
    h = health_score(HealthInputs(api_p95_seconds=value, cache_hit_ratio=0.95))
    assert h.components == {"cache_hit_ratio": 100}
    assert h.score == 100


def test_without_inputs_the_score_is_100_with_advice_to_configure_queries() -> None:
    assert health_score(HealthInputs()) == Health(
        score=100, components={}, recommendations=(NO_QUERIES_RECOMMENDATION,)
    )
    assert NO_QUERIES_RECOMMENDATION == "configure spec.health queries to get a health score"


def test_recommendation_names_value_goal_and_action() -> None:
    h = health_score(HealthInputs(api_p95_seconds=0.8))
    assert h.recommendations == (
        "API p95 is 0.8 s (goal ≤ 0.2 s): add app replicas or check slow endpoints",
    )


@pytest.mark.parametrize(("latency", "recommended"), [(0.44, False), (0.45, True)])
def test_recommendation_only_below_70(latency: float, recommended: bool) -> None:
    # 0.44 s scores exactly 70; 0.45 s scores 69.
    h = health_score(HealthInputs(api_p95_seconds=latency))
    assert h.components["api_p95_seconds"] == (70 if latency == 0.44 else 69)
    assert bool(h.recommendations) is recommended


def test_scores_round_half_up() -> None:
    # 82.5 → 83 (Python's round() would give 82).
    h = health_score(HealthInputs(api_p95_seconds=0.34, error_rate=0.001))
    assert h.components["api_p95_seconds"] == 83  # (1.0 - 0.34) / 0.8 = 0.825
    assert h.score == 92  # (83 + 100) / 2 = 91.5 → 92


OPTIONAL = st.one_of(st.none(), st.floats(min_value=0, max_value=200, allow_nan=False))


@settings(max_examples=200, deadline=None)
@given(st.builds(HealthInputs, OPTIONAL, OPTIONAL, OPTIONAL, OPTIONAL, OPTIONAL))
def test_property_score_and_components_stay_within_0_and_100(inputs: HealthInputs) -> None:
    h = health_score(inputs)
    assert 0 <= h.score <= 100
    assert all(0 <= c <= 100 for c in h.components.values())
    assert len(h.recommendations) == (
        sum(c < 70 for c in h.components.values()) if h.components else 1
    )
    if h.components:
        assert min(h.components.values()) <= h.score <= max(h.components.values())
