"""Forms of the tightness evaluation pages (issue 5 item 5). They check the shape of what was
typed; the business rules (who grades at which stage, complete grading, evidence type and
size, one evaluation per period) stay in ``indicators.tightness_services``, whose refusals
the views show as translated messages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from tiercare.accounts.models import User
from tiercare.indicators import tightness_services as services
from tiercare.indicators.tightness import Grade
from tiercare.referrals.forms import MultipleFileField
from tiercare.registry.models import Alliance


class StartForm(forms.Form):
    """Start the evaluation of a county medical community for a year or a quarter."""

    alliance = forms.ModelChoiceField(label=_("Medical alliance"),
                                      queryset=Alliance.objects.none(),
                                      empty_label=None)
    period = forms.CharField(label=_("Evaluation period"), max_length=10,
                             help_text=_("A year (2025) or a quarter (2025Q3)."),
                             widget=forms.TextInput(attrs={"placeholder": "2025"}))

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["alliance"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = services.alliances_to_start(user).order_by("code")
        for name, widget_class in (("alliance", "form-select"), ("period", "form-control")):
            self.fields[name].widget.attrs.setdefault("class", widget_class)


class GradeForm(forms.Form):
    """One criterion's grade at the present stage, with a comment and evidence documents."""

    grade = forms.ChoiceField(label=_("Grade"), choices=Grade.choices,
                              widget=forms.RadioSelect(attrs={"class": "form-check-input"}),
                              error_messages={"required": _("Choose a grade: A, B or C."),
                                              "invalid_choice": _("Choose a grade: A, B or C.")})
    comment = forms.CharField(label=_("Comment"), required=False,
                              max_length=services.COMMENT_LIMIT,
                              widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"}))
    evidence = MultipleFileField(label=_("Evidence documents"), required=False,
                                 help_text=_("PDF, JPEG or PNG, at most 10 MB each"))


class StepForm(forms.Form):
    """The note of a step (the reason for sending back; the improvement note)."""

    note = forms.CharField(label=_("Note"), required=False, max_length=services.NOTE_LIMIT,
                           widget=forms.Textarea(attrs={"rows": 3, "class": "form-control"}))
