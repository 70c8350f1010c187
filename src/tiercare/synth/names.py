"""Synthetic Chinese names, their pinyin initials and mobile numbers.

Surnames follow their published frequencies (``reference.SURNAMES``), polyphone surnames
(单 曾 解 区 …) included at their real rarity. Initials come from ``tiercare.kernel.names``
(the same function resident search uses), computed once per surname and per given-name
character so that a million names cost a few dictionary look-ups each.
"""

from __future__ import annotations

import random

from tiercare.kernel import names as kernel_names
from tiercare.synth import reference as ref


def _pool(pairs: tuple[tuple[str, float], ...], scale: float) -> list[str]:
    """A list in which each value appears in proportion to its weight (for O(1) draws)."""
    out: list[str] = []
    for value, weight in pairs:
        out.extend([value] * max(1, round(weight * scale)))
    return out


class NameMaker:
    """Draws names from one random stream."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.surnames = _pool(ref.SURNAMES, 100)
        self.male = ref.GIVEN_MALE
        self.female = ref.GIVEN_FEMALE
        self.surname_initials: dict[str, tuple[str, str]] = {}
        for surname, _w in ref.SURNAMES:
            readings = kernel_names.initials(surname)
            self.surname_initials[surname] = (readings[0], readings[1] if len(readings) > 1
                                              else "")
        # A given-name character's initial: what the kernel gives after a plain surname.
        self.char_initial: dict[str, str] = {
            ch: kernel_names.initials("王" + ch)[0][1:]
            for ch in (*ref.GIVEN_MALE, *ref.GIVEN_FEMALE)
        }

    def parts(self, male: bool) -> tuple[str, str]:
        """(surname, given name)."""
        r = self.rng.random
        surname = self.surnames[int(r() * len(self.surnames))]
        chars = self.male if male else self.female
        given = chars[int(r() * len(chars))]
        if r() < ref.TWO_CHARACTER_GIVEN_SHARE:
            given += chars[int(r() * len(chars))]
        return surname, given

    def name(self, male: bool) -> str:
        surname, given = self.parts(male)
        return surname + given

    def initials(self, surname: str, given: str) -> tuple[str, str]:
        """(main initials, alternative initials or "") as ``kernel.names.initials`` gives
        them for ``surname + given``."""
        main, alt = self.surname_initials[surname]
        tail = "".join(self.char_initial[ch] for ch in given)
        return main + tail, (alt + tail if alt else "")

    def phone(self) -> str:
        r = self.rng.random
        prefix = ref.PHONE_PREFIXES[int(r() * len(ref.PHONE_PREFIXES))]
        return f"{prefix}{int(r() * 100_000_000):08d}"
