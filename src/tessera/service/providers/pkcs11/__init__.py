"""The PKCS#11 provider: keys on a token through `python-pkcs11`.

`provider.Pkcs11Provider` is imported by the builder only when configured, so parsing a
configuration never loads `python-pkcs11`.
"""
