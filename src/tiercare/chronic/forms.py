"""Forms of the family-doctor pages. They check types and choices; the rules (plausible
readings, dates, one active contract, packages a resident qualifies for) are the services',
whose refusals the views show on the form."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from tiercare.chronic import rules
from tiercare.chronic.models import (
    Contract,
    Disease,
    ElderlyCheck,
    FamilyDoctorTeam,
    FollowUp,
    PackageService,
    Registration,
    ServicePackage,
)

SIGN_LABELS = {
    rules.Sign.ALTERED_CONSCIOUSNESS: _("Altered consciousness"),
    rules.Sign.SEVERE_HEADACHE_OR_DIZZINESS: _("Severe headache or dizziness"),
    rules.Sign.NAUSEA_VOMITING: _("Nausea or vomiting"),
    rules.Sign.BLURRED_VISION_EYE_PAIN: _("Blurred vision or eye pain"),
    rules.Sign.PALPITATIONS_CHEST_TIGHTNESS: _("Palpitations or chest tightness"),
    rules.Sign.BREATHLESS_LYING_FLAT: _("Breathless lying flat"),
    rules.Sign.KETOACIDOSIS_SIGNS: _("Signs of ketoacidosis (deep breathing, fruity breath)"),
    rules.Sign.SUDDEN_VISION_LOSS: _("Sudden loss of vision"),
    rules.Sign.PREGNANT_OR_BREASTFEEDING: _("Pregnant or breast-feeding"),
    rules.Sign.BEYOND_CAPACITY: _("A condition this clinic cannot handle"),
}


def _number(label: Any, *, decimals: int = 0, step: str = "1") -> forms.Field:
    widget = forms.NumberInput(attrs={"class": "form-control form-control-lg", "step": step,
                                      "inputmode": "decimal" if decimals else "numeric"})
    if decimals:
        return forms.DecimalField(label=label, required=False, max_digits=5,
                                  decimal_places=decimals, widget=widget)
    return forms.IntegerField(label=label, required=False, widget=widget)


def _date() -> forms.DateField:
    return forms.DateField(label=_("Date"), widget=forms.DateInput(
        format="%Y-%m-%d", attrs={"type": "date", "class": "form-control form-control-lg"}))


class ReadingsForm(forms.Form):
    sbp = _number(_("Systolic (mmHg)"))
    dbp = _number(_("Diastolic (mmHg)"))
    heart_rate = _number(_("Heart rate (/min)"))
    temperature = _number(_("Temperature (°C)"), decimals=1, step="0.1")
    fasting_glucose = _number(_("Fasting glucose (mmol/L)"), decimals=1, step="0.1")
    weight_kg = _number(_("Weight (kg)"), decimals=1, step="0.1")
    height_cm = _number(_("Height (cm)"), decimals=1, step="0.1")

    def values(self) -> dict[str, Any]:
        return {name: self.cleaned_data.get(name) for name in
                ("sbp", "dbp", "heart_rate", "temperature", "fasting_glucose", "weight_kg",
                 "height_cm")}


class FollowUpForm(ReadingsForm):
    """The follow-up form (rules.md §8), laid out for a tablet: large inputs, checkboxes."""

    date = _date()
    method = forms.ChoiceField(label=_("How"), choices=FollowUp.Method.choices,
                               widget=forms.RadioSelect)
    signs = forms.MultipleChoiceField(
        label=_("Danger signs"), required=False, widget=forms.CheckboxSelectMultiple,
        choices=[(sign.value, label) for sign, label in SIGN_LABELS.items()])
    symptoms = forms.CharField(label=_("Other symptoms"), required=False, max_length=200)
    medication = forms.CharField(label=_("Medication"), required=False, max_length=300)
    adherence = forms.ChoiceField(label=_("Adherence"), choices=FollowUp.Adherence.choices)
    adverse_reaction = forms.BooleanField(label=_("Adverse drug reaction"), required=False)
    adverse_intolerable = forms.BooleanField(label=_("Adverse reaction not tolerated"),
                                             required=False)
    new_complication = forms.BooleanField(label=_("New or worse complication"),
                                          required=False)
    complication_note = forms.CharField(label=_("Complications"), required=False,
                                        max_length=200)
    note = forms.CharField(label=_("Note"), required=False, max_length=2000,
                           widget=forms.Textarea(attrs={"rows": 2}))

    def values(self) -> dict[str, Any]:
        result = super().values()
        result.update({key: self.cleaned_data.get(key) for key in
                       ("signs", "adverse_reaction", "adverse_intolerable",
                        "new_complication")})
        return result


class ElderlyCheckForm(ReadingsForm):
    date = _date()
    items = forms.MultipleChoiceField(label=_("Items done"), choices=ElderlyCheck.Item.choices,
                                      widget=forms.CheckboxSelectMultiple)
    diagnosed = forms.MultipleChoiceField(
        label=_("Newly diagnosed at the check"), required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[(rules.HYPERTENSION, _("Hypertension")), (rules.DIABETES,
                                                           _("Type-2 diabetes"))])
    findings = forms.CharField(label=_("Findings and advice"), required=False,
                               max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))


class ScreeningForm(ReadingsForm):
    date = _date()


class EnrolForm(forms.Form):
    disease = forms.ChoiceField(label=pgettext_lazy("chronic", "Registry"),
                                choices=Disease.choices)
    diagnosis = forms.CharField(label=_("Diagnosis (ICD-10)"), required=False, max_length=11)
    source = forms.ChoiceField(label=_("Enrolled from"), choices=[
        (Registration.Source.DIAGNOSIS, _("Diagnosis")),
        (Registration.Source.SCREENING, _("Screening (three raised readings)"))])
    team = forms.ModelChoiceField(label=_("Team"), queryset=FamilyDoctorTeam.objects.none(),
                                  required=False)
    date = _date()
    care_plan = forms.CharField(label=_("Care plan"), required=False, max_length=4000,
                                widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, teams: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if teams is not None:
            self.fields["team"].queryset = teams  # type: ignore[attr-defined]


class CloseRegistrationForm(forms.Form):
    reason = forms.ChoiceField(label=_("Why"), choices=Registration.CloseReason.choices)


class ContractForm(forms.Form):
    team = forms.ModelChoiceField(label=_("Team"), queryset=FamilyDoctorTeam.objects.none())
    packages = forms.ModelMultipleChoiceField(label=_("Service packages"),
                                              queryset=ServicePackage.objects.none(),
                                              widget=forms.CheckboxSelectMultiple)
    years = forms.IntegerField(label=_("Period (years)"), min_value=1, max_value=5,
                               initial=1)
    consent = forms.ChoiceField(label=_("Consent"), choices=[("", "—"),
                                                            *Contract.Consent.choices])

    def __init__(self, *args: Any, teams: Any = None, packages: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if teams is not None:
            self.fields["team"].queryset = teams  # type: ignore[attr-defined]
        if packages is not None:
            self.fields["packages"].queryset = packages  # type: ignore[attr-defined]
        self.fields["consent"].required = False


class SwitchForm(forms.Form):
    team = forms.ModelChoiceField(label=_("New team"), queryset=FamilyDoctorTeam.objects.none())
    consent = forms.ChoiceField(label=_("Consent"), choices=Contract.Consent.choices)
    reason = forms.CharField(label=_("Reason"), required=False, max_length=200)

    def __init__(self, *args: Any, teams: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if teams is not None:
            self.fields["team"].queryset = teams  # type: ignore[attr-defined]


class DeliveryForm(forms.Form):
    service = forms.ModelChoiceField(label=_("Service"), queryset=PackageService.objects.none())
    date = _date()
    note = forms.CharField(label=_("Note"), required=False, max_length=200)

    def __init__(self, *args: Any, services: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if services is not None:
            self.fields["service"].queryset = services  # type: ignore[attr-defined]
