"""Shared option of the catalogue commands: ``--alliance CODE`` (default: the county default
catalogue)."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from tiercare.referrals import services
from tiercare.referrals.models import DiseaseCatalogue
from tiercare.registry.models import Alliance


def find_catalogue(alliance_code: str | None, *, create: bool) -> DiseaseCatalogue:
    """The alliance's catalogue (created as a copy of the default when ``create``), or the
    county default when no alliance is named."""
    if not alliance_code:
        catalogue = services.default_catalogue()
        if catalogue is None:
            if not create:
                raise CommandError(_("There is no default catalogue yet: run "
                                     "“tiercare load_catalogue” first."), returncode=2)
            catalogue = services.create_catalogue(None)
        return catalogue
    alliance = Alliance.objects.filter(code=alliance_code).first()
    if alliance is None:
        raise CommandError(_("No alliance has the code “%(code)s”.") % {"code": alliance_code},
                           returncode=2)
    catalogue = DiseaseCatalogue.objects.filter(alliance=alliance).first()
    if catalogue is None:
        if not create:
            raise CommandError(_("The alliance “%(code)s” has no catalogue of its own.")
                               % {"code": alliance_code}, returncode=2)
        catalogue = services.create_catalogue(alliance)
    return catalogue
