"""Forms of the referral pages (issue 4 item 5). They check the shape of what was typed and
find the records; the business rules (who may, which state, which capacity) stay in
``referrals.services``, whose refusals the views show as form errors."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tiercare.kernel import icd10
from tiercare.kernel.errors import KernelError
from tiercare.referrals.models import Direction, Outcome
from tiercare.registry.models import Department, Institution

MAX_ATTACHMENTS = 5
MAX_SECONDARY = 10


def _styled(form: forms.Form) -> None:
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.CheckboxInput):
            widget.attrs.setdefault("class", "form-check-input")
        elif isinstance(widget, forms.Select):
            widget.attrs.setdefault("class", "form-select")
        elif not isinstance(widget, forms.HiddenInput):
            widget.attrs.setdefault("class", "form-control")


def clean_code(value: str) -> str:
    """An ICD-10 code the kernel knows, normalised (``i10`` → ``I10``)."""
    try:
        return icd10.validate(value).code
    except KernelError as err:
        raise ValidationError(_(err.template) % err.params, code="icd10") from err


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Up to :data:`MAX_ATTACHMENTS` files (type and size are checked by
    ``services.attach``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, (list, tuple)) else ([data] if data else [])
        if len(files) > MAX_ATTACHMENTS:
            raise ValidationError(_("Attach at most %(n)d files.") % {"n": MAX_ATTACHMENTS},
                                  code="too_many")
        return [super(MultipleFileField, self).clean(f, initial) for f in files]


class InstitutionChoiceField(forms.ModelChoiceField):
    """An institution shown with its level: 临清市人民医院（县级）."""

    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name}（{obj.get_level_display()}）"


class DepartmentChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.name)


def institutions_for_referral() -> Any:
    return Institution.objects.filter(is_active=True).order_by("level", "code")


class ReferralForm(forms.Form):
    """The referral slip (rules.md §3: WS 445 part 16 elements)."""

    patient = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=2**63 - 1,
                                 error_messages={"required": gettext_lazy(
                                     "Choose the resident to refer.")})
    direction = forms.ChoiceField(label=gettext_lazy("Direction"), choices=Direction.choices,
                                  initial=Direction.UP)
    green_channel = forms.BooleanField(
        label=gettext_lazy("Emergency green channel"), required=False,
        help_text=gettext_lazy("For emergencies: the receiving side must answer within "
                               "minutes, and no approval is waited for."))
    diagnosis = forms.CharField(label=gettext_lazy("Diagnosis (ICD-10)"), max_length=11,
                                help_text=gettext_lazy("Code, Chinese name or pinyin initials, "
                                                       "e.g. I10, 高血压, gxy"))
    secondary_diagnoses = forms.CharField(
        label=gettext_lazy("Other diagnoses"), required=False, max_length=200,
        help_text=gettext_lazy("ICD-10 codes separated by spaces or commas"))
    receiving_institution = InstitutionChoiceField(
        label=gettext_lazy("Receiving institution"), queryset=Institution.objects.none())
    receiving_department = DepartmentChoiceField(
        label=gettext_lazy("Receiving department"), required=False,
        queryset=Department.objects.none())
    reason = forms.CharField(label=gettext_lazy("Reason for referral"), max_length=2000,
                             widget=forms.Textarea(attrs={"rows": 2}))
    clinical_summary = forms.CharField(
        label=gettext_lazy("Clinical summary"), required=False, max_length=10000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy("History, findings, vital signs, treatment so far"))
    attachments = MultipleFileField(label=gettext_lazy("Attachments"), required=False,
                                    help_text=gettext_lazy("PDF, JPEG or PNG, at most 10 MB "
                                                           "each"))

    def __init__(self, *args: Any, sending: Institution | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        institutions = institutions_for_referral()
        if sending is not None:
            institutions = institutions.exclude(pk=sending.pk)
        field = self.fields["receiving_institution"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = institutions
        department = self.fields["receiving_department"]
        assert isinstance(department, forms.ModelChoiceField)
        department.queryset = Department.objects.filter(is_active=True)
        _styled(self)

    def clean_diagnosis(self) -> str:
        return clean_code(self.cleaned_data["diagnosis"])

    def clean_secondary_diagnoses(self) -> list[str]:
        parts = [p for p in re.split(r"[\s,，;；]+", self.cleaned_data["secondary_diagnoses"])
                 if p]
        if len(parts) > MAX_SECONDARY:
            raise ValidationError(_("At most %(n)d other diagnoses.") % {"n": MAX_SECONDARY},
                                  code="too_many")
        return [clean_code(p) for p in parts]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        institution, department = (cleaned.get("receiving_institution"),
                                   cleaned.get("receiving_department"))
        if department is not None and institution is not None \
                and department.institution_id != institution.pk:
            self.add_error("receiving_department", _(
                "The department %(department)s is not part of the institution.")
                % {"department": department.name})
        return cleaned


class ReasonForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=2000,
                             widget=forms.Textarea(attrs={"rows": 2}),
                             error_messages={"required": gettext_lazy("A reason is required.")})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _styled(self)

    def clean_reason(self) -> str:
        text = self.cleaned_data["reason"].strip()
        if not text:
            raise ValidationError(_("A reason is required."), code="required")
        return text


class NoteForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Note"), max_length=2000, required=False,
                             widget=forms.Textarea(attrs={"rows": 2}))


class AcceptForm(forms.Form):
    """Accept with one clinic slot (``slot``) or one bed: a named bed or any free referral bed
    of a ward (``ward``)."""

    capacity = forms.CharField(max_length=40, error_messages={
        "required": gettext_lazy("Choose a slot or a bed.")})
    note = forms.CharField(label=gettext_lazy("Note to the sending side"), max_length=200,
                           required=False)

    def clean_capacity(self) -> tuple[str, int]:
        match = re.fullmatch(r"(slot|ward|bed)-([1-9][0-9]{0,17})", self.cleaned_data["capacity"])
        if match is None:
            raise ValidationError(_("Choose a slot or a bed."), code="invalid")
        return match.group(1), int(match.group(2))


class RedirectForm(ReasonForm):
    to = InstitutionChoiceField(label=gettext_lazy("Send on to"),
                                queryset=Institution.objects.none())

    def __init__(self, *args: Any, alliance_id: int | None = None,
                 exclude: tuple[int | None, ...] = (),
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["to"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = (Institution.objects.filter(is_active=True)
                          .filter(alliance_id=alliance_id if alliance_id is not None else -1)
                          .exclude(pk__in=exclude).order_by("level", "code"))
        _styled(self)


class CompleteForm(forms.Form):
    outcome = forms.ChoiceField(label=gettext_lazy("Outcome"), choices=Outcome.choices,
                                error_messages={"required": gettext_lazy(
                                    "Choose the outcome of the referral.")})
    outcome_note = forms.CharField(label=gettext_lazy("Discharge summary"), required=False,
                                   max_length=10000, widget=forms.Textarea(attrs={"rows": 3}))
    care_plan = forms.CharField(
        label=gettext_lazy("Care plan for primary care"), required=False, max_length=10000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy("With a care plan (or when the catalogue says a lower level can "
                               "continue), a down-referral to the resident's township centre "
                               "is proposed."))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _styled(self)


class DraftForm(forms.Form):
    """What the sender may still change on a draft (``services.update_draft``)."""

    receiving_institution = InstitutionChoiceField(
        label=gettext_lazy("Receiving institution"), queryset=Institution.objects.none())
    reason = forms.CharField(label=gettext_lazy("Reason for referral"), max_length=2000,
                             widget=forms.Textarea(attrs={"rows": 2}))
    care_plan = forms.CharField(label=gettext_lazy("Care plan"), required=False,
                                max_length=10000, widget=forms.Textarea(attrs={"rows": 4}))

    def __init__(self, *args: Any, sending: Institution | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["receiving_institution"]
        assert isinstance(field, forms.ModelChoiceField)
        institutions = institutions_for_referral()
        if sending is not None:
            institutions = institutions.exclude(pk=sending.pk)
        field.queryset = institutions
        _styled(self)


class AttachForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("File"), error_messages={
        "required": gettext_lazy("Choose a file to attach.")})


class FollowUpForm(forms.Form):
    note = forms.CharField(label=gettext_lazy("Note"), max_length=200, required=False)
