"""One module per resource type; importing the package registers them all."""

from tiercare.fhir.mappers import (
    organization,  # noqa: F401
    patient,  # noqa: F401
)
