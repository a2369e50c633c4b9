"""Parse custom-resource dicts into the typed model, once, at the edge.

Every problem is reported with its field path (``spec.targets[1].maxReplicas``) and all
problems of an object are reported together, so an SRE fixes a manifest in one pass. The
API server's schema and CEL rules reject most of these at ``kubectl apply``; the same
checks run here for files validated offline and for objects created before a CRD upgrade.
Defaults mirror the CRD schema's, so an object read from a file means what the server
would store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from wedsync_operator.model import bounds
from wedsync_operator.model import types as t
from wedsync_operator.model.bounds import DurationBound
from wedsync_operator.model.durations import DurationOverflow, parse_duration
from wedsync_operator.model.words import shown

GROUP = "wedsync.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
WEDDING_DAY = "WeddingDay"
PLATFORM_SCALING = "PlatformScaling"

# [0-9], not \d (any Unicode digit), and fullmatch, not $ (which passes a trailing
# newline): the parser accepts what the CRD's patterns accept.
_LOCAL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}")
_OFFSET_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})"
)
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")
# A tolerance as autoscaling/v2 writes it (a Quantity): "0.05" or "50m".
_TOLERANCE = re.compile(r"(?:([0-9]+(?:\.[0-9]{1,3})?)|([0-9]{1,4})m)")

T = TypeVar("T")


@dataclass(frozen=True)
class FieldError:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class InvalidSpec(ValueError):
    """An object that cannot be honoured; ``errors`` lists every field at fault."""

    def __init__(self, kind: str, name: str, errors: list[FieldError]) -> None:
        self.kind = kind
        self.name = name
        self.errors = errors
        listing = "; ".join(str(e) for e in errors)
        super().__init__(f"{kind} {name or '<unnamed>'} is invalid: {listing}")


class _Reader:
    """Walks a dict and records errors instead of raising at the first one."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def fail(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    @contextmanager
    def guard(self) -> Iterator[None]:
        # A sub-reader raises _Abort after recording its error, so the caller keeps going.
        with suppress(_Abort):
            yield

    def mapping(self, obj: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        value = obj.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.fail(_join(path, key), "must be an object")
            return {}
        return value

    def items(self, obj: Mapping[str, Any], key: str, path: str) -> list[Any]:
        value = obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(_join(path, key), "must be a list")
            return []
        return value

    def each(
        self, obj: Mapping[str, Any], key: str, path: str
    ) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """The items of a list of objects, with their paths; an item that is not an
        object is recorded and skipped."""
        for i, item in enumerate(self.items(obj, key, path)):
            where = f"{_join(path, key)}[{i}]"
            if isinstance(item, Mapping):
                yield where, item
            else:
                self.fail(where, "must be an object")

    def get(
        self,
        obj: Mapping[str, Any],
        key: str,
        path: str,
        convert: Callable[[Any], T],
        default: T | None = None,
        *,
        required: bool = False,
    ) -> T:
        value = obj.get(key)
        where = _join(path, key)
        if value is None:
            if required:
                self.fail(where, "is required")
                raise _Abort
            if default is None:
                raise _Abort
            return default
        try:
            return convert(value)
        except (TypeError, ValueError) as exc:
            self.fail(where, str(exc))
            raise _Abort from None

    def optional(
        self, obj: Mapping[str, Any], key: str, path: str, convert: Callable[[Any], T]
    ) -> T | None:
        if obj.get(key) is None:
            return None
        try:
            return self.get(obj, key, path, convert)
        except _Abort:
            return None


class _Abort(Exception):
    pass


def _join(path: str, key: str) -> str:
    # A top-level field is "spec", not ".spec".
    return f"{path}.{key}" if path else key


# ----------------------------------------------------------------------- converters


def _int(minimum: int | None = None, maximum: int = bounds.INT32_MAX) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be an integer, not {shown(value)}")
        if minimum is not None and value < minimum:
            raise ValueError(f"must be at least {minimum}, not {shown(value)}")
        if value > maximum:
            raise ValueError(f"must be at most {maximum}, not {shown(value)}")
        return value

    return convert


def _str(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"must be a non-empty string, not {shown(value)}")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, not {shown(value)}")
    return value


def _within(bound: DurationBound) -> Callable[[Any], timedelta]:
    """A duration inside ``bound`` (the same range the CRD's CEL rule states)."""

    def convert(value: Any) -> timedelta:
        if isinstance(value, str) and len(value) > bounds.DURATION_MAX_LENGTH:
            raise ValueError(
                f"must be at most {bounds.DURATION_MAX_LENGTH} characters, "
                f"not {len(value)}; write it like 90s, 30m, 2h or 1h30m"
            )
        try:
            duration = parse_duration(value)
        except DurationOverflow:
            raise ValueError(f"{bound.message}, not {shown(value)}") from None
        if not bound.holds(duration):
            raise ValueError(f"{bound.message}, not {shown(value)}")
        return duration

    return convert


def _positive_number(value: Any) -> float:
    """An int-or-string quantity such as ``80`` or ``"0.5"`` (specs carry no floats)."""
    try:
        number = _decimal(value)
    except ValueError:
        number = 0.0
    if number <= 0:
        raise ValueError(f'must be a positive number such as 80 or "0.5", not {shown(value)}')
    return number


def _url(value: Any) -> str:
    text = _str(value)
    if not re.match(r"^https?://[^\s/]+", text):
        raise ValueError(f"must be an http:// or https:// URL, not {shown(text)}")
    return text.rstrip("/")


def _zone(value: Any) -> str:
    name = _str(value)
    try:
        ZoneInfo(name)
    # OSError: a name of a directory ("Europe") or too long for the file system.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"{shown(name)} is not an IANA time zone name; use one such as Europe/London "
            "or America/New_York"
        ) from None
    return name


def _wall_time(value: Any) -> t.WallTime:
    text = _str(value)
    local = _LOCAL_TIME.fullmatch(text)
    if local or _OFFSET_TIME.fullmatch(text):
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{bounds.DATE_MESSAGE}, not {shown(text)}") from None
        wall = t.WallTime(when, absolute=not local)
    else:
        raise ValueError(
            f"{shown(text)} is not a time; write RFC 3339 with an offset "
            "(2027-06-12T14:00:00+01:00) or a local time (2027-06-12T14:00:00) together "
            "with spec.timeZone"
        )
    # The year as written (the CRD's rule reads the text), before any offset applies.
    if not bounds.YEAR_MIN <= wall.local.year <= bounds.YEAR_MAX:
        raise ValueError(f"{bounds.YEAR_MESSAGE}, not {shown(text)}")
    return wall


def _decimal(value: Any) -> float:
    # An integer past a float's range (10**400) is refused like any other bad number.
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**1023:
        return float(value)
    if (
        isinstance(value, str)
        and len(value) <= bounds.DECIMAL_MAX_LENGTH
        and _DECIMAL.fullmatch(value)
    ):
        return float(value)
    raise ValueError(
        f'must be a decimal number written as a string such as "1.5", not {shown(value)}'
    )


def _tolerance(value: Any) -> Fraction:
    # Exact, so that a ratio on the band's edge (0.95 against "0.05") is inside it.
    if isinstance(value, int) and not isinstance(value, bool):
        return Fraction(value)
    if isinstance(value, str) and (m := _TOLERANCE.fullmatch(value)):
        return Fraction(m.group(1)) if m.group(1) else Fraction(int(m.group(2)), 1000)
    raise ValueError(f'must be a decimal such as "0.05" or a quantity such as "50m", not {value!r}')


# ----------------------------------------------------------------------------- shared


def _meta(r: _Reader, obj: Mapping[str, Any]) -> t.ObjectMeta:
    meta = r.mapping(obj, "metadata", "")
    labels = r.mapping(meta, "labels", "metadata")
    generation = meta.get("generation")
    return t.ObjectMeta(
        namespace=str(meta.get("namespace") or "default"),
        name=str(meta.get("name") or ""),
        labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        generation=generation if isinstance(generation, int) else 0,
        uid=str(meta.get("uid") or ""),
    )


def _secret_ref(r: _Reader, obj: Mapping[str, Any], path: str, default_key: str) -> t.SecretKeyRef:
    name = r.get(obj, "name", path, _str, required=True)
    key = r.get(obj, "key", path, _str, default_key)
    return t.SecretKeyRef(name=name, key=key)


def _optional_secret_ref(
    r: _Reader, parent: Mapping[str, Any], key: str, path: str, default_key: str
) -> t.SecretKeyRef | None:
    if parent.get(key) is None:
        return None
    with r.guard():
        return _secret_ref(r, r.mapping(parent, key, path), f"{path}.{key}", default_key)
    return None


def _selector(r: _Reader, spec: Mapping[str, Any], path: str) -> t.LabelSelector:
    raw = r.mapping(spec, "policySelector", path)
    where = f"{path}.policySelector"
    labels = r.mapping(raw, "matchLabels", where)
    expressions: list[t.LabelSelectorRequirement] = []
    for epath, expr in r.each(raw, "matchExpressions", where):
        with r.guard():
            op = r.get(expr, "operator", epath, _str, required=True)
            if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
                r.fail(
                    f"{epath}.operator",
                    f"must be In, NotIn, Exists or DoesNotExist, not {shown(op)}",
                )
                continue
            values = tuple(str(v) for v in r.items(expr, "values", epath))
            if op in ("In", "NotIn") and not values:
                r.fail(f"{epath}.values", f"must not be empty with operator {op}")
            expressions.append(
                t.LabelSelectorRequirement(
                    key=r.get(expr, "key", epath, _str, required=True), operator=op, values=values
                )
            )
    return t.LabelSelector(
        match_labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        match_expressions=tuple(expressions),
    )


# ------------------------------------------------------------------------- WeddingDay


def parse_wedding_day(obj: Mapping[str, Any]) -> t.WeddingDay:
    """The typed day; raises InvalidSpec (and nothing else) with every field at fault."""
    return _at_the_edge(WEDDING_DAY, obj, _wedding_day)


def _at_the_edge(kind: str, obj: Mapping[str, Any], parse: Callable[[Any], T]) -> T:
    """Whatever a spec holds, the caller gets a model or an InvalidSpec.

    The readers above check every field; this is the last line should one of them miss a
    case (tests/unit/test_spec_fuzz.py hunts for such): the object is then flagged as
    invalid on its own status, and the other objects' decisions go on without it rather
    than fail with it (a day's listing raising stops every policy of its namespace).
    """
    try:
        return parse(obj)
    except InvalidSpec:
        raise
    except Exception as exc:
        meta = obj.get("metadata") if isinstance(obj, Mapping) else None
        name = str(meta.get("name") or "") if isinstance(meta, Mapping) else ""
        raise InvalidSpec(
            kind,
            name,
            [FieldError("spec", f"cannot be read ({type(exc).__name__}); check every field")],
        ) from exc


def _wedding_day(obj: Mapping[str, Any]) -> t.WeddingDay:
    r = _Reader()
    meta = _meta(r, obj)
    spec = r.mapping(obj, "spec", "")
    p = "spec"
    start = end = None
    zone: str | None = None
    with r.guard():
        start = r.get(spec, "start", p, _wall_time, required=True)
    with r.guard():
        end = r.get(spec, "end", p, _wall_time, required=True)
    zone = r.optional(spec, "timeZone", p, _zone)
    for label, wall in (("start", start), ("end", end)):
        if wall is not None and not wall.absolute and spec.get("timeZone") is None:
            r.fail(f"spec.{label}", "a local time needs spec.timeZone (or write an offset)")
    day = None
    with r.guard():
        day = t.WeddingDay(
            meta=meta,
            start=start or t.WallTime(datetime.min, absolute=False),
            end=end or t.WallTime(datetime.min, absolute=False),
            time_zone=zone,
            lead_time=_field(r, spec, "leadTime", p, _within(bounds.LEAD_TIME), timedelta(hours=2)),
            wind_down=_field(r, spec, "windDown", p, _within(bounds.WIND_DOWN), timedelta(hours=1)),
            expected_weddings=_field(r, spec, "expectedWeddings", p, _int(1), 1),
            expected_guests=_field(r, spec, "expectedGuests", p, _int(0), 0),
            load_factor=_field(r, spec, "loadFactor", p, _decimal, 1.0),
            policy_selector=_selector(r, spec, p),
            couple_ids=tuple(str(c) for c in r.items(spec, "coupleIds", p)),
            cancelled=_field(r, spec, "cancelled", p, _bool, False),
        )
    if r.errors or day is None:
        raise InvalidSpec(WEDDING_DAY, meta.name, r.errors)
    return day


def _field(
    r: _Reader, obj: Mapping[str, Any], key: str, path: str, convert: Callable[[Any], T], default: T
) -> T:
    """A defaulted field: on error, record it and carry on with the default."""
    try:
        return r.get(obj, key, path, convert, default)
    except _Abort:
        return default


# -------------------------------------------------------------------- PlatformScaling


def _target(r: _Reader, raw: Mapping[str, Any], path: str) -> t.Target:
    wd = r.mapping(raw, "weddingDay", path)
    wpath = f"{path}.weddingDay"
    role_text = _field(r, raw, "role", path, _str, "app")
    try:
        role = t.Role(role_text)
    except ValueError:
        r.fail(f"{path}.role", f"must be app, cache or database, not {shown(role_text)}")
        role = t.Role.APP
    target = t.Target(
        api_version=_field(r, raw, "apiVersion", path, _str, "apps/v1"),
        kind=r.get(raw, "kind", path, _str, required=True),
        name=r.get(raw, "name", path, _str, required=True),
        role=role,
        min_replicas=_field(r, raw, "minReplicas", path, _int(0), 1),
        max_replicas=r.get(raw, "maxReplicas", path, _int(1), required=True),
        wedding_day=t.TargetWeddingDay(
            min_replicas=r.optional(wd, "minReplicas", wpath, _int(0)),
            extra_capacity_percent=r.optional(wd, "extraCapacityPercent", wpath, _int(0, 1000)),
        ),
    )
    if target.min_replicas > target.max_replicas:
        r.fail(
            f"{path}.minReplicas",
            f"minReplicas ({target.min_replicas}) must not exceed maxReplicas "
            f"({target.max_replicas})",
        )
    wd_min = target.wedding_day.min_replicas
    if wd_min is not None and wd_min > target.max_replicas:
        r.fail(
            f"{wpath}.minReplicas",
            f"wedding-day minReplicas ({wd_min}) must not exceed maxReplicas "
            f"({target.max_replicas})",
        )
    return target


def _metric(r: _Reader, raw: Mapping[str, Any], path: str) -> t.Metric:
    target = r.mapping(raw, "target", path)
    tpath = f"{path}.target"
    if not target:
        r.fail(tpath, "is required")
        raise _Abort
    type_text = r.get(target, "type", tpath, _str, required=True)
    try:
        target_type = t.MetricTargetType(type_text)
    except ValueError:
        r.fail(
            f"{tpath}.type", f"must be Value, AverageValue or Utilization, not {shown(type_text)}"
        )
        raise _Abort from None
    wd_target = r.mapping(raw, "weddingDayTarget", path)
    return t.Metric(
        name=r.get(raw, "name", path, _str, required=True),
        query=r.get(raw, "query", path, _str, required=True),
        target_type=target_type,
        target_value=r.get(target, "value", tpath, _positive_number, required=True),
        wedding_day_target_value=r.optional(
            wd_target, "value", f"{path}.weddingDayTarget", _positive_number
        ),
        targets=tuple(str(n) for n in r.items(raw, "targets", path)),
    )


def _rules(
    r: _Reader, behavior: Mapping[str, Any], key: str, path: str, default: t.ScalingRules
) -> t.ScalingRules:
    raw = r.mapping(behavior, key, path)
    where = f"{path}.{key}"
    if not raw:
        return default
    select_text = _field(r, raw, "selectPolicy", where, _str, default.select_policy.value)
    try:
        select = t.SelectPolicy(select_text)
    except ValueError:
        r.fail(f"{where}.selectPolicy", f"must be Max, Min or Disabled, not {shown(select_text)}")
        select = default.select_policy
    policies: list[t.ScalingPolicy] = []
    for ppath, pol in r.each(raw, "policies", where):
        with r.guard():
            type_text = r.get(pol, "type", ppath, _str, required=True)
            if type_text not in ("Pods", "Percent"):
                r.fail(f"{ppath}.type", f"must be Pods or Percent, not {shown(type_text)}")
                continue
            policies.append(
                t.ScalingPolicy(
                    type=t.PolicyType(type_text),
                    value=r.get(pol, "value", ppath, _int(1), required=True),
                    period_seconds=r.get(pol, "periodSeconds", ppath, _int(1, 1800), required=True),
                )
            )
    return t.ScalingRules(
        stabilization_window_seconds=_field(
            r,
            raw,
            "stabilizationWindowSeconds",
            where,
            _int(0, 3600),
            default.stabilization_window_seconds,
        ),
        select_policy=select,
        policies=tuple(policies) or default.policies,
        tolerance=_field(r, raw, "tolerance", where, _tolerance, default.tolerance),
    )


def _wedding_day_policy(r: _Reader, spec: Mapping[str, Any]) -> t.WeddingDayPolicy:
    p = "spec.weddingDay"
    raw = r.mapping(spec, "weddingDay", "spec")
    cw = r.mapping(raw, "cacheWarming", p)
    cpath = f"{p}.cacheWarming"
    defaults = t.CacheWarming()
    warming = t.CacheWarming(
        enabled=_field(r, cw, "enabled", cpath, _bool, False),
        redis=_optional_secret_ref(r, cw, "redisSecretRef", cpath, "url"),
        postgres=_optional_secret_ref(r, cw, "postgresSecretRef", cpath, "dsn"),
        query=_field(r, cw, "query", cpath, _str, defaults.query),
        key_template=_field(r, cw, "keyTemplate", cpath, _str, defaults.key_template),
        ttl=_field(r, cw, "ttl", cpath, _within(bounds.CACHE_TTL), defaults.ttl),
        batch_size=_field(r, cw, "batchSize", cpath, _int(1, 10000), defaults.batch_size),
    )
    if warming.enabled and (warming.redis is None or warming.postgres is None):
        r.fail(cpath, "cache warming needs redisSecretRef and postgresSecretRef")
    if "{key}" not in warming.key_template:
        r.fail(f"{cpath}.keyTemplate", "must contain {key}")
    silence = None
    if raw.get("silenceAlerts") is not None:
        sa = r.mapping(raw, "silenceAlerts", p)
        spath = f"{p}.silenceAlerts"
        matchers: list[t.Matcher] = []
        for mpath, m in r.each(sa, "matchers", spath):
            with r.guard():
                matchers.append(
                    t.Matcher(
                        name=r.get(m, "name", mpath, _str, required=True),
                        value=r.get(m, "value", mpath, str, required=True),
                        is_regex=_field(r, m, "isRegex", mpath, _bool, False),
                        is_equal=_field(r, m, "isEqual", mpath, _bool, True),
                    )
                )
        with r.guard():
            silence = t.SilenceAlerts(
                alertmanager_url=r.get(sa, "alertmanagerUrl", spath, _url, required=True),
                matchers=tuple(matchers) or t.DEFAULT_SILENCE_MATCHERS,
            )
    d = t.WeddingDayPolicy()
    return t.WeddingDayPolicy(
        extra_capacity_percent=_field(
            r, raw, "extraCapacityPercent", p, _int(0, 1000), d.extra_capacity_percent
        ),
        freeze_scale_down=_field(r, raw, "freezeScaleDown", p, _bool, d.freeze_scale_down),
        cache_warming=warming,
        silence_alerts=silence,
        mode_config_map=_field(r, raw, "modeConfigMap", p, _str, d.mode_config_map),
        cache_ttl_multiplier=_field(
            r, raw, "cacheTtlMultiplier", p, _int(1, 100), d.cache_ttl_multiplier
        ),
        readiness_deadline=_field(
            r,
            raw,
            "readinessDeadline",
            p,
            _within(bounds.READINESS_DEADLINE),
            d.readiness_deadline,
        ),
        tier_ready_timeout=_field(
            r,
            raw,
            "tierReadyTimeout",
            p,
            _within(bounds.TIER_READY_TIMEOUT),
            d.tier_ready_timeout,
        ),
    )


def _safety(r: _Reader, spec: Mapping[str, Any]) -> t.Safety:
    raw = r.mapping(spec, "safety", "spec")
    p = "spec.safety"
    redis = postgres = None
    if raw.get("redis") is not None:
        rr = r.mapping(raw, "redis", p)
        rpath = f"{p}.redis"
        d = t.RedisSafety(secret=t.SecretKeyRef("", ""))
        with r.guard():
            redis = t.RedisSafety(
                secret=_secret_ref(
                    r, r.mapping(rr, "secretRef", rpath), f"{rpath}.secretRef", "url"
                ),
                max_offset_lag=_field(
                    r, rr, "maxOffsetLag", rpath, _int(0, bounds.INT64_MAX), d.max_offset_lag
                ),
                min_replicas_in_sync=r.optional(rr, "minReplicasInSync", rpath, _int(0)),
                timeout=_field(r, rr, "timeout", rpath, _within(bounds.TIMEOUT), d.timeout),
            )
    if raw.get("postgres") is not None:
        pr = r.mapping(raw, "postgres", p)
        ppath = f"{p}.postgres"
        dp = t.PostgresSafety(secret=t.SecretKeyRef("", ""))
        with r.guard():
            postgres = t.PostgresSafety(
                secret=_secret_ref(
                    r, r.mapping(pr, "secretRef", ppath), f"{ppath}.secretRef", "dsn"
                ),
                max_replica_lag=_field(
                    r,
                    pr,
                    "maxReplicaLag",
                    ppath,
                    _within(bounds.MAX_REPLICA_LAG),
                    dp.max_replica_lag,
                ),
                max_replica_lag_bytes=_field(
                    r,
                    pr,
                    "maxReplicaLagBytes",
                    ppath,
                    _int(0, bounds.INT64_MAX),
                    dp.max_replica_lag_bytes,
                ),
                timeout=_field(r, pr, "timeout", ppath, _within(bounds.TIMEOUT), dp.timeout),
            )
    return t.Safety(redis=redis, postgres=postgres)


def parse_platform_scaling(obj: Mapping[str, Any]) -> t.PlatformScaling:
    """The typed policy; raises InvalidSpec (and nothing else) with every field at fault."""
    return _at_the_edge(PLATFORM_SCALING, obj, _platform_scaling)


def _platform_scaling(obj: Mapping[str, Any]) -> t.PlatformScaling:
    r = _Reader()
    meta = _meta(r, obj)
    spec = r.mapping(obj, "spec", "")
    p = "spec"

    targets: list[t.Target] = []
    if spec.get("targets") in (None, []):  # a non-list is reported by r.each
        r.fail("spec.targets", "needs at least one target")
    for tpath, raw in r.each(spec, "targets", p):
        with r.guard():
            targets.append(_target(r, raw, tpath))
    _unique(r, [x.name for x in targets], "spec.targets", "target names must be unique")

    metrics: list[t.Metric] = []
    for mpath, raw in r.each(spec, "metrics", p):
        with r.guard():
            metrics.append(_metric(r, raw, mpath))
    _unique(r, [m.name for m in metrics], "spec.metrics", "metric names must be unique")
    names = {x.name for x in targets}
    for i, m in enumerate(metrics):
        for n in m.targets:
            if n not in names:
                r.fail(f"spec.metrics[{i}].targets", f"{shown(n)} is not a target of this policy")

    prometheus = None
    # Without a block or a URL, the operator's default Prometheus URL is used
    # (model/endpoints.resolve_endpoints reports a policy that needs one and has none).
    wants_queries = bool(metrics) or any((spec.get("health") or {}).values())
    if spec.get("prometheus") is not None or wants_queries:
        pr = r.mapping(spec, "prometheus", p)
        with r.guard():
            prometheus = t.PrometheusSpec(
                url=r.optional(pr, "url", "spec.prometheus", _url),
                timeout=_field(
                    r,
                    pr,
                    "timeout",
                    "spec.prometheus",
                    _within(bounds.TIMEOUT),
                    timedelta(seconds=5),
                ),
                bearer_token=_optional_secret_ref(r, pr, "secretRef", "spec.prometheus", "token"),
            )

    iv = r.mapping(spec, "interval", p)
    every = _within(bounds.INTERVAL)
    intervals = t.Intervals(
        normal=_field(r, iv, "normal", "spec.interval", every, timedelta(seconds=30)),
        wedding_day=_field(r, iv, "weddingDay", "spec.interval", every, timedelta(seconds=10)),
    )

    beh = r.mapping(spec, "behavior", p)
    behavior = t.Behavior(
        scale_up=_rules(r, beh, "scaleUp", "spec.behavior", t.DEFAULT_SCALE_UP),
        scale_down=_rules(r, beh, "scaleDown", "spec.behavior", t.DEFAULT_SCALE_DOWN),
    )
    fb = r.mapping(spec, "fallback", p)
    fallback = t.Fallback(
        failure_threshold=_field(r, fb, "failureThreshold", "spec.fallback", _int(1), 3),
        replicas=r.optional(fb, "replicas", "spec.fallback", _int(0)),
    )
    hq = r.mapping(spec, "health", p)
    health = t.HealthQueries(
        api_p95_seconds=r.optional(hq, "apiP95SecondsQuery", "spec.health", _str),
        error_rate=r.optional(hq, "errorRateQuery", "spec.health", _str),
        cache_hit_ratio=r.optional(hq, "cacheHitRatioQuery", "spec.health", _str),
        db_p95_seconds=r.optional(hq, "dbP95SecondsQuery", "spec.health", _str),
        utilization_percent=r.optional(hq, "utilizationPercentQuery", "spec.health", _str),
    )
    conflict_text = _field(r, spec, "hpaConflict", p, _str, "RaiseMinReplicas")
    try:
        conflict = t.HPAConflict(conflict_text)
    except ValueError:
        r.fail(
            "spec.hpaConflict", f"must be RaiseMinReplicas or Refuse, not {shown(conflict_text)}"
        )
        conflict = t.HPAConflict.RAISE_MIN_REPLICAS

    policy = t.PlatformScaling(
        meta=meta,
        targets=tuple(targets),
        metrics=tuple(metrics),
        prometheus=prometheus,
        interval=intervals,
        behavior=behavior,
        fallback=fallback,
        wedding_day=_wedding_day_policy(r, spec),
        safety=_safety(r, spec),
        health=health,
        hpa_conflict=conflict,
        paused=_field(r, spec, "paused", p, _bool, False),
        dry_run=_field(r, spec, "dryRun", p, _bool, False),
    )
    if r.errors:
        raise InvalidSpec(PLATFORM_SCALING, meta.name, r.errors)
    return policy


def _unique(r: _Reader, names: list[str], path: str, message: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            r.fail(path, f"{message}: {shown(n)} appears more than once")
        seen.add(n)


# ---------------------------------------------------------------------------- generic


def parse_object(obj: Mapping[str, Any]) -> t.WeddingDay | t.PlatformScaling:
    """Parse any wedsync.io object by its kind."""
    kind = obj.get("kind")
    name = str((obj.get("metadata") or {}).get("name") or "")
    if obj.get("apiVersion") != API_VERSION:
        raise InvalidSpec(
            str(kind),
            name,
            [
                FieldError(
                    "apiVersion", f"must be {API_VERSION}, not {shown(obj.get('apiVersion'))}"
                )
            ],
        )
    if kind == WEDDING_DAY:
        return parse_wedding_day(obj)
    if kind == PLATFORM_SCALING:
        return parse_platform_scaling(obj)
    raise InvalidSpec(
        str(kind), name, [FieldError("kind", f"must be {WEDDING_DAY} or {PLATFORM_SCALING}")]
    )
