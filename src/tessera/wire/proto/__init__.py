"""Generated protobuf modules for the Parsec operation contracts (run scripts/gen-proto)."""
