from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AttestationMechanismParams(_message.Message):
    __slots__ = ("activate_credential",)
    class ActivateCredential(_message.Message):
        __slots__ = ("credential_blob", "secret")
        CREDENTIAL_BLOB_FIELD_NUMBER: _ClassVar[int]
        SECRET_FIELD_NUMBER: _ClassVar[int]
        credential_blob: bytes
        secret: bytes
        def __init__(self, credential_blob: _Optional[bytes] = ..., secret: _Optional[bytes] = ...) -> None: ...
    ACTIVATE_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    activate_credential: AttestationMechanismParams.ActivateCredential
    def __init__(self, activate_credential: _Optional[_Union[AttestationMechanismParams.ActivateCredential, _Mapping]] = ...) -> None: ...

class Operation(_message.Message):
    __slots__ = ("attested_key_name", "parameters", "attesting_key_name")
    ATTESTED_KEY_NAME_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    ATTESTING_KEY_NAME_FIELD_NUMBER: _ClassVar[int]
    attested_key_name: str
    parameters: AttestationMechanismParams
    attesting_key_name: str
    def __init__(self, attested_key_name: _Optional[str] = ..., parameters: _Optional[_Union[AttestationMechanismParams, _Mapping]] = ..., attesting_key_name: _Optional[str] = ...) -> None: ...

class AttestationOutput(_message.Message):
    __slots__ = ("activate_credential",)
    class ActivateCredential(_message.Message):
        __slots__ = ("credential",)
        CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
        credential: bytes
        def __init__(self, credential: _Optional[bytes] = ...) -> None: ...
    ACTIVATE_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    activate_credential: AttestationOutput.ActivateCredential
    def __init__(self, activate_credential: _Optional[_Union[AttestationOutput.ActivateCredential, _Mapping]] = ...) -> None: ...

class Result(_message.Message):
    __slots__ = ("output",)
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    output: AttestationOutput
    def __init__(self, output: _Optional[_Union[AttestationOutput, _Mapping]] = ...) -> None: ...
