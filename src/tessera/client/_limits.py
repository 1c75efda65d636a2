"""Limits a client's settings must respect, importable without the rest of the library."""

# The longest wait a socket accepts here: poll() takes milliseconds in a C int (24.8 days).
MAX_TIMEOUT = 20 * 24 * 3600.0
