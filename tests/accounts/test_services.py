"""create_user, the password policy, password change, demo accounts and the admin."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.web.factories import PASSWORD
from tiercare.accounts import services
from tiercare.accounts.models import AuditEvent, Role, User
from tiercare.accounts.roles import ScopeProblem, scope_problem


@pytest.mark.parametrize(("role", "scope", "error_field"), [
    (Role.DOCTOR, {}, "institution"),
    (Role.NURSE, {"alliance": True}, "institution"),
    (Role.PHARMACIST, {"institution": True, "alliance": True}, "alliance"),
    (Role.ALLIANCE_ADMIN, {}, "alliance"),
    (Role.ALLIANCE_ADMIN, {"institution": True, "alliance": True}, "institution"),
    (Role.REGULATOR, {"alliance": True}, "alliance"),
    (Role.SYSTEM_ADMIN, {"institution": True}, "institution"),
    ("janitor", {}, "role"),
])
def test_create_user_refuses_a_scope_that_does_not_fit_the_role(world, role, scope, error_field):
    kwargs = {}
    if scope.get("institution"):
        kwargs["institution"] = world.township
    if scope.get("alliance"):
        kwargs["alliance"] = world.alliance
    with pytest.raises(ValidationError) as caught:
        services.create_user("newbie", PASSWORD, role, **kwargs)
    assert error_field in caught.value.message_dict
    assert not User.objects.filter(username="newbie").exists()


@pytest.mark.parametrize(("role", "scope"), [
    (Role.DOCTOR, "institution"), (Role.NURSE, "institution"), (Role.PHARMACIST, "institution"),
    (Role.ALLIANCE_ADMIN, "alliance"), (Role.AUDITOR, "alliance"), (Role.AUDITOR, None),
    (Role.REGULATOR, None), (Role.SYSTEM_ADMIN, None),
])
def test_create_user_accepts_the_scope_each_role_needs(world, role, scope):
    kwargs = {"institution": world.township} if scope == "institution" else \
        {"alliance": world.alliance} if scope == "alliance" else {}
    user = services.create_user("newbie", PASSWORD, role, **kwargs)
    assert user.check_password(PASSWORD)
    assert user.is_superuser == (role == Role.SYSTEM_ADMIN)
    assert user.is_staff == (role in (Role.SYSTEM_ADMIN, Role.ALLIANCE_ADMIN))
    assert AuditEvent.objects.filter(action="create", object_type="user",
                                     object_id=str(user.pk)).exists()


@given(role=st.sampled_from([*Role.values, "x"]), inst=st.booleans(), alli=st.booleans())
@settings(max_examples=60, deadline=None)
def test_scope_rule_matches_the_role_table(role, inst, alli):
    problem = scope_problem(role, has_institution=inst, has_alliance=alli)
    if role == "x":
        assert problem == ScopeProblem.UNKNOWN_ROLE
    elif role in (Role.DOCTOR, Role.NURSE, Role.PHARMACIST):
        assert (problem is None) == (inst and not alli)
    elif role == Role.ALLIANCE_ADMIN:
        assert (problem is None) == (alli and not inst)
    elif role == Role.AUDITOR:
        assert (problem is None) == (not inst)
    else:
        assert (problem is None) == (not inst and not alli)


@pytest.mark.parametrize("password", [
    "Sh0rt!",  # under 10 characters
    "alllowercaseletters",  # one character class
    "12345678901234",  # digits only
    "Password123",  # a common password
])
def test_the_password_policy_refuses_weak_passwords(world, password):
    with pytest.raises(ValidationError) as caught:
        services.create_user("newbie", password, Role.REGULATOR)
    assert "password" in caught.value.message_dict
    with translation.override("zh-hans"), pytest.raises(ValidationError) as caught_zh:
        services.create_user("newbie", password, Role.REGULATOR)
    assert caught_zh.value.message_dict["password"]


def test_the_character_class_rule_is_translated(world):
    with translation.override("zh-hans"), pytest.raises(ValidationError) as caught:
        services.create_user("newbie", "abcdefghijkl", Role.REGULATOR)
    assert any("小写字母" in m for m in caught.value.message_dict["password"])


def test_a_taken_user_name_is_refused(world):
    with pytest.raises(ValidationError) as caught:
        services.create_user(world.user(Role.DOCTOR).username, PASSWORD, Role.REGULATOR)
    assert "username" in caught.value.message_dict


def test_the_password_change_page_applies_the_policy_and_audits(world, client):
    user = world.user(Role.DOCTOR)
    client.force_login(user)
    url = reverse("accounts:password_change")
    assert client.get(url).status_code == 200
    weak = client.post(url, {"old_password": PASSWORD, "new_password1": "abcdefghijkl",
                             "new_password2": "abcdefghijkl"})
    assert weak.status_code == 200
    assert "invalid-feedback" in weak.content.decode()
    good = "New-Secret-2026"
    response = client.post(url, {"old_password": PASSWORD, "new_password1": good,
                                 "new_password2": good})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(good) and user.password_changed_at is not None
    assert AuditEvent.objects.filter(action="update", user=user,
                                     summary="password changed").count() == 1
    assert client.get(reverse("web:home")).status_code == 200  # still logged in


def test_demo_accounts_cover_every_role_and_can_be_recreated(world, client):
    accounts = services.create_demo_accounts(world.alliance)
    assert [a[0] for a in accounts] == ["admin", "alliance_admin", "regulator", "auditor",
                                        "doctor", "nurse", "pharmacist", "village_doctor",
                                        "hospital_doctor"]
    assert {a[1] for a in accounts} == {services.DEMO_PASSWORD}
    doctor = User.objects.get(username="doctor")
    assert doctor.role == Role.DOCTOR
    assert doctor.institution.level == "township"
    assert doctor.practitioner == world.doctor_practitioner
    assert str(doctor) == world.doctor_practitioner.name
    assert User.objects.get(username="pharmacist").institution == world.county_hospital
    assert User.objects.get(username="village_doctor").institution == world.village
    assert User.objects.get(username="hospital_doctor").institution == world.county_hospital
    # recreating keeps one account per role and restores the demo password
    User.objects.filter(username="nurse").update(is_active=False)
    again = services.create_demo_accounts(world.alliance)
    assert again == accounts
    assert User.objects.filter(username__in=[a[0] for a in accounts]).count() == 9
    for username, password, _label in accounts:
        assert client.login(username=username, password=password), username


def test_the_alliance_admin_can_use_the_back_office_for_master_data(world, client):
    client.force_login(world.user(Role.ALLIANCE_ADMIN))
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/registry/institution/").status_code == 200
    assert client.get("/admin/accounts/user/").status_code == 403


def test_audit_events_are_read_only_in_the_admin(world, client):
    client.force_login(world.user(Role.SYSTEM_ADMIN))
    event = AuditEvent.objects.first()
    assert client.get("/admin/accounts/auditevent/").status_code == 200
    assert client.get("/admin/accounts/auditevent/add/").status_code == 403
    assert client.post(f"/admin/accounts/auditevent/{event.pk}/delete/",
                       {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    assert client.get("/admin/accounts/user/").status_code == 200
    assert client.get(f"/admin/accounts/user/{world.user(Role.DOCTOR).pk}/change/").status_code \
        == 200


def test_the_user_admin_refuses_a_doctor_without_an_institution(world, client):
    client.force_login(world.user(Role.SYSTEM_ADMIN))
    response = client.post("/admin/accounts/user/add/", {
        "username": "drnobody", "password1": PASSWORD, "password2": PASSWORD,
        "usable_password": "true", "role": Role.DOCTOR, "display_name": "",
    })
    assert response.status_code == 200
    assert "请指定机构" in response.content.decode()
    assert not User.objects.filter(username="drnobody").exists()


class TestCreateuserCommand:
    def run(self, *args, stdin=PASSWORD + "\n"):
        out = io.StringIO()
        with mock_stdin(stdin):
            call_command("createuser", *args, stdout=out)
        return out.getvalue()

    def test_creates_a_doctor_at_an_institution(self, world):
        out = self.run("drli", "--role", "doctor", "--institution", "T001", "--password-stdin")
        user = User.objects.get(username="drli")
        assert user.institution == world.township and user.check_password(PASSWORD)
        assert "drli" in out

    @pytest.mark.parametrize(("args", "message"), [
        (["x1", "--role", "doctor", "--password-stdin"], "须隶属于某一机构"),
        (["x2", "--role", "doctor", "--institution", "NOPE", "--password-stdin"], "NOPE"),
        (["x3", "--role", "alliance_admin", "--alliance", "NOPE", "--password-stdin"], "NOPE"),
        (["x4", "--role", "regulator", "--password-stdin"], "密码"),
    ])
    def test_reports_translated_errors(self, world, args, message):
        stdin = "weak\n" if args[0] == "x4" else PASSWORD + "\n"
        with translation.override("zh-hans"), pytest.raises(CommandError) as caught:
            self.run(*args, stdin=stdin)
        assert message in str(caught.value)
        assert not User.objects.filter(username=args[0]).exists()

    def test_an_empty_stdin_is_an_error(self, world):
        with pytest.raises(CommandError):
            self.run("x5", "--role", "regulator", "--password-stdin", stdin="")


class mock_stdin:
    def __init__(self, text):
        self.text = text

    def __enter__(self):
        import sys

        self.saved = sys.stdin
        sys.stdin = io.StringIO(self.text)

    def __exit__(self, *exc):
        import sys

        sys.stdin = self.saved
