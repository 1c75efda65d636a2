from tessera.wire.proto import psa_key_attributes_pb2 as _psa_key_attributes_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CheckType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHECKTYPE_NONE: _ClassVar[CheckType]
    USE: _ClassVar[CheckType]
    GENERATE: _ClassVar[CheckType]
    IMPORT: _ClassVar[CheckType]
    DERIVE: _ClassVar[CheckType]
CHECKTYPE_NONE: CheckType
USE: CheckType
GENERATE: CheckType
IMPORT: CheckType
DERIVE: CheckType

class Operation(_message.Message):
    __slots__ = ("check_type", "attributes")
    CHECK_TYPE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    check_type: CheckType
    attributes: _psa_key_attributes_pb2.KeyAttributes
    def __init__(self, check_type: _Optional[_Union[CheckType, str]] = ..., attributes: _Optional[_Union[_psa_key_attributes_pb2.KeyAttributes, _Mapping]] = ...) -> None: ...

class Result(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
