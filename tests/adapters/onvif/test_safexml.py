"""The hardened XML parser: DTDs, entities and external references refused, size capped."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from adapters.errors import ProtocolFailure
from adapters.safexml import parse_xml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>"""


def test_well_formed_xml_parses() -> None:
    root = parse_xml(b'<?xml version="1.0"?><a xmlns="urn:x"><!-- c --><b>t</b></a>')
    assert root.tag == "{urn:x}a"
    assert [child.tag for child in root] == ["{urn:x}b"]  # the comment is gone


def test_billion_laughs_is_refused_without_expanding() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolFailure, match="DTD is refused"):
            parse_xml(BILLION_LAUGHS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


@pytest.mark.parametrize(
    "doc",
    [
        # External entity: would read a local file.
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
        # External DTD over the network.
        b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://203.0.113.1/evil.dtd"><r/>',
        # Parameter entity.
        b'<!DOCTYPE r [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><r/>',
        # A bare DOCTYPE is refused too.
        b"<!DOCTYPE r><r/>",
        # The same in UTF-16, invisible to a byte scan.
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>'.encode(
            "utf-16"
        ),
    ],
    ids=["external-entity", "external-dtd", "parameter-entity", "doctype", "utf16-dtd"],
)
def test_dtds_and_entities_are_refused(doc: bytes) -> None:
    with pytest.raises(ProtocolFailure, match="DTD is refused"):
        parse_xml(doc)


def test_refusal_never_quotes_the_input() -> None:
    with pytest.raises(ProtocolFailure) as info:
        parse_xml(b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>')
    assert "passwd" not in str(info.value)
    assert "root:" not in str(info.value)


def test_undeclared_entity_is_not_well_formed() -> None:
    with pytest.raises(ProtocolFailure, match="not well-formed"):
        parse_xml(b"<r>&x;</r>")


def test_over_the_cap_is_refused_before_parsing() -> None:
    huge = b"<r>" + b"a" * (2 << 20) + b"</r>"
    with pytest.raises(ProtocolFailure, match="refused"):
        parse_xml(huge)
    assert parse_xml(b"<r>" + b"a" * 100 + b"</r>", max_bytes=107).tag == "r"
    with pytest.raises(ProtocolFailure, match="limit 106"):
        parse_xml(b"<r>" + b"a" * 100 + b"</r>", max_bytes=106)


def test_deep_nesting_hits_the_parser_limit() -> None:
    deep = b"<a>" * 100_000 + b"</a>" * 100_000
    with pytest.raises(ProtocolFailure, match="not well-formed"):
        parse_xml(deep, max_bytes=1 << 20)


@pytest.mark.parametrize(
    "doc",
    [b"", b"   ", b"garbage", b"<a><b></a>", b"\x00\xff\xfe<a/>", b'<a x="1" x="2"/>', b"<a/><b/>"],
)
def test_garbage_is_a_protocol_failure(doc: bytes) -> None:
    with pytest.raises(ProtocolFailure):
        parse_xml(doc)


def test_no_file_is_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    doc = f'<!DOCTYPE r [<!ENTITY x SYSTEM "{secret.as_uri()}">]><r>&x;</r>'.encode()
    with pytest.raises(ProtocolFailure) as info:
        parse_xml(doc)
    assert "TOP-SECRET" not in str(info.value)
    # XInclude is not processed either.
    root = parse_xml(
        f'<r xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="{secret.as_uri()}" '
        'parse="text"/></r>'.encode()
    )
    assert "TOP-SECRET" not in "".join(root.itertext())
