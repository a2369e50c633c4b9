"""Reusable async primitives that know nothing of the operator's resources."""
