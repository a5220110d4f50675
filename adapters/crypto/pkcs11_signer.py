"""``Pkcs11Signer``: the ``Signer`` port on a PKCS#11 token (a hardware security module).

Production CoS Party and TCoS Party signing must happen in a FIPS 140-2 Level 3 (or successor)
cryptographic module (DOMAIN.md 1; G2.44(a) as amended by ETMAD 3.2(c)); this adapter signs
inside such a module through its PKCS#11 library. Keys never leave the token: it finds a
private key by label (or by CKA_ID), has the token sign (``CKM_ECDSA_SHA256`` where the token
offers it, else SHA-256 here and ``CKM_ECDSA`` on the digest there), and reads back only public
objects: the public key's EC point, and a certificate stored under the same label.

Key handles are the private keys' labels; a key with no label, or one to find by CKA_ID, is
named ``id:<hex>``. Tokens are configured by a URI (``docs/operations.md``, "Keys in an HSM")::

    pkcs11:module=/usr/lib/softhsm/libsofthsm2.so;token=etmad;pin-env=ETMAD_HSM_PIN;label=tcos

The PIN is read from the environment variable ``pin-env`` names; a URI never carries a PIN.

Thread safety: the module is loaded and initialised once per process (python-pkcs11 keeps it);
each signer holds one logged-in session, used under a lock, reopened once if the token drops it
(the module re-initialised, the device reset).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, TypeVar
from urllib.parse import unquote

import attrs
import pkcs11
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pkcs11 import exceptions as p11

from adapters.crypto.software_signer import InvalidPrivateKey
from application.credentials import SignatureEncoding, UnknownKey
from domain.errors import DomainError

SCHEME: Final = "pkcs11:"
ID_PREFIX: Final = "id:"
#: DER of the named curve prime256v1 (1.2.840.10045.3.1.7), as CKA_EC_PARAMS holds it.
P256_EC_PARAMS: Final = bytes.fromhex("06082a8648ce3d030107")
_P256_OCTETS: Final = 32
_POINT_OCTETS: Final = 1 + 2 * _P256_OCTETS  # 0x04, X, Y
_ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEX: Final = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_ATTRIBUTES: Final = frozenset({"module", "token", "pin-env", "label", "id"})
_NEVER: Final = frozenset({"pin", "pin-value", "pin-source", "so-pin"})
#: The token dropped the session (module re-initialised, device reset): open another, once.
_LOST: Final = (
    p11.SessionHandleInvalid,
    p11.SessionClosed,
    p11.DeviceRemoved,
    p11.TokenNotPresent,
    p11.UserNotLoggedIn,
    p11.ObjectHandleInvalid,
    p11.KeyHandleInvalid,
)

T = TypeVar("T")


class Pkcs11UriInvalid(DomainError, ValueError):  # noqa: N818 — reads as the fact it reports
    """A ``pkcs11:`` URI that cannot be used: the message says which part and why."""

    code = "PKCS11_URI_INVALID"


class Pkcs11TokenUnavailable(DomainError):  # noqa: N818 — reads as the fact it reports
    """The PKCS#11 module, its token, the log-in or a token operation failed."""

    code = "PKCS11_TOKEN_UNAVAILABLE"


@attrs.frozen(kw_only=True)
class Pkcs11Uri:
    """``pkcs11:module=PATH;token=LABEL;pin-env=VAR;label=KEY`` (or ``id=HEX`` for the key).

    Values may be percent-encoded (``%3B`` for ``;``). ``label``/``id`` name the key; a URI
    naming neither names the token only (``keys`` lists what it holds).
    """

    module: str
    token: str
    pin_env: str
    label: str | None = None
    key_id: bytes | None = None

    @classmethod
    def parse(cls, text: str) -> Pkcs11Uri:
        """Parse ``text``, or raise ``Pkcs11UriInvalid`` naming what is wrong."""
        values = _attributes(text)
        for required in ("module", "token", "pin-env"):
            if not values.get(required):
                raise Pkcs11UriInvalid(f"the PKCS#11 URI lacks {required}=")
        if not _ENV_NAME.fullmatch(values["pin-env"]):
            raise Pkcs11UriInvalid(
                f"pin-env= names an environment variable, not {values['pin-env']!r}"
            )
        key_id = _key_id(values["id"]) if "id" in values else None
        if "label" in values and key_id is not None:
            raise Pkcs11UriInvalid("the PKCS#11 URI names its key by label= or id=, not both")
        if "label" in values and not values["label"]:
            raise Pkcs11UriInvalid("label= is empty")
        return cls(
            module=values["module"],
            token=values["token"],
            pin_env=values["pin-env"],
            label=values.get("label"),
            key_id=key_id,
        )

    @property
    def key(self) -> str | None:
        """The key's handle in a ``Pkcs11Signer``: its label, or ``id:<hex>``."""
        if self.key_id is not None:
            return ID_PREFIX + self.key_id.hex()
        return self.label

    def pin(self, environ: Mapping[str, str] | None = None) -> str:
        """The user PIN from the environment variable ``pin_env`` (never printed)."""
        value = (os.environ if environ is None else environ).get(self.pin_env)
        if not value:
            raise Pkcs11UriInvalid(
                f"the environment variable {self.pin_env} (pin-env=) holding the user PIN of "
                f"token {self.token!r} is not set"
            )
        return value


def _attributes(text: str) -> dict[str, str]:
    if not text.startswith(SCHEME):
        raise Pkcs11UriInvalid(f"a PKCS#11 URI starts with {SCHEME!r}")
    values: dict[str, str] = {}
    for part in text.removeprefix(SCHEME).split(";"):
        if not part:
            continue
        name, equals, value = part.partition("=")
        name = name.strip().lower()
        if name in _NEVER:
            raise Pkcs11UriInvalid(
                f"a PKCS#11 URI never carries a PIN ({name}=): name the environment "
                "variable holding it with pin-env=VAR"
            )
        if not equals or name not in _ATTRIBUTES:
            raise Pkcs11UriInvalid(
                f"unknown PKCS#11 URI attribute {part!r}: expected {', '.join(sorted(_ATTRIBUTES))}"
            )
        if name in values:
            raise Pkcs11UriInvalid(f"the PKCS#11 URI gives {name}= twice")
        values[name] = unquote(value)
    return values


def _key_id(text: str) -> bytes:
    hex_id = text.replace(":", "")
    if not _HEX.fullmatch(hex_id):
        raise Pkcs11UriInvalid(f"id= is hexadecimal (CKA_ID), not {text!r}")
    return bytes.fromhex(hex_id)


class Pkcs11Signer:
    """Signs with ECDSA P-256 keys held in one PKCS#11 token (implements ``Signer``)."""

    def __init__(self, *, module: str, token: str, pin: str) -> None:
        """Load ``module`` (once per process), find the token labelled ``token`` and log in
        with the user ``pin``; raises ``Pkcs11TokenUnavailable`` saying which step failed."""
        try:
            library = pkcs11.lib(module)
        except (OSError, RuntimeError) as e:
            raise Pkcs11TokenUnavailable(f"cannot load the PKCS#11 module {module}: {e}") from None
        self._library = library
        self._module = module
        self._token_label = token
        self._pin = pin
        self._lock = threading.Lock()
        self._session: pkcs11.Session | None = None
        mechanisms = self._with_session(lambda session: session.token.slot.get_mechanisms())
        if pkcs11.Mechanism.ECDSA_SHA256 in mechanisms:
            self._mechanism = pkcs11.Mechanism.ECDSA_SHA256
        elif pkcs11.Mechanism.ECDSA in mechanisms:
            self._mechanism = pkcs11.Mechanism.ECDSA
        else:
            raise Pkcs11TokenUnavailable(f"token {token!r} offers no ECDSA mechanism")

    @classmethod
    def from_uri(
        cls, uri: Pkcs11Uri | str, *, environ: Mapping[str, str] | None = None
    ) -> Pkcs11Signer:
        """The signer of the token ``uri`` names, logged in with the PIN ``pin-env`` names."""
        parsed = uri if isinstance(uri, Pkcs11Uri) else Pkcs11Uri.parse(uri)
        return cls(module=parsed.module, token=parsed.token, pin=parsed.pin(environ))

    @property
    def token(self) -> str:
        """The label of the token this signer signs in."""
        return self._token_label

    def sign(
        self, key: str, data: bytes, *, encoding: SignatureEncoding = SignatureEncoding.RAW
    ) -> bytes:
        """Sign ``data`` (hashed with SHA-256) with the key named ``key``, in the token."""
        data = bytes(data)

        def operation(session: pkcs11.Session) -> bytes:
            private = self._private_key(session, key)
            if self._mechanism is pkcs11.Mechanism.ECDSA_SHA256:
                return bytes(private.sign(data, mechanism=pkcs11.Mechanism.ECDSA_SHA256))
            digest = hashlib.sha256(data).digest()
            return bytes(private.sign(digest, mechanism=pkcs11.Mechanism.ECDSA))

        raw = self._with_session(operation)
        if len(raw) != 2 * _P256_OCTETS:
            raise Pkcs11TokenUnavailable(
                f"token {self._token_label!r} returned a {len(raw)}-byte signature for {key!r}, "
                "not r||s of P-256"
            )
        if SignatureEncoding(encoding) is SignatureEncoding.DER:
            return encode_dss_signature(
                int.from_bytes(raw[:_P256_OCTETS], "big"), int.from_bytes(raw[_P256_OCTETS:], "big")
            )
        return raw

    def public_key(self, key: str) -> bytes:
        """The DER SubjectPublicKeyInfo of the key named ``key``: from the token's public key
        object of that label (or id), else from the certificate stored under it."""

        def operation(session: pkcs11.Session) -> bytes:
            self._private_key(session, key)
            public = _one(session, pkcs11.ObjectClass.PUBLIC_KEY, key)
            if public is not None:
                return _spki_of_point(public[pkcs11.Attribute.EC_POINT], key)
            certificate = _one(session, pkcs11.ObjectClass.CERTIFICATE, key)
            if certificate is not None:
                return _spki_of_certificate(certificate[pkcs11.Attribute.VALUE])
            raise Pkcs11TokenUnavailable(
                f"token {self._token_label!r} holds key {key!r} but neither its public key nor "
                "a certificate under the same label"
            )

        return self._with_session(operation)

    def certificate(self, key: str) -> bytes | None:
        """The DER X.509 certificate stored in the token under the key's label (or id), if
        any."""

        def operation(session: pkcs11.Session) -> bytes | None:
            self._private_key(session, key)
            found = _one(session, pkcs11.ObjectClass.CERTIFICATE, key)
            return None if found is None else bytes(found[pkcs11.Attribute.VALUE])

        return self._with_session(operation)

    def keys(self) -> Sequence[str]:
        """The handles of the token's private keys (labels, else ``id:<hex>``), sorted."""

        def operation(session: pkcs11.Session) -> list[str]:
            handles = []
            for found in session.get_objects(
                {pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PRIVATE_KEY}
            ):
                label = found[pkcs11.Attribute.LABEL]
                handles.append(label or ID_PREFIX + bytes(found[pkcs11.Attribute.ID]).hex())
            return handles

        return tuple(sorted(self._with_session(operation)))

    def close(self) -> None:
        """Close this signer's session (the module stays loaded for others)."""
        with self._lock:
            if self._session is not None:
                session, self._session = self._session, None
                with contextlib.suppress(p11.PKCS11Error):  # gone with the token or module
                    session.close()

    def __contains__(self, handle: object) -> bool:
        return isinstance(handle, str) and handle in self.keys()

    # --- sessions ------------------------------------------------------------------------

    def _with_session(self, operation: Callable[[pkcs11.Session], T]) -> T:
        with self._lock:
            for _attempt in range(2):
                try:
                    return operation(self._open())
                except _LOST as e:
                    self._session = None
                    lost = type(e).__name__
                except p11.PKCS11Error as e:
                    raise self._failed(e) from None
            raise Pkcs11TokenUnavailable(
                f"token {self._token_label!r} dropped the session twice: {lost}"
            )

    def _failed(self, error: p11.PKCS11Error) -> Pkcs11TokenUnavailable:
        return Pkcs11TokenUnavailable(
            f"token {self._token_label!r}: {type(error).__name__} {error}".rstrip()
        )

    def _open(self) -> pkcs11.Session:
        """The logged-in session (the lock held)."""
        if self._session is not None:
            return self._session
        try:
            token = self._library.get_token(token_label=self._token_label)
        except p11.NoSuchToken:
            labels = sorted(t.label for t in self._library.get_tokens() if t.label)
            raise Pkcs11TokenUnavailable(
                f"no token labelled {self._token_label!r} in {self._module} "
                f"(tokens: {', '.join(labels) or 'none'})"
            ) from None
        except p11.MultipleTokensReturned:
            raise Pkcs11TokenUnavailable(
                f"more than one token is labelled {self._token_label!r} in {self._module}"
            ) from None
        try:
            session = token.open(user_pin=self._pin)
        except p11.UserAlreadyLoggedIn:
            session = token.open()  # log-in is per token and process: another signer did it
        except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange):
            raise Pkcs11TokenUnavailable(
                f"the user PIN of token {self._token_label!r} is wrong"
            ) from None
        except (p11.PinLocked, p11.PinExpired, p11.UserPinNotInitialized) as e:
            raise Pkcs11TokenUnavailable(
                f"cannot log in to token {self._token_label!r}: {type(e).__name__}"
            ) from None
        self._session = session
        return session

    def _private_key(self, session: pkcs11.Session, handle: str) -> Any:  # noqa: ANN401 — pkcs11's PrivateKey
        found = _one(session, pkcs11.ObjectClass.PRIVATE_KEY, handle)
        if found is None:
            raise UnknownKey(f"no key {handle!r} in token {self._token_label!r}")
        if (
            found[pkcs11.Attribute.KEY_TYPE] != pkcs11.KeyType.EC
            or bytes(found[pkcs11.Attribute.EC_PARAMS]) != P256_EC_PARAMS
        ):
            raise InvalidPrivateKey(
                f"key {handle!r} in token {self._token_label!r} is not an ECDSA P-256 key "
                "(DOMAIN.md 6)"
            )
        return found


def _template(handle: str) -> dict[pkcs11.Attribute, Any]:
    if handle.startswith(ID_PREFIX):
        hex_id = handle.removeprefix(ID_PREFIX)
        if _HEX.fullmatch(hex_id):
            return {pkcs11.Attribute.ID: bytes.fromhex(hex_id)}
    return {pkcs11.Attribute.LABEL: handle}


def _one(session: pkcs11.Session, kind: pkcs11.ObjectClass, handle: str) -> Any:  # noqa: ANN401 — pkcs11 objects
    """The one object of class ``kind`` named ``handle``; None if none; an error if several."""
    if not isinstance(handle, str) or not handle:
        return None
    found: Iterator[Any] = session.get_objects(
        {
            pkcs11.Attribute.CLASS: kind,
            **_template(handle),
        }
    )
    objects = list(found)
    if len(objects) > 1:
        raise Pkcs11TokenUnavailable(
            f"{len(objects)} {kind.name.lower().replace('_', ' ')} objects are named {handle!r} "
            "in the token: give each key its own label (or use id=)"
        )
    return objects[0] if objects else None


def _spki_of_point(ec_point: bytes, handle: str) -> bytes:
    """CKA_EC_POINT is a DER OCTET STRING holding the uncompressed point (some tokens give the
    point bare)."""
    point = bytes(ec_point)
    if len(point) == _POINT_OCTETS + 2 and point[:2] == bytes((0x04, _POINT_OCTETS)):
        point = point[2:]
    try:
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise Pkcs11TokenUnavailable(f"the public key of {handle!r} is not a P-256 point") from None
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _spki_of_certificate(der: bytes) -> bytes:
    return (
        x509.load_der_x509_certificate(bytes(der))
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


# --- loading keys into a token (test PKI, demos) ---------------------------------------------


def import_key(
    *,
    module: str,
    token: str,
    pin: str,
    label: str,
    private_key: bytes,
    certificate: bytes | None = None,
) -> bytes:
    """Store ``private_key`` (PEM or DER PKCS#8, or SEC 1; ECDSA P-256) in the token as
    ``label``: a sensitive, non-extractable signing key, its public key, and ``certificate``
    (DER or PEM X.509) if given, all three under ``label`` and one CKA_ID (the SHA-1 of the
    public point). Returns the DER SubjectPublicKeyInfo. A label already held is refused.

    For the DCC test PKI and demos: a production key is generated in its module, never
    imported from a file."""
    key = _load_private_key(private_key, source=label)
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    key_id = hashlib.sha1(point).digest()  # noqa: S324 — RFC 5280 4.2.1.2 (1) key identifier
    certificate_der = None if certificate is None else _certificate_der(certificate, label)
    if certificate_der is not None and _spki_of_certificate(certificate_der) != _spki_of_point(
        point, label
    ):
        raise InvalidPrivateKey(f"{label}: the certificate does not certify this key")
    signer = Pkcs11Signer(module=module, token=token, pin=pin)
    try:
        if label in signer:
            raise InvalidPrivateKey(f"token {token!r} already holds a key labelled {label!r}")
        library = pkcs11.lib(module)
        with library.get_token(token_label=token).open(rw=True) as session:
            # logged in: the signer's session holds the log-in for this process
            session.create_object(
                {
                    pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PRIVATE_KEY,
                    pkcs11.Attribute.KEY_TYPE: pkcs11.KeyType.EC,
                    pkcs11.Attribute.EC_PARAMS: P256_EC_PARAMS,
                    pkcs11.Attribute.VALUE: key.private_numbers().private_value.to_bytes(
                        _P256_OCTETS, "big"
                    ),
                    pkcs11.Attribute.LABEL: label,
                    pkcs11.Attribute.ID: key_id,
                    pkcs11.Attribute.TOKEN: True,
                    pkcs11.Attribute.PRIVATE: True,
                    pkcs11.Attribute.SENSITIVE: True,
                    pkcs11.Attribute.EXTRACTABLE: False,
                    pkcs11.Attribute.SIGN: True,
                }
            )
            session.create_object(
                {
                    pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PUBLIC_KEY,
                    pkcs11.Attribute.KEY_TYPE: pkcs11.KeyType.EC,
                    pkcs11.Attribute.EC_PARAMS: P256_EC_PARAMS,
                    pkcs11.Attribute.EC_POINT: bytes((0x04, len(point))) + point,
                    pkcs11.Attribute.LABEL: label,
                    pkcs11.Attribute.ID: key_id,
                    pkcs11.Attribute.TOKEN: True,
                    pkcs11.Attribute.PRIVATE: False,
                    pkcs11.Attribute.VERIFY: True,
                }
            )
            if certificate_der is not None:
                parsed = x509.load_der_x509_certificate(certificate_der)
                session.create_object(
                    {
                        pkcs11.Attribute.CLASS: pkcs11.ObjectClass.CERTIFICATE,
                        pkcs11.Attribute.CERTIFICATE_TYPE: pkcs11.CertificateType.X_509,
                        pkcs11.Attribute.VALUE: certificate_der,
                        pkcs11.Attribute.SUBJECT: parsed.subject.public_bytes(),
                        pkcs11.Attribute.LABEL: label,
                        pkcs11.Attribute.ID: key_id,
                        pkcs11.Attribute.TOKEN: True,
                        pkcs11.Attribute.PRIVATE: False,
                    }
                )
    except p11.PKCS11Error as e:
        raise Pkcs11TokenUnavailable(
            f"cannot store {label!r} in token {token!r}: {type(e).__name__} {e}".rstrip()
        ) from None
    finally:
        signer.close()
    return _spki_of_point(point, label)


def _load_private_key(data: bytes, *, source: str) -> ec.EllipticCurvePrivateKey:
    loader = (
        serialization.load_pem_private_key
        if data.lstrip().startswith(b"-----BEGIN")
        else serialization.load_der_private_key
    )
    try:
        key = loader(data, password=None)
    except (ValueError, TypeError) as e:
        raise InvalidPrivateKey(f"{source}: not an unencrypted private key ({e})") from None
    if not (isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)):
        raise InvalidPrivateKey(f"{source}: not an ECDSA P-256 key (DOMAIN.md 6)")
    return key


def _certificate_der(data: bytes, label: str) -> bytes:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            parsed = x509.load_pem_x509_certificate(data)
        else:
            parsed = x509.load_der_x509_certificate(data)
    except ValueError as e:
        raise InvalidPrivateKey(f"{label}: the certificate is not X.509 ({e})") from None
    return parsed.public_bytes(serialization.Encoding.DER)
