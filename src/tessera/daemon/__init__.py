"""What every Tessera daemon shares: the Unix-socket front end and the run loop.

The security service and the identity provider each plug a request handler (authenticate,
route, run) into the same listener, framing, timeouts, peer credentials and ordered shutdown.
"""
