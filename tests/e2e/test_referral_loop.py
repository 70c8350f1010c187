"""The acceptance journey of issue 4 in a real browser, as new users would walk it: a village
doctor refers 张三 (BP 190/115) through the emergency green channel; the county hospital's
doctor sees the unread notice, finds the referral first in the incoming queue with its
countdown, accepts it within the deadline and books a bed; records the arrival; discharges
with a care plan, which proposes a down-referral that the doctor sends; the township centre
sees it in its inbox, and the village clinic's follow-up task is due within two weeks."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.utils import timezone

from tests.e2e.test_journey import log_in, log_out
from tests.web.factories import make_world
from tiercare.accounts.services import create_demo_accounts
from tiercare.referrals.models import FollowUpTask, Referral
from tiercare.referrals.services import ensure_default_catalogue
from tiercare.registry.models import Department
from tiercare.scheduling.models import Bed, Pool, Ward

SHOTS = Path("/tmp/tiercare-e2e")


@pytest.mark.e2e
def test_the_green_channel_loop(live_server, page):
    ensure_default_catalogue()
    world = make_world()
    create_demo_accounts(world.alliance)
    emergency = Department.objects.create(institution=world.county_hospital, code="ED",
                                          name="急诊科")
    ward = Ward.objects.create(institution=world.county_hospital, department=emergency,
                               code="W-ED", name="急诊病区")
    for code in ("01", "02", "03"):
        Bed.objects.create(ward=ward, code=code, pool=Pool.REFERRAL)
    base = live_server.url
    SHOTS.mkdir(exist_ok=True)
    text = {}  # what the user reads is asserted in Chinese, the default language

    # 1. the village doctor writes the referral
    log_in(page, base, "village_doctor", text)
    page.get_by_role("link", name="双向转诊").first.click()
    page.get_by_test_id("new-referral").click()
    page.wait_for_load_state("load")  # htmx (deferred) listens before we type
    page.get_by_test_id("resident-lookup").fill("zs")
    page.get_by_test_id("choose-resident").first.click()
    page.get_by_test_id("chosen-resident").wait_for()
    page.wait_for_load_state("load")
    page.get_by_label("急诊绿色通道").check()
    page.get_by_test_id("diagnosis").fill("gxy")
    page.get_by_test_id("choose-diagnosis").filter(has_text="I10").first.click()
    page.get_by_test_id("receiving-institution").select_option(label="临清市人民医院（县级）")
    page.get_by_test_id("receiving-department").select_option(label="急诊科")
    page.get_by_label("转诊原因").fill("血压 190/115 mmHg，剧烈头痛伴视物模糊，疑高血压急症")
    page.get_by_label("病情摘要").fill("高血压病史10年，未规律服药；今晨突发头痛，呕吐一次。")
    page.screenshot(path=str(SHOTS / "loop-1-write.png"), full_page=True)
    page.get_by_test_id("send-referral").click()
    page.get_by_test_id("referral-status").wait_for()
    assert "已提交" in page.get_by_test_id("referral-status").inner_text()
    assert "绿色通道" in page.get_by_test_id("referral-status").inner_text()
    referral = Referral.objects.get()
    assert referral.green_channel and referral.diagnosis == "I10"
    assert referral.deadline - referral.submitted_at == dt.timedelta(minutes=15)
    log_out(page, text)

    # 2. the county hospital's doctor: the unread badge, the queue, the countdown
    log_in(page, base, "hospital_doctor", text)
    page.get_by_test_id("unread-count").wait_for()
    assert page.get_by_test_id("unread-count").inner_text() == "1"
    page.get_by_role("link", name="双向转诊").first.click()
    page.get_by_role("link", name="待接收转诊").click()
    first = page.locator("[data-testid=incoming-table] tbody tr").first
    assert first.get_attribute("data-referral") == str(referral.pk)
    countdown = first.get_by_test_id("countdown")
    assert re.search(r"剩余 1[0-5] 分 \d+ 秒", countdown.inner_text())
    page.screenshot(path=str(SHOTS / "loop-2-queue.png"), full_page=True)
    first.get_by_test_id("open-referral").click()
    page.get_by_test_id("choose-ward").first.check()
    page.get_by_test_id("step-accept").click()
    page.get_by_text("已接收，并已通知转出机构。").wait_for()
    referral.refresh_from_db()
    assert referral.status == "accepted" and referral.bed is not None
    assert referral.responded_at <= referral.deadline  # within the 15 minutes
    page.get_by_test_id("step-arrive").click()
    page.get_by_text("已登记到达。").wait_for()

    # 3. discharge with a care plan: a down-referral is proposed and sent
    page.get_by_label("转归").select_option(label="治愈或好转")
    page.get_by_label("出院小结").fill("血压降至150/95 mmHg，症状缓解。")
    page.get_by_label("基层后续诊疗方案").fill(
        "氨氯地平 5 mg 每日一次；每周测血压两次；两周后到乡镇卫生院复诊。")
    page.get_by_test_id("step-complete").click()
    page.get_by_test_id("step-submit").wait_for()
    down = Referral.objects.get(source_referral=referral)
    assert down.receiving_institution == world.township
    page.screenshot(path=str(SHOTS / "loop-3-discharge.png"), full_page=True)
    page.get_by_test_id("step-submit").click()
    page.get_by_text("转诊已发出。").wait_for()
    down.refresh_from_db()
    assert down.status == "submitted" and down.direction == "down"
    log_out(page, text)

    # 4. the township centre finds the down-referral in its inbox, with the care plan
    log_in(page, base, "doctor", text)
    page.get_by_test_id("inbox-link").click()
    notice = page.locator("[data-testid=inbox] li[data-kind=down_referral]")
    assert notice.count() == 1 and notice.get_attribute("data-read") == "0"
    page.screenshot(path=str(SHOTS / "loop-4-inbox.png"), full_page=True)
    notice.get_by_test_id("open-notice").click()
    assert "氨氯地平 5 mg" in page.get_by_test_id("care-plan").inner_text()
    log_out(page, text)

    # 5. the village clinic's follow-up task is open and due within two weeks
    task = FollowUpTask.objects.get(referral=referral)
    assert task.status == "open"
    assert task.due_date <= timezone.localdate() + dt.timedelta(days=14)
    log_in(page, base, "village_doctor", text)
    page.goto(f"{base}/referrals/follow-ups/")
    assert page.locator(f"[data-follow-up='{task.pk}']").count() == 1
    page.screenshot(path=str(SHOTS / "loop-5-follow-up.png"), full_page=True)
