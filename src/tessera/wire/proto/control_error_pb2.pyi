from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Reason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REASON_UNSPECIFIED: _ClassVar[Reason]
    NAME_IN_MANIFEST: _ClassVar[Reason]
    ALREADY_RUNNING: _ClassVar[Reason]
    NO_SUCH_APP: _ClassVar[Reason]
    INVALID_REQUEST: _ClassVar[Reason]
    START_FAILED: _ClassVar[Reason]
REASON_UNSPECIFIED: Reason
NAME_IN_MANIFEST: Reason
ALREADY_RUNNING: Reason
NO_SUCH_APP: Reason
INVALID_REQUEST: Reason
START_FAILED: Reason

class ErrorDetail(_message.Message):
    __slots__ = ("message", "reason")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    message: str
    reason: Reason
    def __init__(self, message: _Optional[str] = ..., reason: _Optional[_Union[Reason, str]] = ...) -> None: ...
