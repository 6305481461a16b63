"""Database URLs as they may appear in messages and reprs: the password is never shown."""

from __future__ import annotations

import re

__all__ = ["redact_url"]

# Query options whose value is a secret (TLS key passphrase, AWS session token inside
# authMechanismProperties).
_SECRET_OPTIONS = re.compile(r"(?i)\b(tlsCertificateKeyFilePassword|authMechanismProperties)=[^&]*")


def redact_url(url: str) -> str:
    """``url`` with the password (and secret query options) replaced by ``***``.

    ``mongodb://alice:s3cret@db:27017/app`` becomes ``mongodb://alice:***@db:27017/app`` and
    ``redis://:pw@h:6379/0`` becomes ``redis://:***@h:6379/0``; multi-host URLs work too. Strings
    that are not URLs are returned unchanged, so this is safe to call on anything.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    userinfo, at, hosts = authority.rpartition("@")
    if at and ":" in userinfo:
        user = userinfo.split(":", 1)[0]
        authority = f"{user}:***@{hosts}"
    return _SECRET_OPTIONS.sub(r"\1=***", f"{scheme}{sep}{authority}{slash}{tail}")
