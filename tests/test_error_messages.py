"""Service refusals reach the pages as translated sentences chosen by the error's code."""

from __future__ import annotations

import pytest

from dashboard.actions import describe_error
from dashboard.i18n import t
from incidents.errors import ConflictError, PermissionDenied


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_refusal_with_a_code_reads_as_its_own_sentence(lang: str) -> None:
    exc = PermissionDenied("patrol_car PC1 lacks capability 'plow'", code="capability_mismatch")
    kind, text = describe_error(exc, lang)
    assert kind == "error"
    assert text == t("error.capability_mismatch", lang, detail=str(exc))
    assert text != t("error.denied", lang, detail=str(exc)), "not the generic 'denied'"


def test_a_code_without_a_sentence_falls_back_to_the_class() -> None:
    exc = PermissionDenied("no", code="no_such_code_in_the_catalogue")
    assert describe_error(exc, "en")[1] == t("error.denied", "en", detail="no")
    plain = ConflictError("assignment 3 changed meanwhile")
    assert describe_error(plain, "zh")[1] == t("error.conflict", "zh", detail=str(plain))
