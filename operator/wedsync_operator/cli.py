"""``wedsync-operator``: run the operator, validate manifests, plan a wedding day.

wedsync-operator run [--namespace NS]... [--standalone]
wedsync-operator validate -f FILE|DIR|- [-R]...
wedsync-operator plan -f FILE|DIR|- [-R]... [--from T] [--to T] [--baseline TARGET=N] [-o json]

``-f`` reads files as kubectl does: a directory's .json, .yaml and .yml files in name order
(``-R`` also its subdirectories), ``-`` standard input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import yaml

from wedsync_operator import __version__
from wedsync_operator.engine.plan import Plan, build_plan
from wedsync_operator.engine.schedule import ScheduleError, window
from wedsync_operator.model import GROUP, InvalidSpec, parse_object
from wedsync_operator.model.endpoints import EgressPolicy, endpoints_of, parse_rule
from wedsync_operator.model.types import PlatformScaling, WeddingDay

EXIT_INVALID = 1
EXIT_USAGE = 2
MANIFEST_SUFFIXES = (".json", ".yaml", ".yml")  # what kubectl reads from a directory


@dataclass(frozen=True)
class Loaded:
    source: str  # "file.yaml#2" — file and document index, for messages
    obj: dict[str, Any]


def manifest_files(paths: Sequence[str], recursive: bool = False) -> list[str]:
    """The files ``-f`` names, as kubectl reads them; ``-`` stands for standard input."""
    files: list[str] = []
    for path in paths:
        given = Path(path)
        if path == "-" or given.is_file():
            files.append(path)
        elif given.is_dir():
            found = sorted(
                str(f)
                for f in (given.rglob("*") if recursive else given.iterdir())
                if f.is_file() and f.suffix in MANIFEST_SUFFIXES
            )
            if not found:
                wanted = " ".join(MANIFEST_SUFFIXES)
                raise FileNotFoundError(
                    f"no manifests in {path}: recognized extensions are {wanted}"
                )
            files.extend(found)
        else:
            raise FileNotFoundError(f"the path {path!r} does not exist")
    return files


def _documents(paths: Sequence[str], recursive: bool = False) -> Iterator[Loaded]:
    for path in manifest_files(paths, recursive):
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        for i, doc in enumerate(yaml.safe_load_all(text)):
            if not isinstance(doc, dict):
                continue
            items = doc.get("items") if doc.get("kind", "").endswith("List") else None
            for j, item in enumerate(items or [doc]):
                suffix = f"#{i + 1}" + (f".{j + 1}" if items else "")
                yield Loaded(f"{path}{suffix}", item)


def _is_ours(obj: dict[str, Any]) -> bool:
    return str(obj.get("apiVersion", "")).startswith(f"{GROUP}/")


def _describe(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace") or "default"
    return f"{obj.get('kind')} {ns}/{meta.get('name')}"


def _check(obj: dict[str, Any]) -> tuple[WeddingDay | PlatformScaling | None, list[str]]:
    """Parse and, for a WeddingDay, resolve its schedule; return problems as lines."""
    try:
        parsed = parse_object(obj)
    except InvalidSpec as exc:
        return None, [str(e) for e in exc.errors]
    if isinstance(parsed, WeddingDay):
        try:
            window(parsed)
        except ScheduleError as exc:
            return None, [str(exc)]
    return parsed, []


def _ours(
    paths: Sequence[str], recursive: bool = False
) -> Iterator[tuple[Loaded, WeddingDay | PlatformScaling | None, list[str]]]:
    """Every wedsync.io object of the files, checked; other kinds are passed over."""
    for doc in _documents(paths, recursive):
        if _is_ours(doc.obj):
            yield (doc, *_check(doc.obj))


def cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    failed = 0
    for doc, _, problems in _ours(args.files, args.recursive):
        if problems:
            failed += 1
            print(f"INVALID {_describe(doc.obj)} ({doc.source})", file=out)
            for p in problems:
                print(f"  - {p}", file=out)
        else:
            print(f"ok      {_describe(doc.obj)} ({doc.source})", file=out)
    return EXIT_INVALID if failed else 0


def _parse_instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an RFC 3339 time") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs an offset, e.g. {text}Z")
    return value.astimezone(UTC)


def _parse_baseline(text: str) -> tuple[str, int]:
    name, sep, count = text.partition("=")
    if not sep or not count.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: write TARGET=REPLICAS, e.g. web=6")
    return name, int(count)


def _endpoint_rule(text: str) -> str:
    try:
        parse_rule(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _default_url(text: str) -> str:
    try:
        endpoints_of(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    return text


def _zone_arg(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"{text!r} is not an IANA time zone name") from None
    return text


def _local(at: datetime, zone: str | None) -> str:
    if not zone:
        return ""
    local = at.astimezone(ZoneInfo(zone))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def _plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "transitions": [
            {
                "at": tr.at.isoformat(),
                "timeZone": tr.time_zone,
                "weddingDay": tr.day,
                "namespace": tr.namespace,
                "phase": tr.phase.value,
            }
            for tr in plan.transitions
        ],
        "policies": [
            {
                "at": s.at.isoformat(),
                "policy": s.policy,
                "namespace": s.namespace,
                "mode": s.mode.value,
                "activeWeddingDays": list(s.active_days),
                "floors": dict(s.floors),
            }
            for s in plan.steps
        ],
        "problems": list(plan.problems),
    }


def _plan_table(plan: Plan, zone: str | None, out: TextIO) -> None:
    rows: list[tuple[str, str, str, str]] = []
    for tr in plan.transitions:
        rows.append((_utc(tr.at), _local(tr.at, zone), f"WeddingDay {tr.day}", tr.phase))
    for s in plan.steps:
        what = str(s.mode)
        if s.active_days:
            what += f" ({', '.join(s.active_days)})"
        if s.floors:
            what += "; floors " + ", ".join(f"{name}>={n}" for name, n in s.floors.items())
        rows.append((_utc(s.at), _local(s.at, zone), f"PlatformScaling {s.policy}", what))
    rows.sort(key=lambda r: (r[0], r[2]))
    headers = ("TIME (UTC)", f"LOCAL ({zone})" if zone else "LOCAL", "OBJECT", "BECOMES")
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    for row in (headers, *rows):
        print(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip(), file=out
        )
    for problem in plan.problems:
        print(f"warning: {problem}", file=out)


def _utc(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M}Z"


def cmd_plan(args: argparse.Namespace, out: TextIO) -> int:
    days: list[WeddingDay] = []
    policies: list[PlatformScaling] = []
    invalid = 0
    for doc, parsed, problems in _ours(args.files, args.recursive):
        if problems:
            invalid += 1
            print(
                f"INVALID {_describe(doc.obj)} ({doc.source}): {'; '.join(problems)}",
                file=sys.stderr,
            )
        elif isinstance(parsed, WeddingDay):
            days.append(parsed)
        elif isinstance(parsed, PlatformScaling):
            policies.append(parsed)
    if invalid:
        return EXIT_INVALID
    plan = build_plan(
        days, policies, start=args.start, end=args.end, baselines=dict(args.baseline or [])
    )
    if args.output == "json":
        json.dump(_plan_json(plan), out, indent=2)
        print(file=out)
    else:
        # One display zone for every row: the one asked for, else the first day's.
        zone = args.zone or next((d.time_zone for d in days if d.time_zone), None)
        _plan_table(plan, zone, out)
    return 0


def cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    # Imported here: validate/plan must work without kopf's start-up cost.
    from wedsync_operator.handlers import run_operator

    run_operator(
        namespaces=args.namespace,
        standalone=args.standalone,
        peering=args.peering,
        liveness=args.liveness,
        metrics_port=args.metrics_port or None,
        priority=args.priority,
        debug=args.debug,
        watch_targets=args.watch_targets,
        egress=EgressPolicy.from_flags(args.allow_endpoint, args.default_prometheus_url),
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wedsync-operator",
        description="Scale a wedding-services platform ahead of scheduled wedding days.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="start the operator (kopf) against the current cluster")
    run.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        help="watch only this namespace (repeatable; glob patterns allowed); default: all",
    )
    run.add_argument(
        "--standalone",
        action="store_true",
        help="do not take part in leader election (single replica, local runs)",
    )
    run.add_argument(
        "--peering",
        default="wedsync-operator",
        help="peering object used to elect one active replica (default: %(default)s)",
    )
    run.add_argument(
        "--liveness",
        default="http://0.0.0.0:8081/healthz",
        help="liveness endpoint URL (default: %(default)s)",
    )
    run.add_argument("--debug", action="store_true", help="log at DEBUG level")
    run.add_argument(
        "--no-watch-targets",
        dest="watch_targets",
        action="store_false",
        help="read each target's /scale and the HPAs at every evaluation instead of "
        "watching Deployments, StatefulSets and HPAs (for RBAC that grants only */scale)",
    )
    run.add_argument(
        "--allow-endpoint",
        action="append",
        default=[],
        metavar="[SCHEME://]HOST[:PORT]",
        type=_endpoint_rule,
        help="an endpoint policies may make the operator connect to (Prometheus, "
        "Alertmanager, Redis, Postgres): HOST may use * wildcards or be a CIDR network; "
        "repeatable; none: any host but link-local and metadata addresses",
    )
    run.add_argument(
        "--default-prometheus-url",
        metavar="URL",
        type=_default_url,
        help="Prometheus for policies that name none (spec.prometheus.url omitted)",
    )
    run.add_argument(
        "--priority",
        type=int,
        default=None,
        help="peering priority: the highest live replica acts, the others wait "
        "(default: random per process, so two replicas never tie and both pause)",
    )
    run.add_argument(
        "--metrics-port",
        type=int,
        default=8080,
        help="port of the operator's own /metrics (0: off; default: %(default)s)",
    )
    run.set_defaults(func=cmd_run)

    validate = sub.add_parser("validate", help="validate WeddingDay/PlatformScaling files offline")
    validate.add_argument(
        "-f",
        "--filename",
        dest="files",
        action="append",
        required=True,
        help="manifest file, directory of manifests, or '-' for stdin (repeatable)",
    )
    validate.add_argument(
        "-R",
        "--recursive",
        action="store_true",
        help="read the directories given with -f recursively",
    )
    validate.set_defaults(func=cmd_validate)

    plan = sub.add_parser(
        "plan", help="what-if: timeline of phases, mode switches and replica floors"
    )
    plan.add_argument(
        "-f",
        "--filename",
        dest="files",
        action="append",
        required=True,
        help="manifest file, directory of manifests, or '-' for stdin (repeatable)",
    )
    plan.add_argument(
        "-R",
        "--recursive",
        action="store_true",
        help="read the directories given with -f recursively",
    )
    plan.add_argument(
        "--from",
        dest="start",
        type=_parse_instant,
        help="only transitions at or after this RFC 3339 instant",
    )
    plan.add_argument(
        "--to",
        dest="end",
        type=_parse_instant,
        help="only transitions at or before this RFC 3339 instant",
    )
    plan.add_argument(
        "--baseline",
        action="append",
        type=_parse_baseline,
        metavar="TARGET=N",
        help="replicas a target has when the mode begins (default: its minReplicas)",
    )
    plan.add_argument(
        "--zone", type=_zone_arg, help="IANA zone of the LOCAL column (default: the first day's)"
    )
    plan.add_argument("-o", "--output", choices=("table", "json"), default="table")
    plan.set_defaults(func=cmd_plan)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args, out or sys.stdout)
    except (OSError, yaml.YAMLError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return code


if __name__ == "__main__":
    sys.exit(main())
