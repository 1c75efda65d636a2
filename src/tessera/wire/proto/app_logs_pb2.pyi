from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Operation(_message.Message):
    __slots__ = ("name", "lines", "replica")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    name: str
    lines: int
    replica: int
    def __init__(self, name: _Optional[str] = ..., lines: _Optional[int] = ..., replica: _Optional[int] = ...) -> None: ...

class Result(_message.Message):
    __slots__ = ("output", "log_file", "truncated")
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    LOG_FILE_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    output: bytes
    log_file: str
    truncated: bool
    def __init__(self, output: _Optional[bytes] = ..., log_file: _Optional[str] = ..., truncated: _Optional[bool] = ...) -> None: ...
