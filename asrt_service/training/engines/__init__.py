"""TTS engine workers, each run inside its own virtual environment.

Nothing here is imported by the service: ``setup_engines`` creates the
environments from the pinned requirements files beside it, and the corpus
builder starts ``<engine>_worker.py`` with that environment's interpreter.
"""
