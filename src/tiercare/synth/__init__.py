"""The synthetic county generator (issue 2 §8): ``generate(residents, seed, year)`` builds a
realistic county with a year of care into the configured database. Assumptions and their
sources: ``docs/synthetic-data.md``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tiercare.synth.generator import SynthSummary

__all__ = ["SynthSummary", "generate"]


def generate(residents: int, seed: int, year: int, *, progress: bool = False,
             **options: Any) -> SynthSummary:
    """See :func:`tiercare.synth.generator.generate` (imported lazily: this package is a
    Django app and must not import models before the app registry is ready)."""
    from tiercare.synth.generator import generate as _generate

    return _generate(residents, seed, year, progress=progress, **options)


def __getattr__(name: str) -> Any:
    if name == "SynthSummary":
        from tiercare.synth.generator import SynthSummary

        return SynthSummary
    raise AttributeError(name)
