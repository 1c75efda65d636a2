"""The orchestrator: launches applications, proves who they are to the identity provider."""
