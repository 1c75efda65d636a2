from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Operation(_message.Message):
    __slots__ = ("removal",)
    REMOVAL_FIELD_NUMBER: _ClassVar[int]
    removal: str
    def __init__(self, removal: _Optional[str] = ...) -> None: ...

class Result(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
