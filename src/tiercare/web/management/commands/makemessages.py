"""``makemessages`` that also extracts ``N_("…")``: the kernel marks its error templates with
``N_`` because it cannot import Django (tiercare.kernel.errors); they are translated at the
Django boundary with ``KernelError.translated(gettext)``."""

from django.core.management.commands import makemessages


class Command(makemessages.Command):
    xgettext_options = [*makemessages.Command.xgettext_options, "--keyword=N_"]
