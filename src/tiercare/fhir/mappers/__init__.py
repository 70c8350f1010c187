"""One module per resource type; importing the package registers them all."""

from tiercare.fhir.mappers import (  # noqa: F401
    appointment,
    condition,
    encounter,
    explanation_of_benefit,
    group,
    location,
    measure,
    measure_report,
    organization,
    patient,
    practitioner,
    practitioner_role,
    schedule,
    service_request,
    slot,
    task,
)
