"""One answer per referral under concurrency: receivers accepting (each booking a bed) and
rejecting, and the sender cancelling, all at once on one submitted referral. The row lock
(PostgreSQL ``SELECT … FOR UPDATE``; SQLite's IMMEDIATE transaction) serialises them: one
answer at most, a cancellation alone or after the acceptance (which gives the bed back); the
others are refused with nothing changed, and a bed is held only by an accepted referral."""

from __future__ import annotations

from typing import Any

import pytest

from tests.concurrency import run_together
from tests.referrals.workflow_scene import Scene, draft_up, make_scene
from tiercare.referrals import services
from tiercare.referrals.models import Referral, ReferralEvent
from tiercare.scheduling.models import Bed


@pytest.fixture
def committed_scene(transactional_db: None, settings: Any) -> Scene:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return make_scene()


@pytest.mark.django_db(transaction=True)
def test_one_answer_wins(committed_scene: Scene) -> None:
    scene = committed_scene
    referral = services.submit(draft_up(scene), by=scene.village_doctor).referral

    def accept() -> str:
        services.accept(referral, by=scene.county_doctor, ward=scene.ward)
        return "accepted"

    def reject() -> str:
        services.reject(referral, by=scene.county_doctor, reason="无床")
        return "rejected"

    def cancel() -> str:
        services.cancel(referral, by=scene.village_doctor, reason="撤回")
        return "cancelled"

    outcomes = run_together([accept] * 4 + [reject] * 2 + [cancel] * 2)
    assert not [o for o in outcomes if o.startswith("error")], outcomes
    answers = outcomes["accepted"] + outcomes["rejected"]
    # One answer at most; a cancellation wins alone, or comes after the acceptance (the
    # sender may withdraw an accepted referral: the bed is given back).
    assert answers <= 1 and outcomes["cancelled"] <= 1, outcomes
    assert answers + outcomes["cancelled"] >= 1, outcomes
    assert not (outcomes["rejected"] and outcomes["cancelled"]), outcomes
    assert set(outcomes) - {"accepted", "rejected", "cancelled"} <= {
        "referral.transition", "referral.not_allowed"}, outcomes
    row = Referral.objects.get(pk=referral.pk)
    expected = "cancelled" if outcomes["cancelled"] else (
        "accepted" if outcomes["accepted"] else "rejected")
    assert row.status == expected
    held = Bed.objects.exclude(status="free").count()
    assert held == (1 if row.status == "accepted" else 0)
    moves = ReferralEvent.objects.filter(referral=row).exclude(action="create")
    assert [e.to_status for e in moves][-1] == row.status
