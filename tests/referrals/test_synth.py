"""``tiercare synth`` (and so the demo) gets the default catalogue (ADR 0010)."""

from __future__ import annotations

import pytest

from tiercare.referrals import services
from tiercare.synth import generate


@pytest.mark.django_db
def test_a_synthetic_county_has_the_default_catalogue():
    generate(50, 1, 2023)
    catalogue = services.default_catalogue()
    assert catalogue is not None and catalogue.entries.count() >= 80
