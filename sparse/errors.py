"""The errors of problems the user can fix: missing or bad data, paths, configuration, inputs.

:class:`UserError` is the one base class. The command-line boundaries (the recipes'
:func:`sparse.recipe.run_recipe`, ``python -m sparse``) catch it, and only it, and print its
message as one line; any other exception is a bug and keeps its traceback. It lives at the
bottom of the package so that every layer can raise it without importing the layers above.
"""

__all__ = ["UserError", "RecipeError", "ConfigError", "DataError"]


class UserError(Exception):
    """A problem the user can fix; its message names the offending file, key or value."""


class RecipeError(UserError):
    """A recipe's problem the user can fix (data, paths, configuration).

    :func:`sparse.recipe.run_recipe` prints its message as one line and exits with status 2,
    without a traceback. Raise it with a message that names the offending file, key or value.
    """


class ConfigError(UserError, ValueError):
    """A setting the code cannot use: a value out of its range, a choice not offered.

    A ``ValueError`` too, for callers of the functions that check their arguments with it.
    """


class DataError(UserError, ValueError):
    """Data a reader cannot use: a file missing, or of the wrong layout or content.

    A ``ValueError`` too (a missing file included), for callers of the readers.
    """
