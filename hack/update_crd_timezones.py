#!/usr/bin/env python3
"""Write the list of IANA time zone names into the WeddingDay CRD's timeZone rule.

The API server must reject an unknown ``spec.timeZone`` at apply time with a readable
message, so the CRD carries a CEL rule ``self in ['Africa/Abidjan', ...]``. This script
generates that list from the ``tzdata`` package (the same database the operator reads
times in) and rewrites that one line of the CRD in place; every other byte of the file
stays as it is.

Only the ``tzdata`` package is read, never the machine's ``/usr/share/zoneinfo``, so the
result depends on the pinned ``tzdata`` version alone and not on the machine.

Usage:
    python hack/update_crd_timezones.py            # rewrite the rule line
    python hack/update_crd_timezones.py --check    # exit 1 if the CRD is out of date

Exit codes: 0 up to date (or updated), 1 out of date (--check), 2 the rule line cannot be
found exactly once or tzdata is missing.
"""

from __future__ import annotations

import argparse
import re
import sys
import zoneinfo
from pathlib import Path

DEFAULT_CRD = Path(__file__).resolve().parent.parent / "crds" / "wedsync.io_weddingdays.yaml"

# The one line that holds the rule, e.g.:
#                     - rule: "self in ['Africa/Abidjan', 'Africa/Accra', ...]"
RULE_LINE = re.compile(r"""^(?P<indent>[ ]*)- rule: "self in \[[^"]*\]"(?P<eol>\r?\n?)$""")
ZONE_NAME = re.compile(r"^[A-Za-z0-9_+\-/]+$")


def zone_names() -> list[str]:
    """Every zone name of the installed ``tzdata`` package, sorted."""
    try:
        zoneinfo.reset_tzpath(to=[])  # read the tzdata package only
        names = zoneinfo.available_timezones()
    finally:
        zoneinfo.reset_tzpath()
    if not names:
        raise LookupError("no time zones found: is the 'tzdata' package installed?")
    bad = sorted(n for n in names if not ZONE_NAME.match(n))
    if bad:  # would need quoting in CEL or YAML
        raise ValueError(f"unexpected characters in zone names: {bad}")
    return sorted(names)


def rule_line(indent: str, names: list[str], eol: str) -> str:
    listed = ", ".join(f"'{n}'" for n in names)
    return f'{indent}- rule: "self in [{listed}]"{eol}'


def render(text: str, names: list[str]) -> str:
    """``text`` with the rule line rewritten; raises ValueError unless it occurs once."""
    lines = text.splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if RULE_LINE.match(line)]
    if len(hits) != 1:
        raise ValueError(f"expected exactly one timeZone rule line, found {len(hits)}")
    i = hits[0]
    m = RULE_LINE.match(lines[i])
    assert m is not None
    lines[i] = rule_line(m["indent"], names, m["eol"])
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the CRD is out of date")
    parser.add_argument("--crd", type=Path, default=DEFAULT_CRD, help="CRD file to update")
    args = parser.parse_args(argv)

    try:
        names = zone_names()
        with args.crd.open(encoding="utf-8", newline="") as f:
            current = f.read()
        wanted = render(current, names)
    except (OSError, LookupError, ValueError) as exc:
        print(f"{args.crd}: {exc}", file=sys.stderr)
        return 2

    if wanted == current:
        print(f"{args.crd}: timeZone rule up to date ({len(names)} zones)")
        return 0
    if args.check:
        print(
            f"{args.crd}: timeZone rule is out of date with the installed tzdata "
            f"({len(names)} zones); run: python hack/update_crd_timezones.py",
            file=sys.stderr,
        )
        return 1
    with args.crd.open("w", encoding="utf-8", newline="") as f:
        f.write(wanted)
    print(f"{args.crd}: timeZone rule updated ({len(names)} zones)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
