from tessera.wire.proto import psa_algorithm_pb2 as _psa_algorithm_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Operation(_message.Message):
    __slots__ = ("key_name", "alg", "input", "mac")
    KEY_NAME_FIELD_NUMBER: _ClassVar[int]
    ALG_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    MAC_FIELD_NUMBER: _ClassVar[int]
    key_name: str
    alg: _psa_algorithm_pb2.Algorithm.Mac
    input: bytes
    mac: bytes
    def __init__(self, key_name: _Optional[str] = ..., alg: _Optional[_Union[_psa_algorithm_pb2.Algorithm.Mac, _Mapping]] = ..., input: _Optional[bytes] = ..., mac: _Optional[bytes] = ...) -> None: ...

class Result(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
