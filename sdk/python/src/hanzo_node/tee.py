"""The node's trusted execution environment (``hanzo:node/tee``, since
hanzo:node 0.3.3): the platform it runs in, its verified privacy tier, and
fresh attestation evidence binding a caller's nonce to the node's Ed25519
key. Needs ``permissions.tee = true`` in the manifest, granted by the
operator. Failures raise :class:`~hanzo_node.errors.TeeError`; on a node
without a TEE, :func:`attest` raises one of kind ``absent`` that says what
was looked for.

    from hanzo_node import tee
    s = tee.status()
    if s.tier >= 3:
        evidence = tee.attest(b"a nonce from the peer")
"""

from __future__ import annotations

from wit_world.imports import tee as _wit

from .errors import TeeError, host_caller

Platform = _wit.Platform
TeeStatus = _wit.TeeStatus
Attestation = _wit.Attestation


_call = host_caller(TeeError)


def status() -> TeeStatus:
    """The platform (``Platform.NONE`` without a TEE), the node's verified
    privacy tier (0 to 4), why, and the launch measurement where there is one."""
    return _call(_wit.status)


def attest(nonce: bytes) -> Attestation:
    """Fresh evidence whose report data is blake3(``nonce``) followed by the
    node's public key (``nonce``: 1 to 1024 bytes)."""
    return _call(_wit.attest, bytes(nonce))
