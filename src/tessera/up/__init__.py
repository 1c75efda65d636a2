"""`tessera up`: the whole system, supervised, on embedded defaults."""
