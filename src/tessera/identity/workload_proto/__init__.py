"""The SPIFFE Workload API's messages (workload.proto), as the identity provider serves them."""
