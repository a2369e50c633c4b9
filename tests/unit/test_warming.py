"""Cache warming, the pure parts: keys, batches, TTLs, the fingerprint and the report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wedsync_operator.engine.warming import (
    WarmResult,
    batches,
    cache_key,
    couples_to_warm,
    ttl_seconds,
    warm_fingerprint,
    warming_status,
)
from wedsync_operator.model.parse import parse_wedding_day
from wedsync_operator.model.types import CacheWarming, WeddingDay


@pytest.mark.parametrize(
    ("template", "key", "expected"),
    [
        ("couple:{key}:core", "c-1", "couple:c-1:core"),
        ("{key}", "c-1", "c-1"),
        ("wd:{{key}}:core", "c-1", "wd:{c-1}:core"),  # a Redis Cluster hash tag stays
        ("couple:{key}:core", "{weird}", "couple:{weird}:core"),
        ("x:{key}:{key}", "a", "x:a:a"),
        ("couple:{key}:{other}", "a", "couple:a:{other}"),  # not str.format
    ],
)
def test_cache_keys_substitute_only_the_key_placeholder(
    template: str, key: str, expected: str
) -> None:
    assert cache_key(template, key) == expected


def test_a_template_without_the_placeholder_is_refused() -> None:
    with pytest.raises(ValueError, match=r"does not contain \{key\}"):
        cache_key("couple:core", "c-1")


@pytest.mark.parametrize(
    ("n", "size", "sizes"),
    [(0, 3, []), (1, 3, [1]), (3, 3, [3]), (7, 3, [3, 3, 1]), (1000, 500, [500, 500])],
)
def test_batches_are_consecutive_chunks_of_at_most_the_batch_size(
    n: int, size: int, sizes: list[int]
) -> None:
    assert [len(b) for b in batches(range(n), size)] == sizes


@given(st.lists(st.integers()), st.integers(min_value=1, max_value=50))
def test_batches_keep_every_item_once_in_order(items: list[int], size: int) -> None:
    chunks = list(batches(items, size))
    assert [x for chunk in chunks for x in chunk] == items
    assert all(1 <= len(chunk) <= size for chunk in chunks)
    assert all(len(chunk) == size for chunk in chunks[:-1])


def test_a_batch_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        list(batches([1], 0))


@pytest.mark.parametrize(
    ("ttl", "seconds"),
    [
        (timedelta(hours=24), 86400),
        (timedelta(seconds=1), 1),
        (timedelta(milliseconds=1), 1),
        (timedelta(seconds=1.5), 2),
    ],
)
def test_ttls_are_whole_seconds_rounded_up(ttl: timedelta, seconds: int) -> None:
    assert ttl_seconds(ttl) == seconds


@pytest.mark.parametrize("ttl", [timedelta(0), timedelta(seconds=-5)])
def test_a_ttl_that_is_not_positive_is_refused(ttl: timedelta) -> None:
    with pytest.raises(ValueError, match="positive"):
        ttl_seconds(ttl)


def test_the_fingerprint_ignores_order_and_duplicates_of_couples() -> None:
    w = CacheWarming()
    ttl = timedelta(hours=24)
    assert warm_fingerprint(w, ["b", "a", "a"], ttl) == warm_fingerprint(w, ["a", "b"], ttl)


@pytest.mark.parametrize(
    ("warming", "couples", "ttl"),
    [
        (CacheWarming(), ["a", "c"], timedelta(hours=24)),
        (CacheWarming(), ["a", "b"], timedelta(hours=12)),
        (CacheWarming(key_template="v2:{key}"), ["a", "b"], timedelta(hours=24)),
        (CacheWarming(query="SELECT 'k' AS key, '{}' AS payload"), ["a", "b"], timedelta(hours=24)),
    ],
    ids=["couples", "ttl", "key template", "query"],
)
def test_the_fingerprint_changes_with_what_is_written(
    warming: CacheWarming, couples: list[str], ttl: timedelta
) -> None:
    base = warm_fingerprint(CacheWarming(), ["a", "b"], timedelta(hours=24))
    assert warm_fingerprint(warming, couples, ttl) != base


def test_a_warming_report_has_counts_duration_and_the_first_errors() -> None:
    result = WarmResult(
        keys_written=500,
        rows_read=1200,
        batches=1,
        duration_seconds=0.25,
        errors=tuple(f"error {i}" for i in range(7)),
        skipped_rows=2,
    )
    status = warming_status(result, "abc", datetime(2027, 6, 5, 8, 0, tzinfo=UTC))
    assert status == {
        "fingerprint": "abc",
        "complete": False,
        "keysWritten": 500,
        "rowsRead": 1200,
        "skippedRows": 2,
        "batches": 1,
        "durationSeconds": "0.250",
        "errors": ["error 0", "error 1", "error 2", "error 3", "error 4"],
        "errorCount": 7,
        "finishedAt": "2027-06-05T08:00:00Z",
        "reason": "CacheWarmingFailed",
        "message": (
            "wrote 500 of 1200 rows to Redis in 1 batch in 0.25s, skipped 2 without a key "
            "or payload; 7 error(s), first: error 0"
        ),
    }


def test_a_complete_warming_run_reads_as_warmed() -> None:
    result = WarmResult(keys_written=3, rows_read=3, batches=2, duration_seconds=0.01)
    assert result.complete
    assert result.reason == "CacheWarmed"
    assert result.message == "wrote 3 of 3 rows to Redis in 2 batches in 0.01s"


def _day(name: str, start: str, couples: tuple[str, ...]) -> WeddingDay:
    begin = datetime.fromisoformat(start)
    return parse_wedding_day(
        {
            "metadata": {"name": name, "namespace": "w"},
            "spec": {
                "start": start,
                "end": (begin + timedelta(hours=6)).isoformat(),
                "coupleIds": list(couples),
            },
        }
    )


def test_only_the_couples_of_active_days_in_their_lead_time_are_warmed() -> None:
    now = datetime(2027, 6, 12, 11, 0, tzinfo=UTC)
    preparing = _day("afternoon", "2027-06-12T12:00:00+00:00", ("c-2", "c-1"))
    active = _day("morning", "2027-06-12T10:00:00+00:00", ("c-9",))
    other = _day("elsewhere", "2027-06-12T12:30:00+00:00", ("c-7",))

    ids = couples_to_warm([preparing, active, other], ["afternoon", "morning"], now)

    assert ids == ["c-1", "c-2"]


def test_no_preparing_day_means_no_warming_at_all() -> None:
    now = datetime(2027, 6, 12, 11, 0, tzinfo=UTC)
    active = _day("morning", "2027-06-12T10:00:00+00:00", ("c-9",))

    assert couples_to_warm([active], ["morning"], now) is None
