from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Operation(_message.Message):
    __slots__ = ("size",)
    SIZE_FIELD_NUMBER: _ClassVar[int]
    size: int
    def __init__(self, size: _Optional[int] = ...) -> None: ...

class Result(_message.Message):
    __slots__ = ("random_bytes",)
    RANDOM_BYTES_FIELD_NUMBER: _ClassVar[int]
    random_bytes: bytes
    def __init__(self, random_bytes: _Optional[bytes] = ...) -> None: ...
