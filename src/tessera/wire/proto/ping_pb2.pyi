from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Operation(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Result(_message.Message):
    __slots__ = ("wire_protocol_version_maj", "wire_protocol_version_min")
    WIRE_PROTOCOL_VERSION_MAJ_FIELD_NUMBER: _ClassVar[int]
    WIRE_PROTOCOL_VERSION_MIN_FIELD_NUMBER: _ClassVar[int]
    wire_protocol_version_maj: int
    wire_protocol_version_min: int
    def __init__(self, wire_protocol_version_maj: _Optional[int] = ..., wire_protocol_version_min: _Optional[int] = ...) -> None: ...
