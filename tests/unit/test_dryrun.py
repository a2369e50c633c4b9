"""A dry run says what each side effect would be instead of having it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from wedsync_operator.engine.dryrun import would_publish, would_silence, would_warm
from wedsync_operator.engine.mode import NORMAL_MODE, Mode, ModeResolution
from wedsync_operator.model.types import Matcher, SilenceAlerts

T0 = datetime(2027, 6, 12, 11, 0, tzinfo=UTC)
MODE = ModeResolution(
    mode=Mode.WEDDING_DAY,
    active_days=("smith",),
    since=T0,
    until=T0 + timedelta(hours=2),
    load_factor=1.0,
    reason="WeddingDayActive",
    message="",
)
SILENCE = SilenceAlerts(
    alertmanager_url="http://alertmanager:9093",
    matchers=(
        Matcher(name="severity", value="critical", is_regex=False, is_equal=False),
        Matcher(name="team", value="web.*", is_regex=True, is_equal=True),
    ),
)


def test_a_dry_run_names_the_config_map_and_mode_it_would_write() -> None:
    assert would_publish("wedsync-mode", MODE) == (
        "dry run: would write mode WeddingDay to ConfigMap wedsync-mode"
    )


def test_a_dry_run_names_the_silence_it_would_create_or_expire() -> None:
    assert would_silence(SILENCE, MODE) == (
        "dry run: would silence alerts matching severity!='critical', team=~'web.*' in "
        "Alertmanager http://alertmanager:9093 until 2027-06-12T13:00:00Z"
    )
    assert "would expire" in would_silence(SILENCE, NORMAL_MODE)


def test_a_dry_run_warming_is_never_complete_so_it_runs_once_the_dry_run_ends() -> None:
    block = would_warm(["c-1", "c-2"], "f00")

    assert block["complete"] is False and block["reason"] == "DryRun"
    assert block["fingerprint"] == "f00"
    assert "2 couple(s)" in block["message"]
