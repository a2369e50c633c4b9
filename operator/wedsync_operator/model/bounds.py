"""The bounds a spec must keep, written once: the parser enforces them and the CRDs'
CEL rules state them (tests/unit/test_crds.py checks that each rule is the one made here).

The CRD rules refuse at ``kubectl apply``; the parser refuses what reached the cluster
without them (objects stored before a CRD upgrade, a CRD installed without the rules), so
no value out of these bounds ever reaches a decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from wedsync_operator.model.durations import parse_duration

# The API server's limit on duration strings (maxLength in the CRDs), kept by the parser.
DURATION_MAX_LENGTH = 32
# Decimal strings (metric targets, loadFactor) are at most this long in the CRDs.
DECIMAL_MAX_LENGTH = 32

# The years a WeddingDay's start and end may name: a planning horizon, far enough both
# ways for any real calendar and near enough that start - leadTime and end + windDown
# are always representable instants.
YEAR_MIN = 2000
YEAR_MAX = 2199

# Integer fields declared ``format: int32`` / ``int64``: the parser keeps to them too, so
# a replica count always fits the /scale subresource.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

# Go's time.ParseDuration (CEL's duration()) fails on values past ~292 years: a CEL rule
# calls it only on text whose every part stays far below that (9999h, 999999m,
# 9999999s, 9999999999ms, leading zeros aside; at most 32 characters), so the rule
# answers with its message rather than an evaluation error. Every such part already
# exceeds every upper bound below, so the guard refuses nothing a bound would allow.
_CEL_DURATION_GUARD = "^(0*[0-9]{1,4}h|0*[0-9]{1,6}m|0*[0-9]{1,7}s|0*[0-9]{1,10}ms)+$"


@dataclass(frozen=True)
class DurationBound:
    """The accepted range of one duration field, both ends included."""

    low: str
    high: str
    note: str = ""  # the upper end in words, e.g. "7 days"

    @property
    def minimum(self) -> timedelta:
        return parse_duration(self.low)

    @property
    def maximum(self) -> timedelta:
        return parse_duration(self.high)

    @property
    def message(self) -> str:
        """The CEL rule's message, also the parser's (the server prefixes the field)."""
        note = f" ({self.note})" if self.note else ""
        return f"must be a duration from {self.low} to {self.high}{note}"

    @property
    def cel_rule(self) -> str:
        return (
            f"self.matches('{_CEL_DURATION_GUARD}') && "
            f"duration(self) >= duration('{self.low}') && "
            f"duration(self) <= duration('{self.high}')"
        )

    def holds(self, value: timedelta) -> bool:
        return self.minimum <= value <= self.maximum


# An SRE scales ahead of an event by hours, at most days; a week covers any event.
LEAD_TIME = DurationBound("0s", "168h", "7 days")
WIND_DOWN = DurationBound("0s", "168h", "7 days")
READINESS_DEADLINE = DurationBound("0s", "168h", "7 days")
TIER_READY_TIMEOUT = DurationBound("1s", "24h")
# An evaluation every second at the most, and at least every hour.
INTERVAL = DurationBound("1s", "1h")
# Network timeouts: long enough for a real round trip, short enough not to stall a loop.
TIMEOUT = DurationBound("100ms", "60s")
CACHE_TTL = DurationBound("1s", "720h", "30 days")
MAX_REPLICA_LAG = DurationBound("0s", "1h")

# Every bounded duration field, by kind and spec path (the CRD test walks this table).
DURATIONS: dict[tuple[str, str], DurationBound] = {
    ("WeddingDay", "spec.leadTime"): LEAD_TIME,
    ("WeddingDay", "spec.windDown"): WIND_DOWN,
    ("PlatformScaling", "spec.prometheus.timeout"): TIMEOUT,
    ("PlatformScaling", "spec.interval.normal"): INTERVAL,
    ("PlatformScaling", "spec.interval.weddingDay"): INTERVAL,
    ("PlatformScaling", "spec.weddingDay.cacheWarming.ttl"): CACHE_TTL,
    ("PlatformScaling", "spec.weddingDay.readinessDeadline"): READINESS_DEADLINE,
    ("PlatformScaling", "spec.weddingDay.tierReadyTimeout"): TIER_READY_TIMEOUT,
    ("PlatformScaling", "spec.safety.redis.timeout"): TIMEOUT,
    ("PlatformScaling", "spec.safety.postgres.timeout"): TIMEOUT,
    ("PlatformScaling", "spec.safety.postgres.maxReplicaLag"): MAX_REPLICA_LAG,
}

YEAR_MESSAGE = f"must be in the years {YEAR_MIN} to {YEAR_MAX}"
# start and end begin with four digits (the schema's pattern): text order is year order.
YEAR_CEL_RULE = f"self >= '{YEAR_MIN}' && self < '{YEAR_MAX + 1}'"

# The pattern lets 2027-02-30 and 2027-04-31 through, and CEL's timestamp() then fails
# inside "end must be after start" with a message that names no field: this rule names
# it. Guarded by a match, so substring() never runs on text too short for it.
DATE_MESSAGE = "must be a date and time that exists (no 30 February, no 31 April)"
_Y = "int(self.substring(0, 4))"
_M = "self.substring(5, 7)"
_D = "int(self.substring(8, 10))"
DATE_CEL_RULE = (
    "!self.matches('^[0-9]{4}-[0-9]{2}-[0-9]{2}T') || "
    f"({_M} == '02' ? {_D} <= ({_Y} % 4 == 0 && ({_Y} % 100 != 0 || {_Y} % 400 == 0) ? 29 : 28)"
    f" : !({_M} in ['04', '06', '09', '11']) || {_D} <= 30)"
)
