"""Typed, validated views of the WeddingDay and PlatformScaling resources."""

from wedsync_operator.model.parse import (
    API_VERSION,
    GROUP,
    PLATFORM_SCALING,
    VERSION,
    WEDDING_DAY,
    FieldError,
    InvalidSpec,
    parse_object,
    parse_platform_scaling,
    parse_wedding_day,
)
from wedsync_operator.model.types import PlatformScaling, WeddingDay

__all__ = [
    "API_VERSION",
    "GROUP",
    "PLATFORM_SCALING",
    "VERSION",
    "WEDDING_DAY",
    "FieldError",
    "InvalidSpec",
    "PlatformScaling",
    "WeddingDay",
    "parse_object",
    "parse_platform_scaling",
    "parse_wedding_day",
]
