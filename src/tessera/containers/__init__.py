"""Containers: the container engine (podman, dockerd) as the orchestrator's source of clients."""
