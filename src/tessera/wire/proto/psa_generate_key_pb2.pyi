from tessera.wire.proto import psa_key_attributes_pb2 as _psa_key_attributes_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Operation(_message.Message):
    __slots__ = ("key_name", "attributes")
    KEY_NAME_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    key_name: str
    attributes: _psa_key_attributes_pb2.KeyAttributes
    def __init__(self, key_name: _Optional[str] = ..., attributes: _Optional[_Union[_psa_key_attributes_pb2.KeyAttributes, _Mapping]] = ...) -> None: ...

class Result(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
