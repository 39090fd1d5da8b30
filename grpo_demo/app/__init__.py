"""The app layer: what the Gradio handlers and the CLI share, without Gradio.

``state`` holds what the app keeps between requests (the resident model, the one trainer,
time estimates, the run caps, who may stop a run); ``forms`` turns widget, API or CLI values
into typed requests, or one error per named field; ``results`` keeps the files offered for
download bounded.
"""
