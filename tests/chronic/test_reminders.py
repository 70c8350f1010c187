"""Reminders through the inbox (issue 6 item 6): a primary-care institution with overdue
follow-ups gets one notice a day, with the counts and a link to its queue; contracts expiring
within 30 days are announced too; a second run the same day adds nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.web.factories import PASSWORD
from tiercare.chronic import reminders, rules, services
from tiercare.chronic.models import Contract, Registration, ServicePackage
from tiercare.notifications.models import Notification

pytestmark = pytest.mark.django_db


def test_overdue_follow_ups_and_expiring_contracts_are_announced_once_a_day(scene: Any) -> None:
    services.enrol(patient=scene.elderly, disease=rules.HYPERTENSION,
                   source=Registration.Source.DIAGNOSIS, by=scene.gp, team=scene.team,
                   on=scene.today - dt.timedelta(days=40))
    contract = services.sign_contract(
        patient=scene.young, team=scene.team,
        packages=[ServicePackage.objects.get(alliance__isnull=True, code="basic")],
        consent=Contract.Consent.SIGNATURE, by=scene.gp,
        start=scene.today - dt.timedelta(days=350))
    assert contract.end_date < scene.today + dt.timedelta(days=30)
    assert reminders.remind() == 2
    assert reminders.remind() == 0
    due = Notification.objects.get(kind=Notification.Kind.FOLLOW_UPS_DUE)
    assert due.institution == scene.base.world.township
    assert due.counts == {"overdue": 1, "due": 0}
    assert due.summary.startswith("1 ")
    client = Client()
    assert client.login(username=scene.gp.username, password=PASSWORD)
    inbox = client.get(reverse("notifications:inbox")).content.decode()
    assert "follow_ups_due" in inbox
    opened = client.post(reverse("notifications:open", args=[due.pk]))
    assert opened["Location"] == reverse("chronic:queue")
