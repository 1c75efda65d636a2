from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Operation(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Result(_message.Message):
    __slots__ = ("has_root", "root_kid", "intermediate_kid")
    HAS_ROOT_FIELD_NUMBER: _ClassVar[int]
    ROOT_KID_FIELD_NUMBER: _ClassVar[int]
    INTERMEDIATE_KID_FIELD_NUMBER: _ClassVar[int]
    has_root: bool
    root_kid: str
    intermediate_kid: str
    def __init__(self, has_root: _Optional[bool] = ..., root_kid: _Optional[str] = ..., intermediate_kid: _Optional[str] = ...) -> None: ...
