"""SOAP plumbing of the simulated ONVIF service: parse requests safely, write envelopes,
faults, and the deliberately broken replies of the ``bad_xml``, ``xml_bomb`` and
``huge_body`` faults.

Requests are parsed with lxml with entities, DTDs and network access off; a request that
carries a DTD is refused.  Replies are written as text (they are small and fixed in shape).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree  # type: ignore[import-untyped]  # no stubs; mypy config lists none

__all__ = [
    "SOAP11",
    "SOAP12",
    "SoapRequest",
    "SoapRequestError",
    "bad_xml",
    "envelope",
    "fault",
    "huge_envelope",
    "parse_request",
    "xml_bomb",
]

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
NAMESPACES = (
    'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
    'xmlns:trt="http://www.onvif.org/ver10/media/wsdl" '
    'xmlns:tt="http://www.onvif.org/ver10/schema" '
    'xmlns:ter="http://www.onvif.org/ver10/error"'
)

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)


class SoapRequestError(ValueError):
    """The request body is not a usable SOAP envelope."""


@dataclass(frozen=True, slots=True)
class SoapRequest:
    """What the simulator needs from a SOAP request: version, operation, security token."""

    soap_ns: str
    operation: str
    body: etree._Element
    username: str | None = None
    password: str | None = None
    password_type: str = ""
    nonce: str | None = None
    created: str | None = None

    @property
    def has_token(self) -> bool:
        """True if the request carried a UsernameToken."""
        return self.username is not None

    def arg(self, name: str) -> str | None:
        """Text of the first element called ``name`` (any namespace) inside the operation."""
        for element in self.body.iter():
            if isinstance(element.tag, str) and etree.QName(element).localname == name:
                return (element.text or "").strip()
        return None


def _child(parent: etree._Element | None, ns: str, name: str) -> etree._Element | None:
    return None if parent is None else parent.find(f"{{{ns}}}{name}")


def parse_request(body: bytes) -> SoapRequest:
    """Parse a SOAP 1.1/1.2 request; raise ``SoapRequestError`` for anything unusable."""
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SoapRequestError(f"not well-formed XML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise SoapRequestError("DTDs are not accepted")
    ns = etree.QName(root).namespace or ""
    if ns not in (SOAP11, SOAP12) or etree.QName(root).localname != "Envelope":
        raise SoapRequestError("not a SOAP envelope")
    soap_body = _child(root, ns, "Body")
    operation = None if soap_body is None else next(iter(soap_body), None)
    if operation is None or not isinstance(operation.tag, str):
        raise SoapRequestError("empty SOAP body")
    token = _child(_child(_child(root, ns, "Header"), WSSE, "Security"), WSSE, "UsernameToken")
    if token is None:
        return SoapRequest(ns, etree.QName(operation).localname, operation)
    user = _child(token, WSSE, "Username")
    password = _child(token, WSSE, "Password")
    nonce = _child(token, WSSE, "Nonce")
    created = _child(token, WSU, "Created")
    return SoapRequest(
        ns,
        etree.QName(operation).localname,
        operation,
        username=(user.text or "").strip() if user is not None else "",
        password=(password.text or "").strip() if password is not None else None,
        password_type=password.get("Type", "") if password is not None else "",
        nonce=(nonce.text or "").strip() if nonce is not None else None,
        created=(created.text or "").strip() if created is not None else None,
    )


def content_type(soap_ns: str) -> str:
    """The Content-Type of a reply in the given SOAP version."""
    if soap_ns == SOAP11:
        return "text/xml; charset=utf-8"
    return "application/soap+xml; charset=utf-8"


def envelope(soap_ns: str, body: str) -> bytes:
    """A complete reply envelope around ``body`` (XML text using tds/trt/tt/ter prefixes)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<env:Envelope xmlns:env="{soap_ns}" {NAMESPACES}>'
        f"<env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


def fault(soap_ns: str, subcode: str, reason: str, *, sender: bool = True) -> bytes:
    """A SOAP fault envelope with an ONVIF ``ter:`` subcode (e.g. ``NotAuthorized``)."""
    if soap_ns == SOAP11:
        code = "env:Client" if sender else "env:Server"
        body = (
            f"<env:Fault><faultcode>{code}</faultcode><faultstring>{reason}</faultstring>"
            f"<detail><ter:Subcode>ter:{subcode}</ter:Subcode></detail></env:Fault>"
        )
        return envelope(soap_ns, body)
    code = "env:Sender" if sender else "env:Receiver"
    body = (
        f"<env:Fault><env:Code><env:Value>{code}</env:Value>"
        f"<env:Subcode><env:Value>ter:{subcode}</env:Value></env:Subcode></env:Code>"
        f'<env:Reason><env:Text xml:lang="en">{reason}</env:Text></env:Reason></env:Fault>'
    )
    return envelope(soap_ns, body)


def bad_xml(soap_ns: str) -> bytes:
    """A reply that starts like an envelope and is not well-formed (mismatched, unclosed)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<env:Envelope xmlns:env="{soap_ns}" {NAMESPACES}><env:Body>'
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
        "<tt:DateTimeType>NTP</tt:DaylightSavings><tt:UTCDateTime <<garbage & more"
    ).encode()


def xml_bomb(soap_ns: str) -> bytes:
    """A reply with a billion-laughs internal DTD: ten levels of ten-fold entity expansion."""
    entities = ['<!ENTITY lol0 "lol">']
    for level in range(1, 10):
        entities.append(f'<!ENTITY lol{level} "' + f"&lol{level - 1};" * 10 + '">')
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<!DOCTYPE env:Envelope [{''.join(entities)}]>\n"
        f'<env:Envelope xmlns:env="{soap_ns}" {NAMESPACES}><env:Body>'
        "<tds:GetDeviceInformationResponse><tds:Manufacturer>&lol9;</tds:Manufacturer>"
        "</tds:GetDeviceInformationResponse></env:Body></env:Envelope>"
    ).encode()


_FILLER = b" " * 65536


def huge_envelope(soap_ns: str, total_bytes: int) -> tuple[bytes, Iterator[bytes], int]:
    """A well-formed envelope exactly ``total_bytes`` long, as (head, lazy rest, rest length).

    The middle is whitespace produced 64 KiB at a time from one shared buffer, so a 100 MB
    reply costs no memory.
    """
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<env:Envelope xmlns:env="{soap_ns}" {NAMESPACES}><env:Body>'
        "<tds:GetDeviceInformationResponse><tds:Manufacturer>"
    ).encode()
    tail = b"</tds:Manufacturer></tds:GetDeviceInformationResponse></env:Body></env:Envelope>"
    filler = max(0, total_bytes - len(head) - len(tail))

    def chunks() -> Iterator[bytes]:
        left = filler
        view = memoryview(_FILLER)
        while left > 0:
            step = min(left, len(_FILLER))
            yield bytes(view[:step]) if step < len(_FILLER) else _FILLER
            left -= step
        yield tail

    return head, chunks(), filler + len(tail)
