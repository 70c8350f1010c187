"""Signals of the master patient index: other apps re-point their rows when two resident
records are merged, and move exactly those rows back when the merge is undone (issue 2 §4:
"merge with audit trail and undo"; DESIGN.md: apps talk through services and signals).

``patients_merged`` is sent inside the merge transaction with ``survivor``, ``merged`` and
``merge`` (the :class:`~tiercare.patients.models.Merge` row). Each receiver moves its rows from
``merged`` to ``survivor`` and returns ``{"app_label.ModelName": [ids moved]}``; the service
stores the union in ``Merge.moved``. A receiver that raises aborts the whole merge.

``patients_unmerged`` is sent inside the undo transaction with ``merge``; each receiver moves
back exactly the ids listed under its model labels in ``merge.moved`` (rows created for the
survivor after the merge stay with the survivor).
"""

from __future__ import annotations

from django.dispatch import Signal

patients_merged = Signal()
patients_unmerged = Signal()
