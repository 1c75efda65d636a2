"""Which container a /proc/<pid>/cgroup text names."""

from __future__ import annotations

import os

import pytest

from tessera.trust.cgroups import CgroupConflictError, container_id_in, container_of

ID = "a" * 64
OTHER = "b" * 64


@pytest.mark.parametrize(
    "text",
    [
        f"0::/libpod_parent/libpod-{ID}\n",  # podman, cgroupfs, v2
        f"0::/machine.slice/libpod-{ID}.scope/container\n",  # podman, systemd, v2
        f"4:memory:/libpod_parent/libpod-{ID}\n1:cpu:/libpod_parent/libpod-{ID}\n0::/\n",  # v1
        f"0::/docker/{ID}\n",  # dockerd, cgroupfs
        f"0::/system.slice/docker-{ID}.scope\n",  # dockerd, systemd
        f"0::/docker/{OTHER}/libpod_parent/libpod-{ID}\n",  # podman inside docker: innermost
    ],
)
def test_engines_cgroups_name_the_container(text: str) -> None:
    assert container_id_in(text) == ID


@pytest.mark.parametrize(
    "text",
    [
        "0::/\n",
        "0::/user.slice/user-1000.slice/session-2.scope\n",
        f"0::/machine.slice/libpod-conmon-{ID}.scope\n",  # the engine's monitor, not the container
        "0::/libpod_parent/conmon\n",
        f"0::/libpod_parent/libpod-{ID[:-1]}\n",  # not a whole id
        f"0::/libpod_parent/libpod-{ID}x\n",
        "garbage",
    ],
)
def test_other_cgroups_name_no_container(text: str) -> None:
    assert container_id_in(text) is None


def test_hierarchies_naming_different_containers_are_refused() -> None:
    with pytest.raises(CgroupConflictError):
        container_id_in(f"4:memory:/libpod_parent/libpod-{ID}\n0::/libpod_parent/libpod-{OTHER}\n")


def test_this_test_runs_in_no_container_and_a_gone_process_in_none() -> None:
    assert container_of(os.getpid()) is None
    assert container_of(2**22 + 1) is None  # above the largest pid Linux hands out
