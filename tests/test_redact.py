"""The one redaction semantics, as a table: what is masked, and what must stay as it was."""

from __future__ import annotations

import pytest

from mozci_monitor.redact import (
    REDACTED,
    is_secret_key,
    redact_capability_url,
    redact_mapping,
    redact_text,
    redact_url,
    url_origin,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # URL user-info: the user stays, the password goes (also with an unencoded '@').
        ("amqps://alice:pw@pulse.mozilla.org:5671/", "amqps://alice:***@pulse.mozilla.org:5671/"),
        ("amqps://u:p@ss@h:5671/", "amqps://u:***@h:5671/"),
        ("postgresql://mozci:s3cret@db/mozci", "postgresql://mozci:***@db/mozci"),
        (
            "retry amqps://a:p%40ss@h/ then https://b:q@i/x",
            "retry amqps://a:***@h/ then https://b:***@i/x",
        ),
        ("https://user@example.org/", "https://user@example.org/"),
        ("https://host:8080/path@x", "https://host:8080/path@x"),
        ("no url here: host:5672", "no url here: host:5672"),
        # Query secrets: the name stays, the value goes; other parameters untouched.
        ("https://tc/a?bewit=SIG&x=1", "https://tc/a?bewit=***&x=1"),
        (
            "https://b.s3/x?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=dead&X-Amz-Expires=900",
            "https://b.s3/x?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Expires=900",
        ),
        ("https://h/?access_token=abc#frag", "https://h/?access_token=***#frag"),
        ("https://h/?a=b%20c&key=k1", "https://h/?a=b%20c&key=***"),
        ("https://h/?monkey=1", "https://h/?monkey=1"),
        # Bearer tokens and secret headers, also as a repr quotes them.
        ("Authorization: Bearer abc.def", "Authorization: Bearer ***"),
        ("header Bearer abc\x01 next", "header Bearer *** next"),
        ("b'Authorization: Bearer tok\\x01'", "b'Authorization: Bearer ***'"),
        ("{'Authorization': 'Basic dXNlcjpwdw=='}", "{'Authorization': 'Basic ***'}"),
        ("Cookie: session=abc; other=x", "Cookie: ***"),
        ("authorization=hawk-id", "authorization=***"),
        # DSN passwords, quoted or not.
        ("host=db user=m password=s3cret dbname=x", "host=db user=m password=*** dbname=x"),
        ("host=db password='se cret' port=5", "host=db password=*** port=5"),
        # Ordinary words stay.
        (
            "token in use, basic check, password policy",
            "token in use, basic check, password policy",
        ),
        ("", ""),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_known_secrets_are_masked_everywhere_and_empty_ones_ignored() -> None:
    assert (
        redact_text("k1 then k1, k2", ["k1", "", "k2"]) == f"{REDACTED} then {REDACTED}, {REDACTED}"
    )


def test_redaction_is_idempotent() -> None:
    once = redact_text("amqps://a:b@h/?token=t Authorization: Bearer x password=y")
    assert redact_text(once) == once


def test_redact_url_keeps_everything_but_secrets() -> None:
    url = "https://user:pw@tc.example/api/queue/v1/task/X/artifacts/a?bewit=SECRET&x=1"
    assert (
        redact_url(url)
        == "https://user:***@tc.example/api/queue/v1/task/X/artifacts/a?bewit=***&x=1"
    )
    assert redact_url("memory://") == "memory://"


def test_url_origin_hides_path_query_and_userinfo() -> None:
    assert url_origin("https://hooks.slack.com/services/T/B/x?t=1") == "https://hooks.slack.com/…"
    assert url_origin("https://[::1]:8448/") == "https://[::1]:8448"
    assert url_origin("http://[::1") == "<unparsable url>"


def test_capability_url_pieces_are_masked() -> None:
    url = "https://bot:hunter2@hooks.example.com/T0/B0/abcdef?token=q1"
    out = redact_capability_url(f"failed on {url}; path /T0/B0/abcdef; pw hunter2", url)
    assert "abcdef" not in out and "hunter2" not in out and "q1" not in out
    assert out.startswith("failed on https://hooks.example.com/…;")


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("password", True),
        ("Authorization", True),
        ("client_secret", True),
        ("api-key", True),
        ("access_token", True),
        ("Set-Cookie", True),
        ("token_file", False),
        ("routing_key", False),
        ("tokens_used", False),
        ("url", False),
    ],
)
def test_is_secret_key(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


def test_redact_mapping_masks_secret_keys_and_nested_text() -> None:
    error = ConnectionError("login to amqps://a:pw@h/ refused")
    redacted = redact_mapping(
        {
            "headers": {"Authorization": "Bearer t", "Accept": "application/json"},
            "password": 12345,
            "token": "",
            "error": error,
            "items": ("amqp://u:p@h/", 3, None),
            "raw": b"Bearer abc",
        }
    )
    assert redacted == {
        "headers": {"Authorization": REDACTED, "Accept": "application/json"},
        "password": REDACTED,
        "token": "",
        "error": "ConnectionError('login to amqps://a:***@h/ refused')",
        "items": ["amqp://u:***@h/", 3, None],
        "raw": "b'Bearer ***'",
    }
