"""The book's local Sphinx extension (``_config.yml``: ``sphinx.local_extensions``, which puts
the checkout on ``sys.path`` and loads this module as ``tools.book_extension``).

1. **Colab buttons open the Colab twin.** sphinx-book-theme builds the launch button's address
   from the page's source, ``book/X.ipynb``, which is written in MyST and shows raw markup in
   Colab. Each chapter has a twin in plain Markdown, ``colab/X.ipynb`` (``tools/colab.py``); the
   button is pointed there.
2. **Inline scripts are written once.** Sphinx 7.4 keeps an inline script registered after the
   HTML builder started (sphinx-thebe's ``const THEBE_JS_URL = ...``, sphinx-togglebutton's
   selector) twice: once as given to the builder (file name ``None``) and once more, re-added
   from the registry with file name ``''`` before the pages are written, so every page declared
   ``THEBE_JS_URL`` twice (``Uncaught SyntaxError`` in the console). Giving the builder's copy
   the registry's spelling lets Sphinx's own de-duplication drop the second one.
"""

from __future__ import annotations

from pathlib import Path

from tools.colab import colab_url  # where the twins' addresses are defined
from tools.common import COLAB


def one_copy_of_inline_scripts(app, env) -> None:
    """``env-updated``: before ``prepare_writing`` re-adds the registry's scripts."""
    files = getattr(app.builder, "_js_files", None)
    if not files:
        return
    from sphinx.builders.html._assets import _JavaScript

    files[:] = [
        _JavaScript("", priority=js.priority, **js.attributes) if js.filename is None else js
        for js in files
    ]


def colab_button_opens_twin(app, pagename, templatename, context, doctree) -> None:
    """``html-page-context``, after sphinx-book-theme's launch buttons (priority 501)."""
    stem = Path(pagename).name
    if not (COLAB / f"{stem}.ipynb").exists():
        return
    for group in context.get("header_buttons", []):
        if group.get("label") != "launch-buttons":
            continue
        for button in group.get("buttons", []):
            if button.get("text") == "Colab":
                button["url"] = colab_url(stem)
                button["tooltip"] = "Open the Colab edition of this chapter"


def setup(app):
    app.connect("env-updated", one_copy_of_inline_scripts)
    app.connect("html-page-context", colab_button_opens_twin, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
