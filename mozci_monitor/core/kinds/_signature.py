"""The failure-signature parameters kinds share (until-fail, bisect): `test` or `signature`.

Given, a campaign judges its runs by their test results instead of their colour; its
parameters carry the signature as text, checked at submission by the core's parser.
"""

from __future__ import annotations

from mozci_monitor.core.errors import SignatureError, SubmissionError
from mozci_monitor.core.kinds._params import Param, param
from mozci_monitor.core.signature import MAX_SIGNATURE_CHARS, FailureSignature, parse_signature

TEST = Param(
    "judge runs by this test (its path), not by the job's colour",
    min_length=1,
    max_length=MAX_SIGNATURE_CHARS,
    pattern=r"^[\s\S]*\S[\s\S]*$",
    what="a test path",
    excludes="signature",
)
SIGNATURE = Param(
    "judge runs by a failure signature: test:PATH, crash:SIGNATURE or group:MANIFEST",
    min_length=1,
    max_length=MAX_SIGNATURE_CHARS + len("test:"),  # the shortest kind
    pattern=r"^(test|crash|group):[\s\S]*\S[\s\S]*$",
    what="test:PATH, crash:SIGNATURE or group:MANIFEST",
    excludes="test",
)


def test_field() -> str | None:
    return param(TEST, None)  # type: ignore[no-any-return]


def signature_field() -> str | None:
    return param(SIGNATURE, None)  # type: ignore[no-any-return]


def failure_signature(test: str | None, signature: str | None) -> FailureSignature | None:
    """What the runs are judged by, if not by their colour (SignatureError if refused)."""
    if test is not None:
        return parse_signature(f"test:{test}")
    if signature is not None:
        return parse_signature(signature)
    return None


def check_signature(test: str | None, signature: str | None) -> None:
    """The submission's refusal (SubmissionError naming the field), if any."""
    if test is not None and signature is not None:
        raise SubmissionError("give --test or --signature, not both", field="signature")
    try:
        failure_signature(test, signature)
    except SignatureError as error:
        field = "test" if test is not None else "signature"
        raise SubmissionError(f"{field}: {error}", field=field) from None
