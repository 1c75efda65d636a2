"""The package version, in one place."""

__version__ = "0.1.0"
VERSION_TUPLE: tuple[int, int, int] = (0, 1, 0)
