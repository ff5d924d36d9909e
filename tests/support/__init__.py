"""Test-only helpers written from the specs, independent of the code under test."""
