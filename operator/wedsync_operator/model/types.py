"""Typed, immutable views of the two custom resources.

Parsed once, at the edge (``model.parse``); everything past the edge works with these
and never with raw dicts. Times that the user wrote as wall-clock times stay as
``WallTime`` here: turning them into instants is a schedule decision (DST rules) and lives
in ``engine.schedule``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction


class Role(StrEnum):
    APP = "app"
    CACHE = "cache"
    DATABASE = "database"

    @property
    def stateful(self) -> bool:
        return self is not Role.APP


class MetricTargetType(StrEnum):
    VALUE = "Value"
    AVERAGE_VALUE = "AverageValue"
    UTILIZATION = "Utilization"


class PolicyType(StrEnum):
    PODS = "Pods"
    PERCENT = "Percent"


class SelectPolicy(StrEnum):
    MAX = "Max"
    MIN = "Min"
    DISABLED = "Disabled"


class HPAConflict(StrEnum):
    """What to do when a HorizontalPodAutoscaler already owns a target."""

    RAISE_MIN_REPLICAS = "RaiseMinReplicas"
    REFUSE = "Refuse"


@dataclass(frozen=True)
class WallTime:
    """A time as the user wrote it: either an absolute instant (RFC 3339 with offset)
    or a wall-clock time to be read in the WeddingDay's IANA time zone."""

    local: datetime  # naive when ``absolute`` is False
    absolute: bool

    def __str__(self) -> str:
        return self.local.isoformat()


@dataclass(frozen=True)
class LabelSelectorRequirement:
    key: str
    operator: str  # In | NotIn | Exists | DoesNotExist
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabelSelector:
    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.match_labels and not self.match_expressions


@dataclass(frozen=True)
class ObjectMeta:
    namespace: str
    name: str
    labels: tuple[tuple[str, str], ...] = ()
    generation: int = 0
    uid: str = ""

    @property
    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)


# --------------------------------------------------------------------------- WeddingDay


@dataclass(frozen=True)
class WeddingDay:
    meta: ObjectMeta
    start: WallTime
    end: WallTime
    time_zone: str | None
    lead_time: timedelta = timedelta(hours=2)
    wind_down: timedelta = timedelta(hours=1)
    expected_weddings: int = 1
    expected_guests: int = 0
    # Multiplies the policies' extra capacity (1.0 = as configured). A string in the
    # spec (no floats in specs), a float here.
    load_factor: float = 1.0
    policy_selector: LabelSelector = field(default_factory=LabelSelector)
    couple_ids: tuple[str, ...] = ()
    cancelled: bool = False


# ---------------------------------------------------------------------- PlatformScaling


@dataclass(frozen=True)
class TargetWeddingDay:
    min_replicas: int | None = None
    extra_capacity_percent: int | None = None  # overrides the policy-wide value


@dataclass(frozen=True)
class Target:
    api_version: str
    kind: str
    name: str
    role: Role
    min_replicas: int
    max_replicas: int
    wedding_day: TargetWeddingDay = field(default_factory=TargetWeddingDay)


@dataclass(frozen=True)
class Metric:
    name: str
    query: str
    target_type: MetricTargetType
    target_value: float
    wedding_day_target_value: float | None = None
    # Names of the targets this metric drives; empty means every target of the policy.
    targets: tuple[str, ...] = ()

    def applies_to(self, target: str) -> bool:
        return not self.targets or target in self.targets


@dataclass(frozen=True)
class SecretKeyRef:
    name: str
    key: str


@dataclass(frozen=True)
class PrometheusSpec:
    url: str | None  # None: the operator's default (--default-prometheus-url)
    timeout: timedelta = timedelta(seconds=5)
    bearer_token: SecretKeyRef | None = None


@dataclass(frozen=True)
class Intervals:
    normal: timedelta = timedelta(seconds=30)
    wedding_day: timedelta = timedelta(seconds=10)


@dataclass(frozen=True)
class ScalingPolicy:
    type: PolicyType
    value: int
    period_seconds: int


@dataclass(frozen=True)
class ScalingRules:
    stabilization_window_seconds: int
    select_policy: SelectPolicy
    policies: tuple[ScalingPolicy, ...]
    # How far the usage ratio may stray from 1 in this direction before it counts, as
    # autoscaling/v2's behavior.*.tolerance (Kubernetes 1.33); None: HPA's default 10%.
    tolerance: Fraction | None = None


# Defaults are the HorizontalPodAutoscaler's (autoscaling/v2).
DEFAULT_SCALE_UP = ScalingRules(
    stabilization_window_seconds=0,
    select_policy=SelectPolicy.MAX,
    policies=(ScalingPolicy(PolicyType.PERCENT, 100, 15), ScalingPolicy(PolicyType.PODS, 4, 15)),
)
DEFAULT_SCALE_DOWN = ScalingRules(
    stabilization_window_seconds=300,
    select_policy=SelectPolicy.MAX,
    policies=(ScalingPolicy(PolicyType.PERCENT, 100, 15),),
)


@dataclass(frozen=True)
class Behavior:
    scale_up: ScalingRules = DEFAULT_SCALE_UP
    scale_down: ScalingRules = DEFAULT_SCALE_DOWN


@dataclass(frozen=True)
class Fallback:
    failure_threshold: int = 3
    # None means hold the current replica count.
    replicas: int | None = None


@dataclass(frozen=True)
class CacheWarming:
    enabled: bool = False
    redis: SecretKeyRef | None = None  # Secret key holding a redis:// URL
    postgres: SecretKeyRef | None = None  # Secret key holding a postgresql:// DSN
    query: str = (
        "SELECT couple_id::text AS key, row_to_json(c)::text AS payload "
        "FROM core_fields c WHERE couple_id::text = ANY($1::text[])"
    )
    key_template: str = "couple:{key}:core"
    ttl: timedelta = timedelta(hours=24)
    batch_size: int = 500


@dataclass(frozen=True)
class Matcher:
    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True


DEFAULT_SILENCE_MATCHERS = (Matcher(name="severity", value="critical", is_equal=False),)


@dataclass(frozen=True)
class SilenceAlerts:
    alertmanager_url: str
    matchers: tuple[Matcher, ...] = DEFAULT_SILENCE_MATCHERS


@dataclass(frozen=True)
class WeddingDayPolicy:
    extra_capacity_percent: int = 20
    freeze_scale_down: bool = True
    cache_warming: CacheWarming = field(default_factory=CacheWarming)
    silence_alerts: SilenceAlerts | None = None
    mode_config_map: str = "wedsync-mode"
    cache_ttl_multiplier: int = 4
    # How long before a day's start its targets must be ready; later → Warning.
    readiness_deadline: timedelta = timedelta(minutes=30)
    # How long the next tier of the pre-scale waits for one not ready before it goes ahead.
    tier_ready_timeout: timedelta = timedelta(minutes=10)


@dataclass(frozen=True)
class RedisSafety:
    secret: SecretKeyRef  # key holds a redis:// URL of the primary
    max_offset_lag: int = 1024 * 1024  # bytes of replication offset a replica may trail
    min_replicas_in_sync: int | None = None  # default: the target's current replicas
    timeout: timedelta = timedelta(seconds=2)


@dataclass(frozen=True)
class PostgresSafety:
    secret: SecretKeyRef  # key holds a postgresql:// DSN of the primary
    max_replica_lag: timedelta = timedelta(seconds=10)
    max_replica_lag_bytes: int = 16 * 1024 * 1024
    timeout: timedelta = timedelta(seconds=3)


@dataclass(frozen=True)
class Safety:
    redis: RedisSafety | None = None
    postgres: PostgresSafety | None = None

    def covers(self, role: Role) -> bool:
        """Whether a target of ``role`` has its store's check configured."""
        return (role is Role.CACHE and self.redis is not None) or (
            role is Role.DATABASE and self.postgres is not None
        )


@dataclass(frozen=True)
class HealthQueries:
    api_p95_seconds: str | None = None
    error_rate: str | None = None
    cache_hit_ratio: str | None = None
    db_p95_seconds: str | None = None
    utilization_percent: str | None = None


@dataclass(frozen=True)
class PlatformScaling:
    meta: ObjectMeta
    targets: tuple[Target, ...]
    metrics: tuple[Metric, ...]
    prometheus: PrometheusSpec | None
    interval: Intervals = field(default_factory=Intervals)
    behavior: Behavior = field(default_factory=Behavior)
    fallback: Fallback = field(default_factory=Fallback)
    wedding_day: WeddingDayPolicy = field(default_factory=WeddingDayPolicy)
    safety: Safety = field(default_factory=Safety)
    health: HealthQueries = field(default_factory=HealthQueries)
    hpa_conflict: HPAConflict = HPAConflict.RAISE_MIN_REPLICAS
    paused: bool = False
    dry_run: bool = False

    def target(self, name: str) -> Target:
        for t in self.targets:
            if t.name == name:
                return t
        raise KeyError(name)
