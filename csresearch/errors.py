"""The one exception hierarchy of csresearch."""

from __future__ import annotations


class CSResearchError(Exception):
    """Base class of every error the kit raises on purpose."""


class DataValidationError(CSResearchError, ValueError):
    """Input data breaks the data contract (or a function's stated input).

    The message names the table, the column, the rule, how many rows fail, a few
    example rows and how to fix it.
    """


class ConfigError(CSResearchError, ValueError):
    """A configuration file (YAML) or a parameter is invalid; the message names the key."""


class ModelError(CSResearchError, RuntimeError):
    """A model could not be fitted (did not converge, degenerate data); says why and what to try."""


class ReportError(CSResearchError, RuntimeError):
    """A report failed to render; names the failing cell's error."""


class DataQualityWarning(UserWarning):
    """A statistical or data caveat that does not stop the analysis."""
