"""The project's own error types: every bad input surfaces as one of these, with a message that names it."""


class GendlError(Exception):
    """Base class for errors a user can fix (bad config, broken file, missing data)."""


class ConfigError(GendlError, ValueError):
    """A configuration field has a wrong type, is out of range, or names an unknown choice."""


class CheckpointError(GendlError):
    """A checkpoint file is missing, truncated, of the wrong kind or does not fit its model."""


class DataError(GendlError):
    """A data set cannot be found or read."""
