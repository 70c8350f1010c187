"""Back-office of the tiered disease catalogue: pages load for a system administrator, entries
are edited inline through the services (errors on their fields, audited), search by code finds
the covering entries, xlsx download and upload work."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from django.utils import translation
from openpyxl import Workbook, load_workbook

from tiercare.accounts.models import AuditEvent, Role, User
from tiercare.referrals import services
from tiercare.referrals.models import CatalogueEntry, DiseaseCatalogue

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = User.objects.create_superuser("root", "root@example.org", "Root-pass-2026!",
                                         role=Role.SYSTEM_ADMIN)
    client.force_login(user)
    return client


@pytest.fixture
def small(db):
    catalogue = services.create_catalogue(None, name="小目录")
    services.add_entry(catalogue, services.EntryInput(code_first="I10", code_last="I15",
                                                      name_zh="高血压病", level="township"))
    services.add_entry(catalogue, services.EntryInput(code_first="J44", name_zh="慢阻肺",
                                                      level="township"))
    return catalogue


def inline_data(catalogue, rows, extra=()):
    data = {"name": catalogue.name, "edition": catalogue.edition,
            "source_note": catalogue.source_note, "alliance": "",
            "entries-TOTAL_FORMS": str(len(rows) + len(extra)),
            "entries-INITIAL_FORMS": str(len(rows)), "entries-MIN_NUM_FORMS": "0",
            "entries-MAX_NUM_FORMS": "1000"}
    for i, (entry, changes) in enumerate([*rows, *((None, e) for e in extra)]):
        values = {k: getattr(entry, k) for k in services.ENTRY_FIELDS} if entry else {}
        values.update(changes)
        data.update({f"entries-{i}-{k}": v for k, v in values.items()})
        data[f"entries-{i}-catalogue"] = str(catalogue.pk)
        data[f"entries-{i}-id"] = str(entry.pk) if entry else ""
    return data


def test_the_pages_load(admin_client, default_catalogue):
    for url in (reverse("admin:referrals_diseasecatalogue_changelist"),
                reverse("admin:referrals_diseasecatalogue_changelist") + "?q=E11",
                reverse("admin:referrals_diseasecatalogue_add"),
                reverse("admin:referrals_diseasecatalogue_change", args=[default_catalogue.pk]),
                reverse("admin:referrals_diseasecatalogue_import", args=[default_catalogue.pk]),
                reverse("admin:referrals_catalogueentry_changelist"),
                reverse("admin:referrals_catalogueentry_changelist") + "?level=county",
                reverse("admin:referrals_catalogueentry_add"),
                reverse("admin:referrals_catalogueentry_change",
                        args=[default_catalogue.entries.first().pk])):
        assert admin_client.get(url).status_code == 200, url
    page = admin_client.get(reverse("admin:referrals_diseasecatalogue_change",
                                    args=[default_catalogue.pk])).content.decode()
    assert reverse("admin:referrals_diseasecatalogue_export", args=[default_catalogue.pk]) in page
    assert reverse("admin:referrals_diseasecatalogue_import", args=[default_catalogue.pk]) in page


def test_searching_catalogues_by_code_keeps_the_entry_count(admin_client, default_catalogue):
    response = admin_client.get(reverse("admin:referrals_diseasecatalogue_changelist"),
                                {"q": "I1"})
    assert list(response.context["cl"].result_list) == [default_catalogue]
    assert response.context["cl"].result_list[0]._entries == default_catalogue.entries.count()


def test_searching_a_code_finds_the_entries_that_cover_it(admin_client, default_catalogue):
    url = reverse("admin:referrals_catalogueentry_changelist")
    page = admin_client.get(url, {"q": "I12.0"}).content.decode()
    assert "高血压病" in page  # the range I10–I15
    page = admin_client.get(url, {"q": "糖尿病"}).content.decode()
    assert "2型糖尿病" in page


def test_an_inline_change_goes_through_the_services(admin_client, small):
    url = reverse("admin:referrals_diseasecatalogue_change", args=[small.pk])
    rows = [(e, {}) for e in small.entries.order_by("code_first", "code_last")]
    rows[1] = (rows[1][0], {"level": "county"})  # J44 → county
    response = admin_client.post(url, inline_data(small, rows, extra=[
        {"code_first": "k29", "code_last": "", "name_zh": "", "level": "village",
         "up_criteria": "", "down_criteria": "", "source": ""}]))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert small.entries.get(code_first="J44").level == "county"
    added = small.entries.get(code_first="K29")
    assert added.name_zh  # the curated ICD-10 name
    assert AuditEvent.objects.filter(action=AuditEvent.Action.UPDATE,
                                     object_type="referrals.CatalogueEntry").exists()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.CREATE,
                                     object_type="referrals.CatalogueEntry",
                                     object_id=str(added.pk)).exists()


def test_inline_errors_are_shown_on_their_fields_in_chinese(admin_client, small):
    url = reverse("admin:referrals_diseasecatalogue_change", args=[small.pk])
    rows = [(e, {}) for e in small.entries.order_by("code_first", "code_last")]
    with translation.override("zh-hans"):
        response = admin_client.post(url, inline_data(small, rows, extra=[
            {"code_first": "U99", "code_last": "", "name_zh": "x", "level": "county"},
            {"code_first": "I13", "code_last": "I22", "name_zh": "x", "level": "county"}]),
            HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert "不存在" in formset.forms[2].errors["code_first"][0]
    assert "code_last" in formset.forms[3].errors
    assert small.entries.count() == 2


def test_the_entry_page_refuses_a_reversed_range(admin_client, small):
    url = reverse("admin:referrals_catalogueentry_add")
    response = admin_client.post(url, {"catalogue": small.pk, "code_first": "I25",
                                       "code_last": "I20", "name_zh": "x", "level": "county"})
    assert response.status_code == 200
    assert "code_last" in response.context["adminform"].form.errors
    assert small.entries.count() == 2


def test_deleting_an_entry_in_the_admin_is_audited(admin_client, small):
    entry = small.entries.get(code_first="J44")
    url = reverse("admin:referrals_catalogueentry_delete", args=[entry.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not CatalogueEntry.objects.filter(pk=entry.pk).exists()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.DELETE,
                                     object_id=str(entry.pk)).exists()


def test_download_and_upload(admin_client, small):
    response = admin_client.get(reverse("admin:referrals_diseasecatalogue_export",
                                        args=[small.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet.max_row == 3
    # upload: one good row and one bad row
    book = Workbook()
    book.active.append([cell.value for cell in sheet[1]])
    book.active.append(["K29", "", "胃炎", "村级"])
    book.active.append(["I15", "I10", "反", "县级"])
    data = io.BytesIO()
    book.save(data)
    data.seek(0)
    data.name = "up.xlsx"
    url = reverse("admin:referrals_diseasecatalogue_import", args=[small.pk])
    page = admin_client.post(url, {"file": data})
    assert page.status_code == 200
    assert page.context["rejects"][0].row == 3
    assert small.entries.filter(code_first="K29").exists()
    # a file that is not a workbook is refused on the form
    bad = io.BytesIO(b"hello")
    bad.name = "x.xlsx"
    page = admin_client.post(url, {"file": bad})
    assert page.status_code == 200 and page.context["form"].errors["file"]


def test_adding_a_catalogue_for_an_alliance_copies_the_default(admin_client, default_catalogue,
                                                               alliance):
    url = reverse("admin:referrals_diseasecatalogue_add")
    data = {"alliance": alliance.pk, "name": "一院目录", "edition": "", "source_note": "",
            "entries-TOTAL_FORMS": "0", "entries-INITIAL_FORMS": "0",
            "entries-MIN_NUM_FORMS": "0", "entries-MAX_NUM_FORMS": "1000"}
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    own = DiseaseCatalogue.objects.get(alliance=alliance)
    assert own.entries.count() == default_catalogue.entries.count()
    # and a second one for the same alliance is refused on the form
    response = admin_client.post(url, {**data, "name": "又一个"})
    assert response.status_code == 200


def test_the_entry_page_refuses_a_duplicate_on_the_form(admin_client, small):
    url = reverse("admin:referrals_catalogueentry_add")
    response = admin_client.post(url, {"catalogue": small.pk, "code_first": "J44",
                                       "code_last": "", "name_zh": "x", "level": "county"})
    assert response.status_code == 200
    assert "code_first" in response.context["adminform"].form.errors
    entry = small.entries.get(code_first="J44")
    response = admin_client.post(
        reverse("admin:referrals_catalogueentry_change", args=[entry.pk]),
        {"catalogue": small.pk, "code_first": "J44", "code_last": "", "name_zh": "慢阻肺",
         "level": "county", "up_criteria": "急性加重"})
    assert response.status_code == 302
    entry.refresh_from_db()
    assert (entry.level, entry.up_criteria) == ("county", "急性加重")
