"""One module per resource type; importing the package registers them all."""

from tiercare.fhir.mappers import patient  # noqa: F401
