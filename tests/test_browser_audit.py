"""The page audit's word check (:func:`tests.browser_audit.untranslated`) on known cases: it
finds English catalogue text in the Chinese interface and Chinese interface text in the English
one, and lets data (place and unit names, callers' words) through."""

from __future__ import annotations

from dashboard.i18n import STRINGS, t
from tests.browser_audit import untranslated

DATA = "阿巴嘎旗交警大队巡逻车\n号\n锡林浩特市\n车上有老人"  # as data_texts gives them


def test_english_catalogue_text_in_the_chinese_interface_is_found() -> None:
    shown = [
        t("patrol.tasks", "zh"),            # fine
        "XL-ABG-PC01",                       # data: a unit id
        t("login.logout", "en"),             # "Log out": untranslated
        t("patrol.eta", "en", minutes=12),   # "ETA 12 min": an English template, filled
        f"请 {t('patrol.clear_hazard', 'en')}",  # an English value inside Chinese text
        "G331 K12+300",                      # data: road and stake
    ]
    assert untranslated(shown, "zh", STRINGS) == [shown[2], shown[3], shown[4]]


def test_chinese_interface_text_in_the_english_interface_is_found() -> None:
    shown = [
        t("patrol.tasks", "en"),                      # fine
        "My unit: XL-ABG-PC01 · 阿巴嘎旗交警大队巡逻车1号",  # a unit's name is data
        "锡林浩特市",                                   # a place name is data
        t("patrol.dark", "zh"),                       # "夜间模式": untranslated
        "Caller said: 车上有老人",                      # the caller's words are data
        "Status: 已确认",                              # not data: untranslated
        "中文",                                        # the other language's name
        t("app.language", "en"),                      # bilingual on purpose
    ]
    found = untranslated(shown, "en", STRINGS, DATA, ["中文"])
    assert found == [shown[3], shown[5]]
