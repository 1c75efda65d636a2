"""The identity provider: proves which application a process is, and says so in signed tokens."""
