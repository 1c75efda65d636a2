"""The request path's one-step response encoding is the general one's."""

from __future__ import annotations

import pytest

from tessera.wire.framing import encode_response
from tessera.wire.header import Header, response_header_for, response_to


@pytest.mark.parametrize("body", [b"", b"\x0a\x03abc", bytes(300)])
def test_response_to_is_encode_response_of_response_header_for(body: bytes) -> None:
    request = Header(
        provider=3, session=2**64 - 1, content_type=0, accept_type=0, auth_type=1,
        body_len=9, auth_len=5, opcode=0x0B, status=7, flags=0x0003,
    )  # fmt: skip
    for status in (0, 1141):
        expected = encode_response(response_header_for(request, status), body)
        assert response_to(request, status, body) == expected
