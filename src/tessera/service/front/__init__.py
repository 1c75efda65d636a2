"""The front end: the Unix socket listener, framing per connection, peer credentials."""
