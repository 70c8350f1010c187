"""One module per resource type; importing the package registers them all."""

from tiercare.fhir.mappers import (  # noqa: F401
    appointment,
    care_plan,
    care_team,
    condition,
    encounter,
    episode_of_care,
    explanation_of_benefit,
    group,
    location,
    measure,
    measure_report,
    observation,
    organization,
    patient,
    practitioner,
    practitioner_role,
    schedule,
    service_request,
    slot,
    task,
)
