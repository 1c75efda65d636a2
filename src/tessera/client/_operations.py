"""The operation layer: one method per Parsec opcode, with every PSA knob.

`OperationClient` blocks; `AsyncOperationClient` is the same API for asyncio. Their methods are
one table (`_operation_table`), their setup and every call are sans-I/O flows (`_session`,
`_protocol`); each class here only drives them: it sends their exchanges, honours their pauses
within the call's timeout, and throws every failure back into them.
"""

from __future__ import annotations

import time

from tessera.client._connections import Role
from tessera.client._errors import CallTimeoutError
from tessera.client._operation_table import OperationLayer
from tessera.client._protocol import Authentication, Call, Flow, Pause, Step, Target
from tessera.client._transport import SyncTransport
from tessera.client._twin import AsyncConnected, Connected, adrive, drive
from tessera.wire.framing import Frame

TYPE_CHECKING = False  # typing is not imported at run time: the `tessera` command's start-up
if TYPE_CHECKING:
    from typing import TypeVar
else:
    from tessera.wire._runtime_typing import TypeVar

if TYPE_CHECKING:  # asyncio loads with the asyncio client only (the CLI's start-up)
    from tessera.client._async_transport import AsyncTransport

T = TypeVar("T")


def _remaining(deadline: float) -> float:
    """Seconds left for a call; CallTimeoutError once its budget is spent."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise CallTimeoutError("the call did not complete within the timeout")
    return left


def _pause(step: Pause, deadline: float) -> float:
    """A pause's seconds; CallTimeoutError (thrown into the flow) if it would end after the
    call's deadline."""
    if time.monotonic() + step.seconds >= deadline:
        raise CallTimeoutError("the call did not complete within the timeout")
    return step.seconds


class OperationClient(OperationLayer[SyncTransport], Connected):
    """Every Parsec operation, blocking. Safe to share between threads.

    `endpoint` is a `unix:` URI or a socket path (default: `PARSEC_SERVICE_ENDPOINT`, then the
    documented defaults); `auth` defaults to the best the service accepts (see `tessera.Client`);
    `provider` defaults to the service's first crypto provider; `timeout` and `restart_wait` are
    as for `tessera.Client`.
    """

    def _open(self, path: str, role: Role) -> SyncTransport:
        return SyncTransport(path, timeout=self._session.timeout, role=role)

    def close(self) -> None:
        """Close pooled connections."""
        self._transport.close()
        if self._identity is not None:
            self._identity.close()

    @property
    def auth(self) -> Authentication:
        """`get_auth()` as a property (the asyncio client has `get_auth()` only: a property
        cannot await)."""
        return self.get_auth()

    def _execute(self, call: Call[T]) -> T:
        return self._drive(self._session.call(call))

    def _drive(self, steps: Flow[T]) -> T:
        """Run a flow within one timeout: send its exchanges to the right daemon, sleep its
        pauses, and throw every failure back into it (it decides what to try again)."""
        deadline = time.monotonic() + self._session.timeout

        def perform(step: Step) -> Frame | None:
            if isinstance(step, Pause):
                time.sleep(_pause(step, deadline))
                return None
            transport = self._transport
            if step.target is not Target.SERVICE:
                transport = self._identity_transport()
            return transport.exchange(step.data, _remaining(deadline), idempotent=step.idempotent)

        return drive(steps, perform)


class AsyncOperationClient(OperationLayer["AsyncTransport"], AsyncConnected):
    """Every Parsec operation, for asyncio (the arguments of `OperationClient`). Use it from
    one event loop (its pooled connections belong to that loop)."""

    def _open(self, path: str, role: Role) -> AsyncTransport:
        from tessera.client._async_transport import AsyncTransport

        return AsyncTransport(path, timeout=self._session.timeout, role=role)

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._transport.aclose()
        if self._identity is not None:
            await self._identity.aclose()

    async def _execute(self, call: Call[T]) -> T:
        return await self._drive(self._session.call(call))

    async def _drive(self, steps: Flow[T]) -> T:
        """`OperationClient._drive`, awaiting instead of blocking."""
        deadline = time.monotonic() + self._session.timeout

        import asyncio  # loaded with the asyncio transport already: a dictionary lookup

        async def perform(step: Step) -> Frame | None:
            if isinstance(step, Pause):
                await asyncio.sleep(_pause(step, deadline))
                return None
            transport = self._transport
            if step.target is not Target.SERVICE:
                transport = self._identity_transport()
            remaining = _remaining(deadline)
            return await transport.exchange(step.data, remaining, idempotent=step.idempotent)

        return await adrive(steps, perform)
