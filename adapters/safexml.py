"""Parsing XML that came from a camera: hardened lxml, nothing resolved (DESIGN §12).

Cameras are untrusted.  `parse_xml` refuses any document with a DTD (so no entity, internal
or external, can be declared, let alone expanded), never touches the network or the file
system, keeps libxml2's limits on depth and text size (``huge_tree`` off), and refuses input
over a byte cap before parsing it.  Every refusal is a `ProtocolFailure` with a short message
that quotes nothing of the input.
"""

from __future__ import annotations

import threading

from lxml import etree  # type: ignore[import-untyped]  # no stubs installed

from adapters.errors import ProtocolFailure

__all__ = ["DEFAULT_MAX_XML_BYTES", "parse_xml"]

DEFAULT_MAX_XML_BYTES = 1 << 20

# Scanned for before parsing: cheap (memchr-speed) and it spares libxml2 from ever reading an
# internal subset.  The check on the parsed tree below catches what a byte scan cannot see
# (e.g. a UTF-16 document).
_DTD_MARKERS = (b"<!DOCTYPE", b"<!ENTITY")

_local = threading.local()


def _parser() -> etree.XMLParser:
    # One parser per thread: lxml parsers may be reused, but not by two threads at once.
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
            collect_ids=False,
        )
        _local.parser = parser
    return parser


def parse_xml(data: bytes, *, max_bytes: int = DEFAULT_MAX_XML_BYTES) -> etree._Element:
    """The root element of the XML document ``data``.

    Raises `ProtocolFailure` when ``data`` is longer than ``max_bytes`` (checked before any
    parsing), is empty, carries a DOCTYPE or ENTITY declaration ("XML with a DTD is
    refused"), or is not well-formed XML.  No entity is ever expanded and nothing outside
    ``data`` is read.
    """
    if len(data) > max_bytes:
        raise ProtocolFailure(f"XML of {len(data)} bytes refused (limit {max_bytes})")
    if not data.strip():
        raise ProtocolFailure("empty XML document")
    if any(marker in data for marker in _DTD_MARKERS):
        raise ProtocolFailure("XML with a DTD is refused")
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise ProtocolFailure(f"XML not well-formed (line {exc.lineno})") from None
    except (ValueError, TypeError) as exc:  # e.g. an unsupported encoding declaration
        raise ProtocolFailure(f"XML not parsed: {type(exc).__name__}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise ProtocolFailure("XML with a DTD is refused")
    return root
