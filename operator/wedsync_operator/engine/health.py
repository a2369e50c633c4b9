"""A 0-100 platform health score with advice an SRE can act on.

Each signal is scored linearly between a "good" bound (100) and a "bad" bound (0), then
the scores are averaged with fixed weights. Signals without a query (or without a usable
sample) are left out and the remaining weights renormalised, so a policy that only
watches latency is not marked down for lacking a cache.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

API_P95_GOOD_SECONDS = 0.2
API_P95_BAD_SECONDS = 1.0
ERROR_RATE_GOOD = 0.001
ERROR_RATE_BAD = 0.05
CACHE_HIT_GOOD = 0.95
CACHE_HIT_BAD = 0.5
DB_P95_GOOD_SECONDS = 0.05
DB_P95_BAD_SECONDS = 0.5
UTILIZATION_GOOD_PERCENT = 70.0
UTILIZATION_BAD_PERCENT = 95.0

WEIGHT_API_P95 = 0.25
WEIGHT_ERROR_RATE = 0.25
WEIGHT_CACHE_HIT = 0.20
WEIGHT_DB_P95 = 0.20
WEIGHT_UTILIZATION = 0.10

# Components scoring below this get a recommendation.
RECOMMEND_BELOW = 70

NO_QUERIES_RECOMMENDATION = "configure spec.health queries to get a health score"


@dataclass(frozen=True)
class HealthInputs:
    api_p95_seconds: float | None = None
    error_rate: float | None = None  # 0..1
    cache_hit_ratio: float | None = None  # 0..1
    db_p95_seconds: float | None = None
    utilization_percent: float | None = None  # 0..100


@dataclass(frozen=True)
class Health:
    score: int
    components: Mapping[str, int] = field(default_factory=dict)
    recommendations: tuple[str, ...] = ()


def _seconds(x: float) -> str:
    return f"{x:.3g} s"


def _percent(x: float) -> str:
    return f"{x * 100:.3g}%"


@dataclass(frozen=True)
class _Component:
    key: str  # the HealthInputs field, also the key in Health.components
    weight: float
    good: float
    bad: float
    # How a value reads in a sentence, and what to do about a poor one.
    label: str
    show: Callable[[float], str]
    advice: str


_COMPONENTS = (
    _Component(
        "api_p95_seconds",
        WEIGHT_API_P95,
        API_P95_GOOD_SECONDS,
        API_P95_BAD_SECONDS,
        "API p95",
        _seconds,
        "add app replicas or check slow endpoints",
    ),
    _Component(
        "error_rate",
        WEIGHT_ERROR_RATE,
        ERROR_RATE_GOOD,
        ERROR_RATE_BAD,
        "error rate",
        _percent,
        "check recent deploys and failing dependencies",
    ),
    _Component(
        "cache_hit_ratio",
        WEIGHT_CACHE_HIT,
        CACHE_HIT_GOOD,
        CACHE_HIT_BAD,
        "cache hit ratio",
        _percent,
        "warm the cache for upcoming weddings or raise cache TTLs",
    ),
    _Component(
        "db_p95_seconds",
        WEIGHT_DB_P95,
        DB_P95_GOOD_SECONDS,
        DB_P95_BAD_SECONDS,
        "DB p95",
        _seconds,
        "add read replicas or check slow queries",
    ),
    _Component(
        "utilization_percent",
        WEIGHT_UTILIZATION,
        UTILIZATION_GOOD_PERCENT,
        UTILIZATION_BAD_PERCENT,
        "utilization",
        lambda x: f"{x:.3g}%",
        "add capacity before load grows further",
    ),
)


def _exact(x: float) -> Fraction:
    # Score on the decimals as written (0.34 s, not 0.34000000000000002 s) so a value on
    # a rounding edge lands where a person doing the sum by hand expects.
    return Fraction(repr(float(x)))


def _round(x: Fraction) -> int:
    # Half up, not Python's half-to-even: 82.5 reads as 83 on a dashboard.
    return math.floor(x + Fraction(1, 2))


def component_score(value: float, good: float, bad: float) -> int:
    """100 at or beyond ``good``, 0 at or beyond ``bad``, linear in between; works for
    both directions (bad above good for latencies, below good for hit ratios)."""
    v, g, b = _exact(value), _exact(good), _exact(bad)
    fraction = (b - v) / (b - g)
    return _round(100 * min(Fraction(1), max(Fraction(0), fraction)))


def health_score(inputs: HealthInputs) -> Health:
    components: dict[str, int] = {}
    recommendations: list[str] = []
    weighted = Fraction(0)
    total_weight = Fraction(0)
    for c in _COMPONENTS:
        value: float | None = getattr(inputs, c.key)
        # NaN or infinite samples carry no information; treat them as not configured.
        if value is None or not math.isfinite(value):
            continue
        score = component_score(value, c.good, c.bad)
        components[c.key] = score
        weighted += _exact(c.weight) * score
        total_weight += _exact(c.weight)
        if score < RECOMMEND_BELOW:
            relation = "≥" if c.good > c.bad else "≤"
            recommendations.append(
                f"{c.label} is {c.show(value)} (goal {relation} {c.show(c.good)}): {c.advice}"
            )
    if not components:
        return Health(score=100, components={}, recommendations=(NO_QUERIES_RECOMMENDATION,))
    return Health(
        score=_round(weighted / total_weight),
        components=components,
        recommendations=tuple(recommendations),
    )
