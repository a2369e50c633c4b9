"""`wedsync-operator validate` and `plan` on the examples and on broken input."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from wedsync_operator.cli import main

REPO = Path(__file__).resolve().parents[2]
SATURDAY = str(REPO / "examples" / "saturday.yaml")
INVALID = sorted((REPO / "examples" / "invalid").glob("*.yaml"))


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_validate_accepts_the_example_saturday() -> None:
    code, out = run("validate", "-f", SATURDAY, "-f", str(REPO / "examples" / "platform.yaml"))

    assert code == 0
    assert out.count("ok      ") == 4
    assert "PlatformScaling wedsync/platform" in out


@pytest.mark.parametrize(
    "path",
    # bad-duration and friends are also caught offline; the API server's own wording
    # (the `# expect:` line) is checked in e2e/test_crds.py.
    INVALID,
    ids=[p.stem for p in INVALID],
)
def test_validate_rejects_each_broken_example_with_a_field_path(path: Path) -> None:
    code, out = run("validate", "-f", str(path))

    assert code == 1
    assert out.startswith("INVALID ")
    assert "  - spec." in out


def test_validate_reports_a_wedding_time_inside_the_spring_forward_gap(tmp_path: Path) -> None:
    manifest = tmp_path / "gap.yaml"
    manifest.write_text(
        "apiVersion: wedsync.io/v1alpha1\nkind: WeddingDay\nmetadata: {name: gap}\n"
        "spec: {start: '2027-03-28T01:30:00', end: '2027-03-28T05:00:00', "
        "timeZone: Europe/London}\n"
    )

    code, out = run("validate", "-f", str(manifest))

    assert code == 1
    assert "spec.start: 2027-03-28T01:30:00 does not exist in Europe/London" in out


def test_unreadable_file_is_a_usage_error(tmp_path: Path) -> None:
    code, _ = run("validate", "-f", str(tmp_path / "missing.yaml"))
    assert code == 2


def test_plan_table_shows_phases_mode_switches_and_floors_in_local_time() -> None:
    code, out = run(
        "plan", "-f", SATURDAY, "--from", "2027-06-12T07:00:00Z", "--to", "2027-06-12T08:30:00Z"
    )

    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["TIME", "(UTC)", "LOCAL", "(Europe/London)", "OBJECT", "BECOMES"]
    assert len(lines) == 3
    policy_row = next(line for line in lines if "PlatformScaling platform" in line)
    assert policy_row.startswith("2027-06-12 08:00Z  2027-06-12 09:00 BST")
    assert "WeddingDay (saturday-2027-06-12-morning)" in policy_row
    assert "web-couples>=8" in policy_row


def test_plan_json_lists_the_return_to_normal_after_the_last_wind_down() -> None:
    code, out = run("plan", "-f", SATURDAY, "-o", "json")

    plan = json.loads(out)
    steps = plan["policies"]
    assert code == 0
    assert steps[0]["mode"] == "WeddingDay"
    assert steps[-1]["mode"] == "Normal"
    assert steps[-1]["at"] == "2027-06-13T00:30:00+00:00"
    assert steps[-1]["floors"] == {}
    phases = [t["phase"] for t in plan["transitions"] if t["weddingDay"].endswith("peak")]
    assert phases == ["Preparing", "Active", "WindingDown", "Completed"]


def test_plan_baseline_raises_the_floor_by_the_extra_capacity() -> None:
    _, low = run("plan", "-f", SATURDAY, "-o", "json")
    _, high = run("plan", "-f", SATURDAY, "-o", "json", "--baseline", "web-couples=20")

    floor_low = json.loads(low)["policies"][0]["floors"]["web-couples"]
    floor_high = json.loads(high)["policies"][0]["floors"]["web-couples"]
    assert floor_high > floor_low
    assert floor_high >= 24  # 20 replicas + at least the 20 % default extra capacity


def test_plan_refuses_a_time_without_an_offset(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run("plan", "-f", SATURDAY, "--from", "2027-06-12T07:00:00")

    assert exited.value.code == 2
    assert "needs an offset" in capsys.readouterr().err


def test_validate_reads_a_directory_as_kubectl_does(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text(Path(SATURDAY).read_text())
    (tmp_path / "a.yml").write_text((REPO / "examples" / "platform.yaml").read_text())
    (tmp_path / "notes.txt").write_text("not a manifest: {")
    nested = tmp_path / "more"
    nested.mkdir()
    (nested / "c.json").write_text(json.dumps(_day("nested")))

    code, out = run("validate", "-f", str(tmp_path))

    assert code == 0
    assert out.count("ok      ") == 4
    assert "nested" not in out  # subdirectories only with -R


def test_validate_recurses_into_subdirectories_with_r(tmp_path: Path) -> None:
    nested = tmp_path / "more"
    nested.mkdir()
    (nested / "c.json").write_text(json.dumps(_day("nested")))

    code, out = run("validate", "-R", "-f", str(tmp_path))

    assert code == 0
    assert "WeddingDay default/nested" in out


def test_plan_reads_manifests_from_standard_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(Path(SATURDAY).read_text()))

    code, out = run("plan", "-f", "-", "-o", "json")

    assert code == 0
    assert json.loads(out)["transitions"]


def test_a_directory_without_manifests_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run("validate", "-f", str(tmp_path))

    assert code == 2
    assert "recognized extensions are .json .yaml .yml" in capsys.readouterr().err


def _day(name: str) -> dict[str, object]:
    return {
        "apiVersion": "wedsync.io/v1alpha1",
        "kind": "WeddingDay",
        "metadata": {"name": name},
        "spec": {"start": "2027-06-12T13:00:00Z", "end": "2027-06-12T20:00:00Z"},
    }
