"""The app layer: what the Gradio handlers and the CLI share, without Gradio (``state``
between requests, ``forms`` for every field's rules, ``what_changed`` and ``runs`` for the
"What changed" tab). The UI acts through these alone (``tests/test_layers.py``)."""
