"""The error of a problem the user can fix: missing or bad data, paths, configuration.

Raised by the recipes and by the data code they call (audio checks, corpus preparation);
:func:`sparse.recipe.run_recipe` prints it as one line and exits with status 2. It lives at the
bottom of the package so that :mod:`sparse.data` need not import :mod:`sparse.recipe`.
"""

__all__ = ["RecipeError"]


class RecipeError(Exception):
    """A problem the user can fix (data, paths, configuration).

    :func:`sparse.recipe.run_recipe` prints its message as one line and exits with status 2,
    without a traceback. Raise it with a message that names the offending file, key or value.
    """
