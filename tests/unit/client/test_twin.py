"""The drivers and the method table shared by the blocking and the asyncio APIs (`_twin`)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import pytest

import tessera
from tessera.client._errors import TransportError, UsageError
from tessera.client._twin import adrive, drive

Steps = Generator[str, str, str]


def recovering() -> Steps:
    """Asks twice; a failure of the first step is answered by a second, different step."""
    try:
        first = yield "first"
    except TransportError:
        first = "lost"
    second = yield "second"
    return f"{first}+{second}"


def failing(seen: list[str]) -> Steps:
    """Raises its own error after the first step (it must come out as it is, once)."""
    seen.append((yield "first"))
    raise UsageError("the flow's own refusal")


def run_both(flow: Callable[[], Steps], perform: Callable[[str], str]) -> list[str]:
    """The flow's value (or the repr of its exception) under `drive` and under `adrive`."""
    results = []
    try:
        results.append(drive(flow(), perform))
    except Exception as error:
        results.append(repr(error))

    async def aperform(step: str) -> str:
        return perform(step)

    async def main() -> str:
        return await adrive(flow(), aperform)

    try:
        results.append(asyncio.run(main()))
    except Exception as error:
        results.append(repr(error))
    return results


def test_outcomes_go_back_into_the_flow() -> None:
    assert run_both(recovering, lambda step: step.upper()) == ["FIRST+SECOND"] * 2


def test_a_failure_of_a_step_is_thrown_into_the_flow() -> None:
    def perform(step: str) -> str:
        if step == "first":
            raise TransportError("the service hung up", transient=True)
        return step

    assert run_both(recovering, perform) == ["lost+second"] * 2


def test_the_flows_own_error_comes_out_unchanged() -> None:
    seen: list[str] = []
    error = UsageError("x")

    def flow() -> Steps:
        seen.append((yield "first"))
        raise error

    with pytest.raises(UsageError) as raised:
        drive(flow(), lambda step: step)
    assert raised.value is error and seen == ["first"]  # raised once, not thrown back in
    assert raised.value.__context__ is None and raised.value.__cause__ is None
    assert (
        run_both(lambda: failing([]), lambda step: step)
        == [repr(UsageError("the flow's own refusal"))] * 2
    )


def test_other_exceptions_do_not_reach_the_flow() -> None:
    reached: list[str] = []

    def flow() -> Steps:
        try:
            yield "first"
        except BaseException as error:
            reached.append(type(error).__name__)
            raise
        return "done"

    def perform(step: str) -> str:
        raise KeyboardInterrupt

    steps = flow()
    with pytest.raises(KeyboardInterrupt):
        drive(steps, perform)
    assert reached == []
    steps.close()
    assert reached == ["GeneratorExit"]


def test_twins_are_plain_methods_on_the_public_classes() -> None:
    for cls, name in [
        (tessera.Key, "sign"),
        (tessera.AsyncKey, "sign"),
        (tessera.Client, "generate_key"),
        (tessera.AsyncOperationClient, "psa_sign_hash"),
    ]:
        assert inspect.isfunction(inspect.getattr_static(cls, name)), (cls, name)


def test_one_definition_serves_both_clients() -> None:
    blocking = tessera.OperationClient.psa_generate_random
    awaiting = tessera.AsyncOperationClient.psa_generate_random
    assert blocking is not awaiting
    assert blocking.__doc__ == awaiting.__doc__ == "PsaGenerateRandom."
    assert inspect.signature(blocking) == inspect.signature(awaiting)


def test_a_twin_shows_its_definitions_parameters_without_its_return_annotation() -> None:
    """(Read through `__wrapped__` on demand: `inspect` is not imported when twins are made.)"""
    for method in (tessera.OperationClient.psa_sign_hash, tessera.Client.generate_key):
        signature = inspect.signature(method)
        assert signature.return_annotation is inspect.Signature.empty
        assert next(iter(signature.parameters)) == "self"
    bound = inspect.signature(tessera.OperationClient.psa_sign_hash)
    assert list(bound.parameters) == ["self", "name", "alg", "digest", "provider"]
    assert bound.parameters["provider"].default is None
    assert bound.parameters["provider"].kind is inspect.Parameter.KEYWORD_ONLY


def test_both_clients_send_the_same_requests() -> None:
    """The same method of either client sends the same bytes (a fake transport records them)."""
    sent: dict[str, list[bytes]] = {"sync": [], "async": []}

    def answer(data: bytes) -> Any:
        raise TransportError("recorded", sent=False)

    class Recording:
        def exchange(self, data: bytes, timeout: float | None = None, **_: Any) -> Any:
            sent["sync"].append(data)
            return answer(data)

    class AsyncRecording:
        async def exchange(self, data: bytes, timeout: float | None = None, **_: Any) -> Any:
            sent["async"].append(data)
            return answer(data)

    auth = tessera.DirectAuth("app")
    ops = tessera.OperationClient("unix:/nonexistent.sock", auth=auth, provider=1)
    ops._transport = Recording()  # type: ignore[assignment]
    aops = tessera.AsyncOperationClient("unix:/nonexistent.sock", auth=auth, provider=1)
    aops._transport = AsyncRecording()  # type: ignore[assignment]
    with pytest.raises(TransportError):
        ops.psa_generate_random(8)

    async def main(call: Callable[[], Awaitable[bytes]]) -> None:
        with pytest.raises(TransportError):
            await call()

    asyncio.run(main(lambda: aops.psa_generate_random(8)))
    assert sent["sync"] == sent["async"] and len(sent["sync"]) == 1
