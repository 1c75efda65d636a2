"""Finding the service: explicit endpoint, PARSEC_SERVICE_ENDPOINT, then the defaults."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from tessera._paths import PARSEC_DEFAULT_SOCKET, default_socket_path, default_state_dir
from tessera.client import OperationClient, UsageError
from tessera.client._endpoint import (
    SERVICE_ENDPOINT_ENV,
    endpoint_path,
    identity_endpoint,
    normal_path,
    parse_endpoint,
    resolve_identity_endpoint,
    resolve_service_endpoint,
    service_endpoint,
    state_dir,
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No endpoint variable, and a state directory with no socket in it."""
    monkeypatch.delenv(SERVICE_ENDPOINT_ENV, raising=False)
    monkeypatch.setenv("TESSERA_STATE_DIR", str(tmp_path / "state"))


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("unix:/run/parsec/parsec.sock", "/run/parsec/parsec.sock"),
        ("unix:///run/parsec/parsec.sock", "/run/parsec/parsec.sock"),
        ("unix://localhost/tmp/a.sock", "/tmp/a.sock"),
        ("UNIX:/tmp/a.sock", "/tmp/a.sock"),
        ("unix:/tmp/with%20space.sock", "/tmp/with space.sock"),
    ],
)
def test_parse_unix_uris(uri: str, path: str) -> None:
    assert parse_endpoint(uri) == Path(path)


@pytest.mark.parametrize(
    ("uri", "complaint"),
    [
        ("tcp://127.0.0.1:1234", "not a unix: URI"),
        ("http:/tmp/a.sock", "not a unix: URI"),
        ("/tmp/a.sock", "not a unix: URI"),
        ("unix:relative.sock", "absolute"),
        ("unix:", "absolute"),
        ("unix://otherhost/tmp/a.sock", "names a host"),
    ],
)
def test_bad_endpoints_are_usage_errors(uri: str, complaint: str) -> None:
    with pytest.raises(UsageError, match=complaint):
        parse_endpoint(uri)


def test_explicit_endpoint_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SERVICE_ENDPOINT_ENV, "unix:/from/env.sock")
    assert resolve_service_endpoint("unix:/explicit.sock") == Path("/explicit.sock")
    assert resolve_service_endpoint("/plain/path.sock") == Path("/plain/path.sock")
    assert resolve_service_endpoint(Path("/a/path.sock")) == Path("/a/path.sock")
    assert resolve_service_endpoint("relative/path.sock") == Path("relative/path.sock")


def test_explicit_uri_with_a_bad_scheme_is_refused() -> None:
    with pytest.raises(UsageError):
        resolve_service_endpoint("tcp://localhost:1")


def test_environment_variable_wins_over_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SERVICE_ENDPOINT_ENV, "unix:/from/env.sock")
    assert resolve_service_endpoint() == Path("/from/env.sock")


def test_environment_variable_must_be_a_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SERVICE_ENDPOINT_ENV, "/a/bare/path.sock")
    with pytest.raises(UsageError, match=r"^PARSEC_SERVICE_ENDPOINT: .*not a unix: URI"):
        resolve_service_endpoint()


def test_empty_environment_variable_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SERVICE_ENDPOINT_ENV, "")
    assert resolve_service_endpoint() == PARSEC_DEFAULT_SOCKET


def test_tessera_default_socket_when_it_exists(tmp_path: Path) -> None:
    socket_path = tmp_path / "state" / "run" / "parsec.sock"
    socket_path.parent.mkdir(parents=True)
    socket_path.touch()
    assert resolve_service_endpoint() == socket_path


def test_parsec_default_socket_last() -> None:
    assert resolve_service_endpoint() == Path("/run/parsec/parsec.sock")


def test_clients_resolve_at_construction_without_io(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SERVICE_ENDPOINT_ENV, "unix:/nowhere/at/all.sock")
    client = OperationClient()  # nothing listens there, and nothing is attempted yet
    assert client.socket_path == Path("/nowhere/at/all.sock")
    assert OperationClient("unix:/x.sock").socket_path == Path("/x.sock")


def test_timeout_must_be_positive() -> None:
    with pytest.raises(UsageError, match="timeout"):
        OperationClient("unix:/x.sock", timeout=0)


def test_a_default_socket_we_may_not_look_at_is_chosen_not_raised(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Issue 10: a closed state directory is no raw PermissionError at construction; the
    first call says what is closed (tests/integration/test_cli.py runs it for real)."""

    real_stat = os.stat

    def closed(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if os.fspath(path).startswith(str(tmp_path)):  # (the tests run as root: chmod cannot)
            raise PermissionError(13, "Permission denied", path)
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", closed)
    assert resolve_service_endpoint() == tmp_path / "state" / "run" / "parsec.sock"
    assert resolve_identity_endpoint() is None


def test_no_home_directory_falls_back_to_parsec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TESSERA_STATE_DIR")
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)

    monkeypatch.delenv("HOME", raising=False)
    # no $HOME and no passwd entry: os.path.expanduser (as Path.home) leaves "~" as it is
    monkeypatch.setattr(os.path, "expanduser", lambda path: path)
    with pytest.raises(RuntimeError):
        Path.home()
    assert resolve_service_endpoint() == PARSEC_DEFAULT_SOCKET
    assert resolve_identity_endpoint() is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        ".",
        "/",
        "//",
        "///",
        "a",
        "a/",
        "/a//b/./c/",
        "//a/b",
        "./a/../b",
        "~/x",
        "a/./.",
        " / ",
    ],
)
def test_paths_as_text_are_written_as_pathlib_writes_them(text: str) -> None:
    """(The client resolves endpoints as text, without pathlib: the command's start-up.)"""
    assert normal_path(text) == str(PurePosixPath(text))
    if text.startswith("/") and not text.startswith("//"):  # (unix://host/path names a host)
        assert endpoint_path(f"unix:{text}") == str(parse_endpoint(f"unix:{text}"))
        assert service_endpoint(f"unix:{text}") == str(Path(text))
    assert service_endpoint(text or ".") == str(resolve_service_endpoint(text or "."))


@pytest.mark.parametrize(
    "uri",
    [
        "unix:/a b.sock",
        "unix:/a.sock?query",
        "unix:/a.sock#part",
        "unix:/a%2Fb.sock",
        "unix:////a.sock",
        "unix://localhost//a.sock",
        "unix://[::1]/a.sock",
        "unix:/a.sock\x01",
        "unix:/a\tb.sock",
        "unix:/caf\u00e9.sock",
    ],
)
def test_uris_read_without_urllib_read_as_urllib_reads_them(uri: str) -> None:
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        with pytest.raises(UsageError, match="names a host"):
            endpoint_path(uri)
    else:
        assert endpoint_path(uri) == str(Path(unquote(parts.path)))


def test_default_sockets_as_text_follow_the_state_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run = tmp_path / "state" / "run"
    run.mkdir(parents=True)
    (run / "parsec.sock").touch()
    (run / "identity.sock").touch()
    assert service_endpoint() == str(run / "parsec.sock")
    assert identity_endpoint() == str(run / "identity.sock")
    monkeypatch.delenv("TESSERA_STATE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", f"{tmp_path}//")
    (tmp_path / "tessera" / "run").mkdir(parents=True)
    (tmp_path / "tessera" / "run" / "parsec.sock").touch()
    assert service_endpoint() == str(default_socket_path())
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert identity_endpoint() is None
    assert state_dir() == str(default_state_dir())
    monkeypatch.setenv("TESSERA_STATE_DIR", "~/elsewhere/")
    assert state_dir() == str(default_state_dir()) == f"{tmp_path}/home/elsewhere"
