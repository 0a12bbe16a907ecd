"""TLS for the wire: what a leader's channel and a node's listener need from a cluster `Identity`.

Both sides present a certificate signed by the cluster's CA and require one from the other side
(see `e2a_node.clusterkey`). The leader uses gRPC's own TLS (`channel_credentials`); the node
terminates TLS in `gate.TlsGate` with Python's `ssl` (`server_context`), so that it can name the
peer and the reason when a connection is refused, which gRPC's server does not let it see.
"""

from __future__ import annotations

import os
import ssl
import tempfile

import grpc

from e2a_node.clusterkey import TLS_SERVER_NAME, Identity


def channel_credentials(identity: Identity) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(root_certificates=identity.ca_pem, private_key=identity.private_key_pem,
                                        certificate_chain=identity.certificate_pem)


# Certificates carry a fixed name, not an address: the channel checks that name.
CHANNEL_TLS_OPTIONS = [("grpc.ssl_target_name_override", TLS_SERVER_NAME)]


def server_context(identity: Identity) -> ssl.SSLContext:
    """TLS 1.3 only, a client certificate from the cluster's CA required, ALPN h2 (gRPC needs it)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=identity.ca_pem.decode())
    ctx.set_alpn_protocols(["h2"])
    # ssl only loads a certificate chain from files: a private folder, removed at once.
    with tempfile.TemporaryDirectory(prefix="e2a-tls-") as folder:
        cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
        for path, data in ((cert, identity.certificate_pem), (key, identity.private_key_pem)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        ctx.load_cert_chain(cert, key)
    return ctx


def refusal(exc: BaseException) -> str:
    """Why a TLS handshake with a client failed, in words a user can act on."""
    reason = (getattr(exc, "reason", None) or "").upper()
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "its certificate is not from this cluster's key (another cluster, or a wrong key file)"
    if reason in ("TLSV1_ALERT_UNKNOWN_CA", "SSLV3_ALERT_BAD_CERTIFICATE", "TLSV1_ALERT_DECRYPT_ERROR"):
        return "it does not trust this node's certificate: it uses another cluster key"
    if reason in ("PEER_DID_NOT_RETURN_A_CERTIFICATE", "TLSV13_ALERT_CERTIFICATE_REQUIRED"):
        return "it sent no certificate: it has no cluster key"
    if reason in ("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "UNKNOWN_PROTOCOL", "UNSUPPORTED_PROTOCOL",
                  "HTTPS_PROXY_REQUEST"):
        return "it does not speak TLS: a leader without the cluster key (give it --key-file)"
    if isinstance(exc, TimeoutError):
        return "it did not finish the TLS handshake in time"
    if isinstance(exc, ConnectionError) or isinstance(exc, EOFError):
        return "it gave up during the TLS handshake: it does not trust this node's certificate (another cluster key)"
    return f"TLS handshake failed ({reason.lower() or type(exc).__name__})"


def describe_channel_failure(details: str, have_key: bool) -> str | None:
    """A leader-side reading of a gRPC UNAVAILABLE error's details, when TLS explains it."""
    text = details or ""
    if "CERTIFICATE_VERIFY_FAILED" in text or "unable to get local issuer" in text:
        return "it uses another cluster key (its certificate is not signed by yours)"
    if have_key and ("WRONG_VERSION_NUMBER" in text or "Tls handshake failed" in text
                     or "TSI_PROTOCOL_FAILURE" in text):
        return "the TLS handshake failed: it runs without this cluster key (another key, or --insecure)"
    if not have_key and "Socket closed" in text:
        return ("it closed the connection: it probably requires a cluster key "
                "(copy it here with `e2a cluster join`, or pass --key-file)")
    return None
