"""Use cases of the accounts app: create users with a role and a scope that fits it, set
passwords under the policy, and create the demo accounts. The only place that writes users.

Rules: rules.md §11 (minimum necessary access by role and scope); password policy and lockout
follow GB/T 22239-2019 (identity authentication), configured in settings."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent, Role, User
from tiercare.accounts.roles import ScopeProblem, scope_problem
from tiercare.registry.models import Alliance, Institution, Level, Practitioner

#: The one documented password of every demo account (printed by ``tiercare demo``; see
#: docs/security.md). It satisfies the password policy. Never use demo accounts in production.
DEMO_PASSWORD = "Demo-2026!"

#: Name of the group that gives alliance administrators their back-office permissions.
ALLIANCE_ADMIN_GROUP = "alliance administrators"

#: Apps and actions alliance administrators may use in the back-office: master data of the
#: alliance (registry) may be changed; residents and encounters may only be viewed there.
_ALLIANCE_ADMIN_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "registry": ("view", "add", "change"),
    "patients": ("view",),
    "encounters": ("view",),
    "chronic": ("view", "add", "change"),
}


def scope_error(problem: ScopeProblem, role: str) -> ValidationError:
    label = Role(role).label if role in Role.values else role
    messages = {
        ScopeProblem.UNKNOWN_ROLE: (
            "role", _("Unknown role “%(role)s”. Choose one of: %(roles)s.")
            % {"role": role, "roles": ", ".join(Role.values)},
        ),
        ScopeProblem.INSTITUTION_REQUIRED: (
            "institution", _("A %(role)s works at an institution: give the institution.")
            % {"role": label},
        ),
        ScopeProblem.ALLIANCE_REQUIRED: (
            "alliance", _("An %(role)s runs one alliance: give the alliance.") % {"role": label},
        ),
        ScopeProblem.NO_INSTITUTION: (
            "institution", _("A %(role)s is not attached to an institution.") % {"role": label},
        ),
        ScopeProblem.NO_ALLIANCE: (
            "alliance", _("A %(role)s is not held to one alliance.") % {"role": label},
        ),
    }
    field, message = messages[problem]
    return ValidationError({field: [ValidationError(message, code=problem.value)]})


def alliance_admin_group() -> Group:
    """The group holding alliance administrators' back-office permissions (created on use)."""
    group, _created = Group.objects.get_or_create(name=ALLIANCE_ADMIN_GROUP)
    wanted = Q()
    for app_label, actions in _ALLIANCE_ADMIN_PERMISSIONS.items():
        for action in actions:
            wanted |= Q(content_type__app_label=app_label, codename__startswith=f"{action}_")
    group.permissions.set(Permission.objects.filter(wanted))
    return group


def _apply_role(user: User) -> None:
    """Staff and superuser flags follow the role: only system administrators are
    superusers; alliance administrators use the back-office through their group."""
    user.is_superuser = user.role == Role.SYSTEM_ADMIN
    user.is_staff = user.role in (Role.SYSTEM_ADMIN, Role.ALLIANCE_ADMIN)


@transaction.atomic
def create_user(
    username: str,
    password: str,
    role: str,
    *,
    institution: Institution | None = None,
    alliance: Alliance | None = None,
    display_name: str = "",
    practitioner: Practitioner | None = None,
    request: HttpRequest | None = None,
) -> User:
    """Create a user whose scope fits the role (``roles.scope_problem``) and whose password
    passes the policy (settings.AUTH_PASSWORD_VALIDATORS). Raises ``ValidationError`` with
    translated, field-keyed messages; audits CREATE."""
    username = (username or "").strip()
    if not username:
        raise ValidationError({"username": [_("Give a user name.")]}, code="required")
    if User.objects.filter(username=username).exists():
        raise ValidationError(
            {"username": [_("The user name “%(name)s” is taken.") % {"name": username}]},
            code="unique",
        )
    problem = scope_problem(role, has_institution=institution is not None,
                            has_alliance=alliance is not None)
    if problem is not None:
        raise scope_error(problem, role)
    if practitioner is not None and institution is not None \
            and practitioner.institution_id != institution.pk:
        raise ValidationError(
            {"practitioner": [_("The practitioner works at another institution.")]},
            code="practitioner_institution",
        )
    user = User(username=username, role=role, institution=institution, alliance=alliance,
                display_name=display_name.strip()[:50], practitioner=practitioner)
    try:
        user.full_clean(exclude=["password"])
    except ValidationError as error:
        raise ValidationError(error.message_dict) from error
    try:
        validate_password(password, user)
    except ValidationError as error:
        raise ValidationError({"password": error.messages}) from error
    user.set_password(password)
    user.password_changed_at = timezone.now()
    _apply_role(user)
    user.save()
    if user.role == Role.ALLIANCE_ADMIN:
        user.groups.add(alliance_admin_group())
    audit.record(AuditEvent.Action.CREATE, object_type="user", object_id=user.pk,
                 summary=f"user {user.username} ({user.role})", request=request)
    return user


@transaction.atomic
def change_password(user: User, new_password: str, *, request: HttpRequest | None = None) -> None:
    """Set a new password that passes the policy; stamp the change and audit it (the
    password itself is never recorded)."""
    try:
        validate_password(new_password, user)
    except ValidationError as error:
        raise ValidationError({"new_password1": error.messages}) from error
    user.set_password(new_password)
    user.password_changed_at = timezone.now()
    user.failed_logins = 0
    user.locked_until = None
    user.save(update_fields=["password", "password_changed_at", "failed_logins",
                             "locked_until"])
    audit.record(AuditEvent.Action.UPDATE, user=user, object_type="user", object_id=user.pk,
                 summary="password changed", changes={"password": "changed"}, request=request)


@transaction.atomic
def unlock(user: User, *, request: HttpRequest | None = None) -> None:
    """Lift a lockout before it expires (an administrator's action, audited)."""
    User.objects.filter(pk=user.pk).update(failed_logins=0, locked_until=None)
    audit.record(AuditEvent.Action.UPDATE, object_type="user", object_id=user.pk,
                 summary=f"user {user.username} unlocked", changes={"locked_until": None},
                 request=request)


_PHYSICIAN_TITLES = (
    Practitioner.Title.ATTENDING, Practitioner.Title.ASSOCIATE_CHIEF, Practitioner.Title.CHIEF,
    Practitioner.Title.RESIDENT, Practitioner.Title.ASSISTANT,
)
_NURSE_TITLES = (Practitioner.Title.NURSE, Practitioner.Title.SENIOR_NURSE)


def _free_practitioner(institution: Institution | None,
                       titles: tuple[str, ...]) -> Practitioner | None:
    if institution is None:
        return None
    return (
        Practitioner.objects.filter(institution=institution, title__in=titles, is_active=True,
                                    user__isnull=True)
        .order_by("-is_general_practitioner", "code")
        .first()
    )


def _members(alliance: Alliance, level: str) -> list[Institution]:
    return list(alliance.members.filter(level=level, is_active=True).order_by("code"))


@transaction.atomic
def create_demo_accounts(alliance: Alliance) -> list[tuple[str, str, str]]:
    """One account per role for the demo, all with ``DEMO_PASSWORD``: ``admin`` (system),
    ``alliance_admin`` and ``auditor`` of this alliance, ``regulator`` (all alliances),
    ``doctor`` and ``nurse`` at the alliance's first township health centre (so that the
    doctor's scope covers the residents of the grid, rules.md §11), ``pharmacist`` at the
    lead hospital (the central pharmacy, rules.md §1 "six unifications"); for the referral
    loop, ``village_doctor`` at a village clinic of that township and ``hospital_doctor`` at
    the lead hospital. Clinical accounts are linked to a practitioner of their institution
    when one is free.

    Idempotent: existing demo accounts get their role, scope and the demo password back and
    are unlocked. Returns ``(username, password, role label)`` per account."""
    townships = _members(alliance, Level.TOWNSHIP)
    township = next((i for i in townships if i.kind == Institution.Kind.TOWNSHIP_CENTRE),
                    townships[0] if townships else None)
    lead = alliance.lead or next(iter(_members(alliance, Level.COUNTY)), None)
    clinical_home = township or lead
    if clinical_home is None:
        raise ValidationError(
            _("The alliance %(name)s has no township health centre or county hospital to "
              "attach the demo doctor to.") % {"name": alliance.name},
            code="no_member",
        )
    pharmacy = lead or clinical_home
    villages = _members(alliance, Level.VILLAGE)
    village = next((v for v in villages if township is not None
                    and v.division_code.startswith(township.division_code[:9])),
                   villages[0] if villages else None)
    plan: list[tuple[str, str, Institution | None, Alliance | None, tuple[str, ...]]] = [
        ("admin", Role.SYSTEM_ADMIN, None, None, ()),
        ("alliance_admin", Role.ALLIANCE_ADMIN, None, alliance, ()),
        ("regulator", Role.REGULATOR, None, None, ()),
        ("auditor", Role.AUDITOR, None, alliance, ()),
        ("doctor", Role.DOCTOR, clinical_home, None, _PHYSICIAN_TITLES),
        ("nurse", Role.NURSE, clinical_home, None, _NURSE_TITLES),
        ("pharmacist", Role.PHARMACIST, pharmacy, None, (Practitioner.Title.PHARMACIST,)),
    ]
    # the two other ends of the referral loop (issue 4): a village doctor of the township's
    # grid who refers up, and a doctor of the lead hospital who answers
    if village is not None:
        plan.append(("village_doctor", Role.DOCTOR, village, None,
                     (Practitioner.Title.VILLAGE_DOCTOR, *_PHYSICIAN_TITLES)))
    if lead is not None:
        plan.append(("hospital_doctor", Role.DOCTOR, lead, None, _PHYSICIAN_TITLES))
    accounts: list[tuple[str, str, str]] = []
    for username, role, institution, scope_alliance, titles in plan:
        user = User.objects.filter(username=username).first()
        if user is None:
            practitioner = _free_practitioner(institution, titles) if titles else None
            create_user(username, DEMO_PASSWORD, role, institution=institution,
                        alliance=scope_alliance, practitioner=practitioner,
                        display_name=practitioner.name if practitioner else "")
        else:
            user.role = role
            user.institution = institution
            user.alliance = scope_alliance
            user.is_active = True
            user.failed_logins = 0
            user.locked_until = None
            user.set_password(DEMO_PASSWORD)
            user.password_changed_at = timezone.now()
            _apply_role(user)
            user.save()
            if role == Role.ALLIANCE_ADMIN:
                user.groups.add(alliance_admin_group())
        accounts.append((username, DEMO_PASSWORD, str(Role(role).label)))
    return accounts
