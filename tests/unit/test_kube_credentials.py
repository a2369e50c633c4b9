"""Credentials from a kubeconfig or the pod's service account, as kubectl reads them."""

from __future__ import annotations

import base64
import ssl
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from wedsync_operator.adapters import kube_credentials
from wedsync_operator.adapters.kube_credentials import CredentialsError, from_kubeconfig, load


def kubeconfig(
    path: Path,
    *,
    user: dict[str, object],
    cluster: dict[str, object] | None = None,
    current: str | None = "ctx",
    namespace: str | None = None,
) -> Path:
    context: dict[str, object] = {"cluster": "c", "user": "u"}
    if namespace:
        context["namespace"] = namespace
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster or {"server": "https://127.0.0.1:6443/"}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": context}],
    }
    if current:
        doc["current-context"] = current
    path.write_text(yaml.safe_dump(doc))
    return path


async def test_a_static_token_and_relative_certificate_paths_resolve_against_the_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "conf").mkdir()
    path = kubeconfig(
        tmp_path / "conf" / "config",
        user={"token": "abc", "client-certificate": "certs/me.crt", "client-key": "certs/me.key"},
        cluster={
            "server": "https://10.0.0.1:6443/",
            "certificate-authority": "ca.crt",
            "tls-server-name": "kubernetes",
            "proxy-url": "http://proxy:3128",
        },
        namespace="prod",
    )

    creds = from_kubeconfig([path])

    assert creds.server == "https://10.0.0.1:6443"
    assert creds.ca_file == str(tmp_path / "conf" / "ca.crt")
    assert creds.cert_file == str(tmp_path / "conf" / "certs" / "me.crt")
    assert creds.key_file == str(tmp_path / "conf" / "certs" / "me.key")
    assert (creds.tls_server_name, creds.proxy_url, creds.namespace) == (
        "kubernetes",
        "http://proxy:3128",
        "prod",
    )
    assert await creds.bearer() == "abc"


def test_embedded_certificate_data_is_decoded_to_pem(tmp_path: Path) -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    b64 = base64.b64encode(pem.encode()).decode()
    path = kubeconfig(
        tmp_path / "config",
        user={"client-certificate-data": b64, "client-key-data": b64},
        cluster={
            "server": "https://h:1",
            "certificate-authority-data": b64,
            "insecure-skip-tls-verify": True,
        },
    )

    creds = from_kubeconfig([path])

    assert creds.ca_data == creds.cert_data == creds.key_data == pem
    assert creds.insecure


def test_an_insecure_cluster_gets_a_context_that_checks_nothing(tmp_path: Path) -> None:
    path = kubeconfig(
        tmp_path / "config",
        user={},
        cluster={"server": "https://h:1", "insecure-skip-tls-verify": True},
    )

    context = from_kubeconfig([path]).ssl_context()

    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname


def test_merged_kubeconfigs_take_the_first_files_current_context_and_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = kubeconfig(tmp_path / "a", user={"token": "first"})
    second = kubeconfig(
        tmp_path / "b",
        user={"token": "second"},
        cluster={"server": "https://other:1"},
        current="other",
    )
    monkeypatch.setenv("KUBECONFIG", f"{first}:{tmp_path / 'missing'}:{second}")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)

    creds = load()

    assert (creds.server, creds.token) == ("https://127.0.0.1:6443", "first")


@pytest.mark.parametrize(
    ("user", "current", "message"),
    [
        ({"token": "x"}, None, "no current context"),
        ({"auth-provider": {"name": "gcp"}}, "ctx", "auth-provider"),
        ({"exec": {"apiVersion": "client.authentication.k8s.io/v1"}}, "ctx", "without a command"),
    ],
)
def test_an_unusable_kubeconfig_names_what_is_wrong(
    tmp_path: Path, user: dict[str, object], current: str | None, message: str
) -> None:
    path = kubeconfig(tmp_path / "config", user=user, current=current)

    with pytest.raises(CredentialsError, match=message):
        from_kubeconfig([path])


def test_a_missing_kubeconfig_outside_a_pod_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)

    with pytest.raises(CredentialsError, match="no kubeconfig"):
        load(str(tmp_path / "nowhere"))


async def test_in_a_pod_the_service_account_is_used_and_its_rotated_token_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "token").write_text("one\n")
    (tmp_path / "namespace").write_text("wedsync-system")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")

    creds = load(service_account=tmp_path)
    first = await creds.bearer()
    (tmp_path / "token").write_text("two\n")
    cached = await creds.bearer()
    monkeypatch.setattr(kube_credentials, "TOKEN_FILE_SECONDS", 0.0)
    creds._cached = None
    await creds.bearer()
    (tmp_path / "token").write_text("three\n")
    rotated = await creds.bearer()

    assert creds.server == "https://[fd00::1]:443"
    assert creds.ca_file == str(tmp_path / "ca.crt")
    assert creds.namespace == "wedsync-system"
    assert (first, cached, rotated) == ("one", "one", "three")


def plugin(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "plugin.py"
    script.write_text(body)
    return script


async def test_an_exec_plugins_token_is_kept_until_shortly_before_it_expires(
    tmp_path: Path,
) -> None:
    expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    script = plugin(
        tmp_path,
        f"""
import json, os, pathlib, sys
runs = pathlib.Path(sys.argv[1])
runs.write_text(runs.read_text() + "x" if runs.exists() else "x")
info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
assert info["spec"]["interactive"] is False
print(json.dumps({{"apiVersion": info["apiVersion"], "kind": "ExecCredential",
  "status": {{"token": os.environ["GREETING"] + "-token", "expirationTimestamp": "{expires}"}}}}))
""",
    )
    runs = tmp_path / "runs"
    path = kubeconfig(
        tmp_path / "config",
        user={
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": sys.executable,
                "args": [str(script), str(runs)],
                "env": [{"name": "GREETING", "value": "hi"}],
            }
        },
    )
    creds = from_kubeconfig([path])

    tokens = [await creds.bearer(), await creds.bearer()]

    assert tokens == ["hi-token", "hi-token"]
    assert runs.read_text() == "x"  # run once: the token is valid for an hour
    assert creds.expiration is not None and creds.expiration > datetime.now(UTC)


async def test_an_exec_plugin_that_fails_says_so(tmp_path: Path) -> None:
    script = plugin(tmp_path, "import sys; print('denied', file=sys.stderr); sys.exit(3)")
    path = kubeconfig(
        tmp_path / "config", user={"exec": {"command": sys.executable, "args": [str(script)]}}
    )

    with pytest.raises(CredentialsError, match="exited 3: denied"):
        await from_kubeconfig([path]).bearer()


async def test_an_exec_plugin_without_a_token_in_its_answer_is_refused(tmp_path: Path) -> None:
    script = plugin(tmp_path, "import json; print(json.dumps({'status': {'clientKeyData': 'k'}}))")
    path = kubeconfig(
        tmp_path / "config", user={"exec": {"command": sys.executable, "args": [str(script)]}}
    )

    with pytest.raises(CredentialsError, match=r"status\.token"):
        await from_kubeconfig([path]).bearer()


def test_embedded_client_certificates_load_through_a_removed_file(
    tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    # A real key pair: ssl must accept it, and the temporary files must be gone after.
    crt, key = certificate
    b64 = lambda p: base64.b64encode(p.read_bytes()).decode()  # noqa: E731
    path = kubeconfig(
        tmp_path / "config", user={"client-certificate-data": b64(crt), "client-key-data": b64(key)}
    )
    before = set(Path(kube_credentials.tempfile.gettempdir()).glob("wedsync-*.pem"))

    from_kubeconfig([path]).ssl_context()

    assert set(Path(kube_credentials.tempfile.gettempdir()).glob("wedsync-*.pem")) == before
