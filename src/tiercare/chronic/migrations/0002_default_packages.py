"""Load the default family-doctor service packages (``chronic/data/packages.toml``, sources in
the file) so that a new alliance can sign contracts at once; reversed by deleting the default
set (alliances' own copies stay)."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def load(apps: Any, schema_editor: Any) -> None:
    from decimal import Decimal

    from tiercare.chronic.services import read_packages_file

    package_model = apps.get_model("chronic", "ServicePackage")
    service_model = apps.get_model("chronic", "PackageService")
    data = read_packages_file()
    for item in data["package"]:
        package, _ = package_model.objects.update_or_create(
            alliance=None, code=item["code"],
            defaults={"name": item["name"], "name_en": item["name_en"], "kind": item["kind"],
                      "priority_group": item.get("priority_group", ""),
                      "source": data["source"],
                      **{k: Decimal(str(item[k])) for k in
                         ("fee_total", "fee_resident", "fee_public_health", "fee_insurance")}})
        for service in item["service"]:
            service_model.objects.update_or_create(
                package=package, code=service["code"],
                defaults={k: service[k] for k in
                          ("name", "name_en", "yearly_count", "delivered_by")})


def unload(apps: Any, schema_editor: Any) -> None:
    package_model = apps.get_model("chronic", "ServicePackage")
    package_model.objects.filter(alliance__isnull=True, contracts__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("chronic", "0001_family_doctors_and_chronic_care")]

    operations = [migrations.RunPython(load, unload)]
