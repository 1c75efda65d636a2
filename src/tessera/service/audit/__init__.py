"""The audit log of key use: append-only, hash-chained, signed at checkpoints (docs/audit.md)."""

from tessera.service.audit.chain import Break, ChainReport, read_records, verify_chain
from tessera.service.audit.writer import AUDITED_OPCODES, AuditLog

__all__ = ["AUDITED_OPCODES", "AuditLog", "Break", "ChainReport", "read_records", "verify_chain"]
