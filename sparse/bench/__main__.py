"""``python -m sparse.bench``: see :mod:`sparse.bench`."""

from . import main

if __name__ == "__main__":  # (imported, e.g. by the doctest collector, it runs nothing)
    main()
