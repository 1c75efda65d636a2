"""How many workers serve, what the master tells them, and how their logs are told apart."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
from pathlib import Path

import pytest

from tessera.config import ConfigError
from tessera.daemon.log_output import configure_logging
from tessera.service.config import ServiceConfig, parse_config
from tessera.service.run_lock import hold_offline, join_run
from tessera.service.worker_orders import (
    MAX_ORDER,
    Publish,
    Reload,
    Start,
    encode,
    read_first,
    read_order,
)
from tessera.service.workers import share_of, worker_count

PKCS11 = {
    "provider_type": "pkcs11",
    "provider_id": 2,
    "library_path": "/usr/lib/softhsm/libsofthsm2.so",
    "slot_number": 0,
    "user_pin": "1234",
}


def config(
    tmp_path: Path, core: dict[str, object] | None = None, **tables: object
) -> ServiceConfig:
    document: dict[str, object] = {"core_settings": {"state_dir": str(tmp_path), **(core or {})}}
    document.update(tables)
    return parse_config(document)


def test_one_worker_per_core_by_default(tmp_path: Path) -> None:
    assert worker_count(config(tmp_path)) == len(os.sched_getaffinity(0))


def test_the_configured_count_wins(tmp_path: Path) -> None:
    assert worker_count(config(tmp_path, {"workers": 3})) == 3
    assert worker_count(config(tmp_path, {"workers": 1})) == 1
    # 0 is "choose": the same as leaving it out.
    assert config(tmp_path, {"workers": 0}).workers is None


def test_a_device_provider_is_served_by_one_process(tmp_path: Path) -> None:
    device = config(tmp_path, provider=[PKCS11])
    assert worker_count(device) == 1
    with pytest.raises(ConfigError, match="pkcs11 provider is served by one process"):
        worker_count(config(tmp_path, {"workers": 2}, provider=[PKCS11]))


def test_the_count_is_bounded(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="workers"):
        config(tmp_path, {"workers": 100_000})
    with pytest.raises(ConfigError, match="--workers"):
        config(tmp_path).with_overrides(workers=-1)
    assert config(tmp_path).with_overrides(workers=4).workers == 4


def test_the_first_process_of_a_run_empties_the_live_directory(tmp_path: Path) -> None:
    service = config(tmp_path)
    first = join_run(service)
    (service.live_directory / "trust.state").write_text("this run's root")
    # Another process of the same run (a worker, a service started again while the previous
    # one still drains): it joins what is there and empties nothing.
    joined = join_run(service)
    worker = join_run(service, may_start=False)
    assert (service.live_directory / "trust.state").exists()
    assert hold_offline(service.state_dir) is None  # a run is on: no KEK rotation now
    for fd in (first, joined, worker):
        os.close(fd)
    # Every process of that run has gone: the next start begins a new run.
    again = join_run(service)
    assert list(service.live_directory.iterdir()) == []
    assert service.live_directory.stat().st_mode & 0o777 == 0o700
    os.close(again)
    offline = hold_offline(service.state_dir)
    assert offline is not None
    os.close(offline)


def test_a_live_directory_that_is_a_link_is_not_followed(tmp_path: Path) -> None:
    service = config(tmp_path)
    service.state_dir.mkdir(mode=0o700, exist_ok=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious").write_text("not the service's")
    service.live_directory.symlink_to(elsewhere)
    os.close(join_run(service))
    assert (elsewhere / "precious").exists()
    assert service.live_directory.is_dir() and not service.live_directory.is_symlink()


def test_orders_keep_the_configuration_exactly(tmp_path: Path) -> None:
    service = config(tmp_path, {"workers": 2}, quotas={"max_keys": 7})
    start = read_first(io.BytesIO(encode(Start(service, 1, 9))))
    assert start == Start(service, 1, 9)

    async def follow() -> list[object]:
        reader = asyncio.StreamReader()
        reader.feed_data(encode(Reload(service)) + encode(Publish()))
        reader.feed_eof()
        return [await read_order(reader) for _ in range(3)]

    assert asyncio.run(follow()) == [Reload(service), Publish(), None]


def test_a_broken_pipe_is_refused_before_allocating(tmp_path: Path) -> None:
    huge = (MAX_ORDER + 1).to_bytes(4, "little")
    with pytest.raises(ValueError, match="an order of"):
        read_first(io.BytesIO(huge + b"x"))
    with pytest.raises(EOFError):
        read_first(io.BytesIO(encode(Start(config(tmp_path), 0, 3))[:-1]))
    with pytest.raises(ValueError, match="the first order is not Start"):
        read_first(io.BytesIO(encode(Publish())))


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_worker_says_which_it_is_in_every_record(log_format: str) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        configure_logging("info", log_format, stream, process="worker 1")
        logging.getLogger("tessera.test").info("serving")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
    line = stream.getvalue().strip()
    if log_format == "json":
        assert json.loads(line)["process_label"] == "worker 1"
    else:
        assert line.endswith("tessera.test (worker 1): serving")


def test_each_worker_enforces_its_share_of_the_service_wide_limits(tmp_path: Path) -> None:
    service = config(
        tmp_path,
        listener={"max_connections": 1024, "max_connections_per_uid": 9},
        quotas={"max_concurrent": 1, "requests_per_second": 100, "max_keys": 5},
    )
    share = share_of(service, 2)
    assert share.workers == 2
    assert share.connections.max_connections == 512
    assert share.connections.max_connections_per_uid == 5  # rounded up: 10 in all, at most
    assert share.quotas.max_concurrent == 1  # never none
    # Shared through the run's files, not split: the same for every worker.
    assert share.quotas.requests_per_second == 100 and share.quotas.max_keys == 5
    assert share_of(service, 1).connections == service.connections
