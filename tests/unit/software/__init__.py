"""In-process tests of the software provider."""
