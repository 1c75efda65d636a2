"""PSA Crypto types and policy: key attributes, algorithms, usage, key formats."""
