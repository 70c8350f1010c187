"""Database backends of TierCare: Django's, with what the booking storm measured (ADR 0023)."""
