"""A workload that knows only the SPIFFE Workload API, through the reference Python client
(py-spiffe) used as any SPIFFE workload uses it: the endpoint from SPIFFE_ENDPOINT_SOCKET.

Usage: spiffe_app.py OUT [--linger]. Writes one JSON document to OUT (atomically): what each call
gave, or its error. With --linger it then stays alive (an application keeps its identity only
while it runs) until it is signalled.

It also fetches the JWT bundle as raw bytes, as a bundle updater does to keep a verifier's
bundle file current (the security service's JWT-SVID authenticator reads one): with the gRPC
stubs py-spiffe ships, and the security header the specification requires.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

AUDIENCE = "parsec"
TRUST_DOMAIN = "tessera.local"


def error_of(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def raw_bundle() -> str:
    import grpc  # type: ignore[import-untyped]  # (no stubs)
    from spiffe._proto import workload_pb2, workload_pb2_grpc

    with grpc.insecure_channel(os.environ["SPIFFE_ENDPOINT_SOCKET"]) as channel:
        stub = workload_pb2_grpc.SpiffeWorkloadAPIStub(channel)  # type: ignore[no-untyped-call]
        header = [("workload.spiffe.io", "true")]
        stream = stub.FetchJWTBundles(workload_pb2.JWTBundlesRequest(), metadata=header, timeout=10)
        first = next(stream)
        stream.cancel()
    return str(first.bundles[f"spiffe://{TRUST_DOMAIN}"].decode())


def fetch_all() -> dict[str, Any]:
    from spiffe import JwtSvid, TrustDomain, WorkloadApiClient

    result: dict[str, Any] = {"pid": os.getpid()}
    token = ""
    with WorkloadApiClient(default_timeout=10) as client:
        try:
            svid = client.fetch_jwt_svid(audience={AUDIENCE})
            token = svid.token
            result.update(spiffe_id=str(svid.spiffe_id), token=token)
        except Exception as error:
            result["svid_error"] = error_of(error)
        try:
            bundle = client.fetch_jwt_bundles().get_bundle_for_trust_domain(
                TrustDomain(TRUST_DOMAIN)
            )
            assert bundle is not None, "no bundle for the trust domain"
            result["kids"] = sorted(bundle.jwt_authorities)
            if token:  # the client's own verification, with the bundle it was served
                verified = JwtSvid.parse_and_validate(token, bundle, {AUDIENCE})
                result["verified_locally"] = str(verified.spiffe_id)
        except Exception as error:
            result["bundle_error"] = error_of(error)
        try:
            validated = client.validate_jwt_svid(token or "e30.e30.e30", AUDIENCE)
            result["validated"] = str(validated.spiffe_id)
        except Exception as error:
            result["validate_error"] = error_of(error)
    try:
        result["bundle"] = raw_bundle()
    except Exception as error:
        result["raw_bundle_error"] = error_of(error)
    return result


def main() -> int:
    out = Path(sys.argv[1])
    result = fetch_all()
    temporary = out.with_suffix(".tmp")
    temporary.write_text(json.dumps(result))
    os.replace(temporary, out)
    if "--linger" in sys.argv[2:]:
        time.sleep(300)
    return 0


if __name__ == "__main__":
    sys.exit(main())
