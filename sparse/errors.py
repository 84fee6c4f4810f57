"""The errors of problems the user can fix: missing or bad data, paths, configuration, inputs.

:class:`UserError` is the one base class. The command-line boundaries (the recipes'
:func:`sparse.recipe.run_recipe`, ``python -m sparse``) catch it, and only it, and print its
message as one line; any other exception is a bug and keeps its traceback. It lives at the
bottom of the package so that every layer can raise it without importing the layers above.
"""

__all__ = ["UserError", "RecipeError"]


class UserError(Exception):
    """A problem the user can fix; its message names the offending file, key or value."""


class RecipeError(UserError):
    """A recipe's problem the user can fix (data, paths, configuration).

    :func:`sparse.recipe.run_recipe` prints its message as one line and exits with status 2,
    without a traceback. Raise it with a message that names the offending file, key or value.
    """
