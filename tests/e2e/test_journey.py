"""The acceptance journey of issue 2 in a real browser, in Chinese and in English: log in as
each demo role, search a resident by pinyin initials as the doctor, open the record, see
encounters at village, township and county level, log out, and find that view in the audit
log as the auditor; the system administrator issues an integrating system's token (issue 3).
"""

from pathlib import Path

import pytest

from tests.web.factories import make_world
from tiercare.accounts.models import AuditEvent
from tiercare.accounts.services import DEMO_PASSWORD, create_demo_accounts

SHOTS = Path("/tmp/tiercare-e2e")

#: What each language shows, so that the test reads the page as a user would.
TEXT = {
    "zh-hans": {"search": "居民检索", "audit": "审计日志", "viewed": "查看", "switch": "中文",
                "systems": "对接系统", "county": "全县", "issue": "签发令牌"},
    "en": {"search": "Resident search", "audit": "Audit log", "viewed": "Viewed",
           "switch": "English", "systems": "Integrating systems", "county": "The whole county",
           "issue": "Issue the token"},
}

#: The navigation entries each demo role must see on its landing page.
LANDING = {
    "admin": {"search", "referrals", "calendar", "family_doctors", "overview", "institutions",
              "grid", "indicators", "tightness", "audit", "systems", "admin"},
    "alliance_admin": {"referrals", "calendar", "family_doctors", "overview", "institutions",
                       "grid", "indicators", "tightness", "admin"},
    "regulator": {"search", "referrals", "family_doctors", "overview", "institutions", "grid",
                  "indicators", "tightness"},
    "auditor": {"search", "referrals", "family_doctors", "overview", "indicators", "audit"},
    "doctor": {"search", "referrals", "calendar", "family_doctors", "overview"},
    "nurse": {"search", "referrals", "calendar", "family_doctors", "overview"},
    "pharmacist": {"search", "overview"},
    "village_doctor": {"search", "referrals", "calendar", "family_doctors", "overview"},
    "hospital_doctor": {"search", "referrals", "calendar", "family_doctors", "overview"},
}


def log_in(page, base, username, text):
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("[data-testid=login-submit]")
    page.wait_for_selector("[data-testid=welcome]")


def log_out(page, text):
    page.click("[data-testid=logout]")
    page.wait_for_selector("[data-testid=login-form]")


@pytest.mark.e2e
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_shared_record_journey(live_server, page, language):
    world = make_world()
    accounts = create_demo_accounts(world.alliance)
    text = TEXT[language]
    base = live_server.url
    SHOTS.mkdir(exist_ok=True)

    # the language is chosen on the login page with the switch
    page.goto(f"{base}/accounts/login/")
    page.locator("[data-testid=language-switch]").get_by_role(
        "button", name=text["switch"]).click()
    page.wait_for_selector("[data-testid=login-form]")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: the layout must hold
    page.screenshot(path=str(SHOTS / f"login-phone-{language}.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})
    assert page.locator("html").get_attribute("lang") == (
        "zh-CN" if language == "zh-hans" else "en")

    # every demo role logs in and lands on its start page with its navigation
    for username, _password, _role in accounts:
        log_in(page, base, username, text)
        keys = set(page.locator("[data-nav]").evaluate_all(
            "els => els.map(e => e.dataset.nav)"))
        assert keys == LANDING[username], username
        log_out(page, text)

    # the doctor finds 张三 by pinyin initials, live as they type
    log_in(page, base, "doctor", text)
    page.get_by_role("link", name=text["search"]).first.click()
    page.wait_for_load_state("load")  # htmx (deferred) listens before we type
    page.fill("[data-testid=search-box]", "zs")
    page.wait_for_selector("[data-testid=resident-link]")
    assert page.locator("[data-testid=resident-link]").first.inner_text() == "张三"
    page.screenshot(path=str(SHOTS / f"search-{language}.png"))
    page.locator("[data-testid=resident-link]").first.click()

    # the record shows encounters at the three levels of the alliance
    page.wait_for_selector("[data-testid=timeline]")
    assert page.locator("[data-testid=resident-name]").inner_text() == "张三"
    levels = set(page.locator("[data-testid=timeline] tr[data-level]").evaluate_all(
        "rows => rows.map(r => r.dataset.level)"))
    assert {"village", "township", "county"} <= levels
    page.screenshot(path=str(SHOTS / f"record-{language}.png"), full_page=True)
    assert AuditEvent.objects.filter(action="view", username="doctor",
                                     patient_id=world.patient.pk).count() == 1
    log_out(page, text)

    # the auditor sees that view in the audit log
    log_in(page, base, "auditor", text)
    page.get_by_role("link", name=text["audit"]).first.click()
    page.select_option("select[name=action]", "view")
    page.locator("[data-testid=audit-filter] button[type=submit]").click()
    row = page.locator("[data-testid=audit-table] tr[data-action=view]").first
    row.wait_for()
    assert "doctor" in row.inner_text()
    assert "张三" in row.inner_text()
    assert text["viewed"] in row.inner_text()
    page.screenshot(path=str(SHOTS / f"audit-{language}.png"), full_page=True)
    log_out(page, text)

    # the system administrator issues a token for a hospital system and sees it listed
    log_in(page, base, "admin", text)
    page.get_by_role("link", name=text["systems"]).first.click()
    page.fill("input[name=name]", f"HIS-{language}")
    page.select_option("select[name=reach]", label=text["county"])
    page.get_by_role("button", name=text["issue"]).click()
    secret = page.locator("[data-testid=new-secret] code").inner_text()
    assert secret.startswith("tc_")
    assert page.locator(f"[data-system=HIS-{language}]").count() == 1
    page.screenshot(path=str(SHOTS / f"systems-{language}.png"), full_page=True)
    log_out(page, text)
