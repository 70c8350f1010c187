"""TierCare kernel: small, fully typed helpers with no Django import.

``idnumber`` (GB 11643 resident ID numbers), ``divisions`` (GB/T 2260 codes), ``icd10``
(ICD-10 with Chinese names), ``money`` (Decimal yuan), ``periods`` (months, quarters, years),
``names`` (pinyin initials for search) and ``errors`` (translatable domain errors).
See ``docs/kernel.md``.
"""
