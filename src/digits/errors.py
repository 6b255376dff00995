"""The error every stage turns into a one-line message and a non-zero exit."""


class InputError(ValueError):
    """Bad input from the user or from a file: the message says what and how to fix it."""
