"""The demo that `tessera up` runs: two applications, each with keys the other cannot touch."""
