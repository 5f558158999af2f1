"""The HTTP method sets, defined once. Each policy uses the set that answers its own question, so
they differ on purpose:

- READ_METHODS (dry run, cloud/transport.py): what only reads. A dry run lets these through and
  stops every other method at the wire.
- IDEMPOTENT_METHODS (retries, cloud/retry.py): what may be sent twice with the effect of sending it
  once (RFC 9110 §9.2.2): the reads, and PUT and DELETE, which change something but the same way
  each time. Only these are retried after a 5xx, a timeout or a dropped connection.
- MUTATING_METHODS (cloud/errors.py, cloud/answers.py): the rest, POST and PATCH, which may act
  again each time they are sent (a second build, a second deployment). Never retried once sent;
  when the outcome is unknown the error says that the server may have acted on it.
- FOLLOWED_METHODS (redirects, cloud/redirects.py): the reads whose redirect says where the
  resource is, GET and HEAD. OPTIONS is a read, but asks about the endpoint itself, and we never
  send one; a change is never re-sent elsewhere.
"""

from __future__ import annotations

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IDEMPOTENT_METHODS = READ_METHODS | {"PUT", "DELETE"}
MUTATING_METHODS = frozenset({"POST", "PATCH"})
FOLLOWED_METHODS = READ_METHODS - {"OPTIONS"}
