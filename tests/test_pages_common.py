"""The browser id behind session ownership: stable across page loads, which re-mask the cookie."""

import os

from app_pages.common import _xsrf_token


def _masked(token: bytes, mask: bytes) -> str:
    masked = bytes(b ^ mask[k % len(mask)] for k, b in enumerate(token))
    return f"2|{mask.hex()}|{masked.hex()}|1795452078"


def test_the_same_token_under_two_masks_gives_the_same_id():
    token = os.urandom(16)
    first, second = _masked(token, os.urandom(4)), _masked(token, os.urandom(4))
    assert first != second
    assert _xsrf_token(first) == _xsrf_token(second) == token


def test_malformed_cookies_give_no_token():
    for cookie in ["", "garbage", "1|00|00|1", "2|zz|00|1", "2||abcd|1"]:
        assert _xsrf_token(cookie) is None
