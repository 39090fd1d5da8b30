"""The app layer: what the Gradio handlers and the CLI share, without Gradio.

``state`` holds what the app keeps between requests (the resident model, the one trainer,
time estimates, the run caps, who may stop a run) and does what needs them (sample, evaluate,
score the base); ``forms`` turns widget, API or CLI values into typed requests, or one error
per named field; ``what_changed`` and ``runs`` serve the "What changed" tab; ``serving``
checks the model before a page is served; ``results`` keeps the files offered for download
bounded. The UI acts through these alone (``tests/test_layers.py``).
"""
