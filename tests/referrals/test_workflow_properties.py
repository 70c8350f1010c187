"""Property of the referral services (DESIGN.md "Testing"): whatever sequence of steps by
whichever user hits a referral, every status change recorded is a move of the transition
table made by a side the table names, the referral's status is the last one recorded, and a
bed is held exactly while the referral holds it."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.referrals.workflow_scene import Scene, draft_up, make_scene
from tiercare.errors import DomainError
from tiercare.referrals import services, statuses
from tiercare.referrals.models import Direction, Outcome, Referral, ReferralEvent
from tiercare.scheduling.models import Bed

STEPS = ["submit", "approve", "refuse", "receive", "accept", "reject", "redirect", "arrive",
         "complete", "cancel", "expire"]
ACTORS = ["village", "county", "township", "office"]


@pytest.fixture
def scene(db: Any) -> Scene:
    return make_scene()


def run(step: str, referral: Referral, scene: Scene, user: Any) -> None:
    later = timezone.now() + dt.timedelta(days=30)
    {
        "submit": lambda: services.submit(referral, by=user),
        "approve": lambda: services.approve(referral, by=user),
        "refuse": lambda: services.refuse(referral, by=user, reason="理由"),
        "receive": lambda: services.receive(referral, by=user),
        "accept": lambda: services.accept(referral, by=user, ward=scene.ward),
        "reject": lambda: services.reject(referral, by=user, reason="理由"),
        "redirect": lambda: services.redirect(referral, by=user, to=scene.world.township,
                                              reason="理由"),
        "arrive": lambda: services.arrive(referral, by=user),
        "complete": lambda: services.complete(referral, by=user, outcome=Outcome.IMPROVED),
        "cancel": lambda: services.cancel(referral, by=user),
        "expire": lambda: services.escalate_overdue(later),
    }[step]()


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(out_of_county=st.booleans(),
       sequence=st.lists(st.tuples(st.sampled_from(STEPS), st.sampled_from(ACTORS)),
                         max_size=14))
def test_random_steps_stay_in_the_table(scene: Scene, out_of_county: bool,
                                        sequence: list[tuple[str, str]]) -> None:
    Bed.objects.filter(ward=scene.ward).update(status="free", patient=None,
                                               source_referral_id=None)
    users = {"village": scene.village_doctor, "county": scene.county_doctor,
             "township": scene.township_doctor, "office": scene.office}
    if out_of_county:
        referral = services.create_referral(
            patient=scene.world.patient, direction=Direction.OUT_OF_COUNTY, diagnosis="C34.9",
            reason="外转", by=scene.county_doctor, receiving_institution=scene.world.city_hospital)
        users["village"] = scene.county_doctor  # the sender of this one
        users["county"] = scene.village_doctor
    else:
        referral = draft_up(scene)
    for step, who in sequence:
        with contextlib.suppress(DomainError):
            run(step, referral, scene, users[who])
        row = Referral.objects.get(pk=referral.pk)
        moves = [(e.from_status, e.to_status, e.side) for e in
                 ReferralEvent.objects.filter(referral=row).exclude(action="create")
                 if e.from_status != e.to_status]
        for source, target, side in moves:
            assert side in statuses.TRANSITIONS[(source, target)]
        assert row.status == (moves[-1][1] if moves else Referral.Status.DRAFT)
        held = Bed.objects.filter(source_referral_id=row.pk).exclude(status="free").exists()
        assert held is (row.bed_id is not None and row.status in statuses.HOLDING)
