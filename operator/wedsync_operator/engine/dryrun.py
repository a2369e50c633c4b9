"""What a dry run reports instead of each side effect it would have.

A policy with ``dryRun: true`` changes nothing outside its own status and Events: no
/scale patch, no mode ConfigMap, no cache warming, no Alertmanager silence. For each it
says, in status and in one ``DryRun`` Event per distinct message, what it would do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wedsync_operator.engine.mode import ModeResolution
from wedsync_operator.engine.schedule import format_instant
from wedsync_operator.model.types import SilenceAlerts

__all__ = ["DRY_RUN", "would_publish", "would_silence", "would_warm"]

DRY_RUN = "DryRun"


def would_publish(config_map: str, mode: ModeResolution) -> str:
    return f"dry run: would write mode {mode.mode.value} to ConfigMap {config_map}"


def would_silence(silence_alerts: SilenceAlerts, mode: ModeResolution) -> str:
    where = silence_alerts.alertmanager_url
    if mode.on and mode.until is not None:
        ops = {(True, False): "=", (True, True): "=~", (False, False): "!=", (False, True): "!~"}
        matchers = ", ".join(
            f"{m.name}{ops[m.is_equal, m.is_regex]}{m.value!r}" for m in silence_alerts.matchers
        )
        return (
            f"dry run: would silence alerts matching {matchers} in Alertmanager {where} "
            f"until {format_instant(mode.until)}"
        )
    return f"dry run: would expire this policy's silences in Alertmanager {where}"


def would_warm(couple_ids: Sequence[str], fingerprint: str) -> dict[str, Any]:
    """The ``status.cacheWarming`` block of a warming a dry run skips: never complete, so
    the run happens once the dry run is switched off."""
    return {
        "fingerprint": fingerprint,
        "complete": False,
        "reason": DRY_RUN,
        "message": (
            f"dry run: would warm the cache for {len(couple_ids)} couple(s) from Postgres into "
            "Redis"
        ),
        "finishedAt": None,
    }
