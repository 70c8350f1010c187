"""FHIR R4 facade of the alliance (issue 3): ``/fhir`` answers standard clients.

One mapper module per resource type (``tiercare.fhir.mappers``) declares what the server
does with that type: interactions, search parameters, sorts, includes, the mapping to and
from the domain models. The CapabilityStatement (``/fhir/metadata``) is built from those
declarations, so it lists exactly what the code does.
"""
