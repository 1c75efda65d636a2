from tessera.wire.proto import psa_algorithm_pb2 as _psa_algorithm_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Operation(_message.Message):
    __slots__ = ("alg", "input", "hash")
    ALG_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    alg: _psa_algorithm_pb2.Algorithm.Hash
    input: bytes
    hash: bytes
    def __init__(self, alg: _Optional[_Union[_psa_algorithm_pb2.Algorithm.Hash, str]] = ..., input: _Optional[bytes] = ..., hash: _Optional[bytes] = ...) -> None: ...

class Result(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
