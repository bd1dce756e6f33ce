"""csresearch: Customer Success research and reporting kit."""

from csresearch.errors import (
    ConfigError,
    CSResearchError,
    DataQualityWarning,
    DataValidationError,
    ModelError,
    ReportError,
)

__version__ = "0.1.0"

__all__ = [
    "CSResearchError",
    "ConfigError",
    "DataQualityWarning",
    "DataValidationError",
    "ModelError",
    "ReportError",
    "__version__",
]
