from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Instance(_message.Message):
    __slots__ = ("client_id", "pid", "state", "restarts", "exit_status", "error", "log_file")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    EXIT_STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LOG_FILE_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    pid: int
    state: str
    restarts: int
    exit_status: int
    error: str
    log_file: str
    def __init__(self, client_id: _Optional[str] = ..., pid: _Optional[int] = ..., state: _Optional[str] = ..., restarts: _Optional[int] = ..., exit_status: _Optional[int] = ..., error: _Optional[str] = ..., log_file: _Optional[str] = ...) -> None: ...

class App(_message.Message):
    __slots__ = ("name", "spiffe_id", "command", "restart", "instances", "one_off")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPIFFE_ID_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    RESTART_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    ONE_OFF_FIELD_NUMBER: _ClassVar[int]
    name: str
    spiffe_id: str
    command: _containers.RepeatedScalarFieldContainer[str]
    restart: str
    instances: _containers.RepeatedCompositeFieldContainer[Instance]
    one_off: bool
    def __init__(self, name: _Optional[str] = ..., spiffe_id: _Optional[str] = ..., command: _Optional[_Iterable[str]] = ..., restart: _Optional[str] = ..., instances: _Optional[_Iterable[_Union[Instance, _Mapping]]] = ..., one_off: _Optional[bool] = ...) -> None: ...

class Operation(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Result(_message.Message):
    __slots__ = ("apps",)
    APPS_FIELD_NUMBER: _ClassVar[int]
    apps: _containers.RepeatedCompositeFieldContainer[App]
    def __init__(self, apps: _Optional[_Iterable[_Union[App, _Mapping]]] = ...) -> None: ...
