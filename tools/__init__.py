"""The book's tooling, run as modules from a checkout: ``python -m tools.notebooks``,
``python -m tools.stress``, ``python -m tools.colab``, ``python -m tools.prose_stats``.

Imports go one way: ``common`` at the bottom (places, the repository, the reading order, the
machine, the one atomic write); ``notebooks`` (setup cell, execution) and ``stress_page`` on it;
``stress`` on ``stress_page``; ``colab`` on ``notebooks``; ``book_extension`` (Sphinx) on
``colab``; ``prose_stats`` on ``common``. The committed-run scripts (``ch1_long_run`` ...) use
``common`` and the library.
"""
