"""Odd query strings on every dashboard and report page: a 4xx with the reason, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.indicators.dashboard_scene import Scene, scene_fixture  # noqa: F401 (the fixture)
from tiercare.accounts.models import Role

ODD = ["period=abc", "period=2025Q5", "period=0001", "ytd=2025-13", "alliance=999999",
       "alliance='", "kind=xyz", "indicator=nope", "order=x", "top=-1", "top=abc",
       "page=abc", "page=99999", "part=x", "org='", "period=99999", "period=2025-00",
       "alliance=99999999999999999999999"]


def _urls() -> list[str]:
    urls = [reverse(f"dashboards:{name}") for name in (
        "overview", "overview_xlsx", "ranking", "ranking_xlsx", "flows", "flows_xlsx")]
    urls += [reverse("dashboards:aspect", args=["ordered_care"]),
             reverse("dashboards:aspect_xlsx", args=["ordered_care"]),
             reverse("dashboards:drill", args=["nope"])]
    urls += [reverse(f"indicator_reports:{name}") for name in (
        "out_of_county", "cost_structure", "data_quality", "quarterly")]
    return urls


@pytest.mark.parametrize("role", [Role.ALLIANCE_ADMIN, Role.REGULATOR])
def test_odd_queries_are_never_a_server_error(scene: Scene, role: Any):
    client = Client(raise_request_exception=False)
    client.force_login(scene.world.user(role))
    failures = []
    for url in _urls():
        for query in ODD:
            response = client.get(f"{url}?{query}")
            if response.status_code >= 500:
                failures.append(f"{url}?{query}")
    assert failures == []
