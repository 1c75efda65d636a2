"""Methods written once, run blocking or awaited: how the sync and async APIs share one table.

A public method of the client library is defined once, as a flow, and decorated with `twin`
(a flow of `Call`s, see `_discovery.KeyFlow`) or `twin_steps` (a flow of exchanges and pauses,
see `_protocol.Flow`). On a `Blocking` class (`Client`, `Key`, `OperationClient`) it is a method
that runs the flow and returns its value; on an `Awaiting` class (`AsyncClient`, `AsyncKey`,
`AsyncOperationClient`) it is a coroutine method that does the same with await. So the two APIs
have the same names, parameters and docstrings by construction, and only the drivers differ:
`drive` and `adrive` are the library's two loops that perform a flow's I/O.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Generator
from types import FunctionType, MethodType, TracebackType

from tessera.client._discovery import KeyFlow
from tessera.client._errors import TesseraError
from tessera.client._protocol import Call, Flow

TYPE_CHECKING = False  # typing is not imported at run time: the `tessera` command's start-up
if TYPE_CHECKING:
    from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload
else:
    from tessera.wire._runtime_typing import Any, Generic, ParamSpec, TypeVar, overload

P = ParamSpec("P")
S = TypeVar("S")
T = TypeVar("T")

# What a twin method does: one call, or a flow of calls (one call needs no flow to drive).
Plan = Call[T] | KeyFlow[T]


def drive(flow: Generator[S, Any, T], perform: Callable[[S], object]) -> T:
    """Run a flow, blocking: perform each step it yields and send back the outcome, or throw
    the failure back into it (the flow decides what to try again)."""
    try:
        step = next(flow)
        while True:
            try:
                step = flow.send(perform(step))
            except TesseraError as error:
                # A flow that raised has finished, and throwing into it raises the same again.
                step = flow.throw(error)
    except StopIteration as done:
        result: T = done.value  # typing.cast would cost a call
        return result


async def adrive(flow: Generator[S, Any, T], perform: Callable[[S], Awaitable[object]]) -> T:
    """Run a flow from an event loop: `drive`, awaiting each step."""
    try:
        step = next(flow)
        while True:
            try:
                step = flow.send(await perform(step))
            except TesseraError as error:
                step = flow.throw(error)  # see `drive`
    except StopIteration as done:
        result: T = done.value
        return result


class Twin(Generic[P, T]):
    """One method, two bindings: blocking on a `Blocking` class, a coroutine on an `Awaiting`.

    `define(self, ...)` returns what the method does: one call or a flow of calls, each sent
    with the owner's `_execute` (`twin`); or a flow of exchanges and pauses, run by the owner's
    `_drive` (`twin_steps`). A class that inherits twins gets its bindings as plain functions
    when it is created (`_bind_twins`): calling one costs what calling any method does.
    """

    def __init__(
        self,
        define: Callable[..., Any],
        blocking: Callable[..., T],
        awaiting: Callable[..., Coroutine[Any, Any, T]],
    ) -> None:
        # Each binding shows the definition's name, parameters and docstring (help, inspect):
        # its signature is the definition's without the return annotation, read (by
        # `inspect.signature`) through `__wrapped__` when asked for, not computed here (`inspect`
        # is not imported at run time: the `tessera` command's start-up).
        shown = _without_return_annotation(define)
        for function in (blocking, awaiting):
            for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
                setattr(function, attribute, getattr(define, attribute))
            setattr(function, "__wrapped__", shown)  # noqa: B010 (not a declared attribute)
        self.blocking = blocking
        self.awaiting = awaiting

    @overload
    def __get__(self, owner: None, cls: type[Any]) -> Callable[..., Any]: ...

    @overload
    def __get__(self, owner: Blocking, cls: type[Any]) -> Callable[P, T]: ...  # noqa: F811

    @overload
    def __get__(  # noqa: F811 (overloads, `typing.overload` for type checkers only)
        self, owner: Awaiting, cls: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...

    def __get__(self, owner: object, cls: type[Any]) -> Callable[..., Any]:  # noqa: F811
        function = self.awaiting if issubclass(cls, Awaiting) else self.blocking
        return function if owner is None else MethodType(function, owner)


def _without_return_annotation(define: Callable[..., Any]) -> Callable[..., Any]:
    """A copy of the function `define` (same code, defaults, names) with no return annotation."""
    assert isinstance(define, FunctionType)
    code, defaults, closure = define.__code__, define.__defaults__, define.__closure__
    shown = FunctionType(code, define.__globals__, define.__name__, defaults, closure)
    shown.__kwdefaults__ = define.__kwdefaults__
    shown.__qualname__ = define.__qualname__
    shown.__module__ = define.__module__
    shown.__doc__ = define.__doc__
    shown.__annotations__ = {k: v for k, v in define.__annotations__.items() if k != "return"}
    return shown


def _bind_twins(cls: type, *, awaiting: bool) -> None:
    """Replace each twin a class inherits by the binding it needs, as a plain function."""
    seen: set[str] = set()
    for klass in cls.__mro__:  # each name as the first class in the MRO defines it
        for name, found in list(vars(klass).items()):
            if name in seen:
                continue
            seen.add(name)
            if isinstance(found, Twin):
                setattr(cls, name, found.awaiting if awaiting else found.blocking)


def twin(define: Callable[Concatenate[Any, P], Plan[T]]) -> Twin[P, T]:
    """A method defined as one call or a flow of calls (each sent with the owner's `_execute`)."""

    def blocking(owner: Blocking, /, *args: P.args, **kwargs: P.kwargs) -> T:
        plan = define(owner, *args, **kwargs)
        if isinstance(plan, Call):
            return owner._execute(plan)
        return drive(plan, owner._execute)

    async def awaiting(owner: Awaiting, /, *args: P.args, **kwargs: P.kwargs) -> T:
        plan = define(owner, *args, **kwargs)
        if isinstance(plan, Call):
            return await owner._execute(plan)
        return await adrive(plan, owner._execute)

    return Twin(define, blocking, awaiting)


def twin_steps(define: Callable[Concatenate[Any, P], Flow[T]]) -> Twin[P, T]:
    """A method defined as a flow of exchanges and pauses (run by the owner's `_drive`)."""

    def blocking(owner: Any, /, *args: P.args, **kwargs: P.kwargs) -> T:
        result: T = owner._drive(define(owner, *args, **kwargs))
        return result

    async def awaiting(owner: Any, /, *args: P.args, **kwargs: P.kwargs) -> T:
        result: T = await owner._drive(define(owner, *args, **kwargs))
        return result

    return Twin(define, blocking, awaiting)


class Blocking:
    """A class whose twin methods block. `_execute` sends one call and returns its result."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _bind_twins(cls, awaiting=False)

    def _execute(self, call: Call[T]) -> T:
        raise NotImplementedError


class Awaiting:
    """A class whose twin methods are coroutines. `_execute` sends one call, awaited."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _bind_twins(cls, awaiting=True)

    async def _execute(self, call: Call[T]) -> T:
        raise NotImplementedError


class Connected(Blocking):
    """A blocking client: a context manager that closes its connections on exit."""

    def close(self) -> None:
        """Close pooled connections (the client can still be used afterwards)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncConnected(Awaiting):
    """An asyncio client: an async context manager that closes its connections on exit."""

    async def aclose(self) -> None:
        """Close pooled connections (the client can still be used afterwards)."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
