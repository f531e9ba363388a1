"""Cursors keep their spelling: clients hold them across releases."""

from __future__ import annotations

import base64

from api.types.common import decode_cursor, encode_cursor


def test_cursors_are_urlsafe_base64_of_kind_and_id() -> None:
    for value in (0, 1, 62, 63, 250, 12345, 2**31 - 1, 2**40 + 7, 2**63 - 1):
        for kind in ("entry", "notification", "visit"):
            cursor = encode_cursor(kind, value)
            assert cursor == base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode()
            assert decode_cursor(kind, cursor) == value


def test_a_cursor_past_a_database_id_is_a_bad_argument() -> None:
    import pytest

    from api.types.common import BadArgument

    for value in ("99999999999999999999999", str(2**63), "-1", "1e5", " 7"):
        cursor = base64.urlsafe_b64encode(f"entry:{value}".encode()).decode()
        with pytest.raises(BadArgument):
            decode_cursor("entry", cursor)
