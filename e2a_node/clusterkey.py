"""The cluster key: one secret per cluster, from which every member derives the same TLS trust.

`e2a cluster init` writes 32 random bytes to the user config dir (`cluster.key`); the same file
(or the one-line token it holds, through `e2a cluster join TOKEN`) goes on every machine. From
that secret each process derives, with HKDF-SHA256 (RFC 5869):

* the cluster's certificate authority: a P-256 private key, hence the same CA on every machine
  without a CA file to distribute (the CA certificate is rebuilt locally from the key; only its
  public key and name matter for verification, and both are the same everywhere);
* a public fingerprint (16 hex digits), announced in mDNS so leaders skip foreign clusters'
  nodes without connecting.

At start every node and leader makes an ephemeral P-256 key and a certificate for it signed by
that CA (`Identity`), and both sides of every connection require a certificate chaining to the
CA: mutual TLS, from standard parts (`cryptography` for keys and certificates, TLS 1.3 from
OpenSSL/BoringSSL), nothing home-made. Whoever has the key is a member; there is nothing else
to trust and nothing to renew. The certificates' names are fixed (`TLS_SERVER_NAME`), so DHCP
address changes never break verification.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import logging
import os
import secrets
import socket
import stat
from dataclasses import dataclass, field
from pathlib import Path

from e2a_node.errors import E2AError

log = logging.getLogger(__name__)

KEY_FILE_ENV = "E2A_CLUSTER_KEY_FILE"
KEY_FILE_NAME = "cluster.key"
MDNS_PROPERTY = "key"  # the TXT record entry that carries a node's key fingerprint
TOKEN_PREFIX = "e2a-key-1:"
SECRET_BYTES = 32
# The name both sides put in and expect from a certificate (gRPC checks it; an IP SAN would break
# whenever DHCP hands a node a new address).
TLS_SERVER_NAME = "node.e2a.cluster"
# Certificates are ephemeral (made at each start) and the trust is the key itself, so validity
# dates carry no meaning here: a wide window keeps machines with wrong clocks working.
_NOT_BEFORE = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
_NOT_AFTER = datetime.datetime(9999, 12, 31, tzinfo=datetime.timezone.utc)
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def default_key_path() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("e2a")) / KEY_FILE_NAME


def _hkdf(secret: bytes, info: str, length: int) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(hashes.SHA256(), length, salt=b"e2a cluster key", info=info.encode()).derive(secret)


@dataclass(frozen=True)
class ClusterKey:
    """The cluster's secret and what is derived from it. `source` says where it was read."""

    secret: bytes
    source: str = ""

    def __post_init__(self) -> None:
        if len(self.secret) != SECRET_BYTES:
            raise E2AError(f"a cluster key is {SECRET_BYTES} bytes, not {len(self.secret)}")

    @classmethod
    def generate(cls) -> "ClusterKey":
        return cls(secrets.token_bytes(SECRET_BYTES))

    @classmethod
    def from_token(cls, token: str, source: str = "") -> "ClusterKey":
        token = token.strip()
        where = f"{source}: " if source else ""
        if not token.startswith(TOKEN_PREFIX):
            raise E2AError(f"{where}not an e2a cluster key (expected a line starting with {TOKEN_PREFIX!r}, "
                           "as `e2a cluster init` prints)")
        body = token[len(TOKEN_PREFIX):]
        try:
            secret = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (ValueError, TypeError):
            raise E2AError(f"{where}the cluster key is damaged (not base64)") from None
        if len(secret) != SECRET_BYTES or base64.urlsafe_b64encode(secret).rstrip(b"=").decode() != body:
            raise E2AError(f"{where}the cluster key is damaged (wrong length); copy it again from the "
                           "machine where `e2a cluster init` ran")
        return cls(secret, source)

    @property
    def token(self) -> str:
        """The one-line form: what the key file holds and `e2a cluster join` takes."""
        return TOKEN_PREFIX + base64.urlsafe_b64encode(self.secret).rstrip(b"=").decode()

    @property
    def fingerprint(self) -> str:
        """Public: names the cluster in mDNS and messages; reveals nothing about the secret."""
        return _hkdf(self.secret, "fingerprint", 8).hex()

    def derived_secret(self, purpose: str, length: int = 32) -> bytes:
        """Another secret bound to this key, for `purpose` (e.g. a web token)."""
        return _hkdf(self.secret, f"purpose:{purpose}", length)

    def identity(self, name: str) -> "Identity":
        """A fresh certificate for this process, signed by the cluster's CA."""
        return Identity.issue(self, name)

    def __repr__(self) -> str:  # never print the secret
        return f"ClusterKey(fingerprint={self.fingerprint}, source={self.source!r})"


@dataclass(frozen=True)
class Identity:
    """One process's TLS material, PEM-encoded: its key and certificate, and the CA to trust."""

    private_key_pem: bytes
    certificate_pem: bytes
    ca_pem: bytes
    fingerprint: str

    @classmethod
    def issue(cls, key: ClusterKey, name: str) -> "Identity":
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        scalar = int.from_bytes(_hkdf(key.secret, "ca-key", 48), "big") % (_P256_ORDER - 1) + 1
        ca_key = ec.derive_private_key(scalar, ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"e2a cluster {key.fingerprint}")])
        ca_cert = (
            x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
            .public_key(ca_key.public_key()).serial_number(int(key.fingerprint, 16) | 1)
            .not_valid_before(_NOT_BEFORE).not_valid_after(_NOT_AFTER)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         key_cert_sign=True, crl_sign=True, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        own = ec.generate_private_key(ec.SECP256R1())
        label = "".join(c for c in name if c.isprintable())[:64] or "e2a"
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, label)]))
            .issuer_name(ca_name).public_key(own.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(_NOT_BEFORE).not_valid_after(_NOT_AFTER)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(TLS_SERVER_NAME)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        return cls(
            private_key_pem=own.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()),
            certificate_pem=cert.public_bytes(pem),
            ca_pem=ca_cert.public_bytes(pem),
            fingerprint=key.fingerprint,
        )


def read_key_file(path: Path) -> ClusterKey:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise E2AError(f"cluster key file {path} not found (make one with `e2a cluster init`)") from None
    except OSError as exc:
        raise E2AError(f"cannot read cluster key file {path}: {exc.strerror or exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("cluster key file %s can be read by other users; `chmod 600 %s` keeps the cluster yours",
                    path, path)
    lines = [ln.strip() for ln in text[:4096].splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if len(lines) != 1:
        raise E2AError(f"{path}: not an e2a cluster key file (expected one line starting with {TOKEN_PREFIX!r})")
    return ClusterKey.from_token(lines[0], source=str(path))


def load_key(key_file: Path | str | None = None) -> ClusterKey | None:
    """The key to use: `key_file` (a --key-file option), else $E2A_CLUSTER_KEY_FILE, else the
    default file if it exists; None when there is none. A file named explicitly must exist."""
    explicit = key_file or os.environ.get(KEY_FILE_ENV)
    if explicit:
        return read_key_file(Path(explicit).expanduser())
    path = default_key_path()
    return read_key_file(path) if path.exists() else None


def write_key_file(key: ClusterKey, path: Path, *, force: bool = False) -> Path:
    """Write `key` to `path` (mode 0600, atomically). Refuses to replace another key unless `force`."""
    path = Path(path).expanduser()
    if path.exists() and not force:
        try:
            existing = read_key_file(path)
        except E2AError:
            existing = None
        if existing is not None and existing.secret == key.secret:
            return path
        raise E2AError(f"{path} already holds a cluster key; replacing it cuts this machine off its cluster "
                       "(pass --force to replace it anyway)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("# e2a cluster key: every machine of the cluster needs this file; keep it secret.\n")
            f.write(key.token + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise E2AError(f"cannot write cluster key file {path}: {exc.strerror or exc}") from None
    return path


def is_loopback(host: str) -> bool:
    """True when `host` (an address or a name) only reaches this machine."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


@dataclass
class ClusterAccess:
    """Whom this process may send a job to, and the certificate it shows them.

    With a key: only nodes that prove they hold it (TLS), and of those found over mDNS only the
    ones announcing its fingerprint. Without one: only nodes on this machine, unless `insecure`
    (then anyone reachable, in plain text: the README says what that means)."""

    key: ClusterKey | None = None
    insecure: bool = False
    name: str = "e2a"
    _identity: Identity | None = field(default=None, init=False, repr=False)

    @property
    def identity(self) -> Identity | None:
        if self.key is not None and self._identity is None:
            self._identity = self.key.identity(self.name)
        return self._identity

    @property
    def fingerprint(self) -> str:
        return self.key.fingerprint if self.key is not None else ""

    def refusal(self, host: str, announced: str | None) -> str | None:
        """Why not to use a node at `host` whose mDNS record announced key fingerprint `announced`
        ("" = announced none; None = not found over mDNS), or None when it may be used."""
        if self.key is not None:
            if announced is None or announced == self.key.fingerprint:
                return None
            if not announced:
                return "it runs without a cluster key (--insecure); this machine only uses members of its cluster"
            return f"it belongs to another cluster (key {announced[:8]}…, this machine's is {self.fingerprint[:8]}…)"
        if announced:
            return ("it requires a cluster key and this machine has none (copy it here with "
                    "`e2a cluster join TOKEN`, or pass --key-file)")
        if not self.insecure and not is_loopback(host):
            return ("it is not on this machine and there is no cluster key here: set one up with "
                    "`e2a cluster init` (see the README), or pass --insecure to send the book in plain text")
        return None
