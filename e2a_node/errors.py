"""User-facing errors.

Anything a user can cause (a missing file, a corrupt book, an unknown voice) is raised as an
`E2AError` whose message is one clear line. The CLI turns it into a `click.ClickException`,
so the user sees that line and a non-zero exit, never a traceback.
"""


class E2AError(Exception):
    """An error with a one-line message meant for the user."""


class BookError(E2AError):
    """The input book cannot be read."""


class EngineError(E2AError):
    """A TTS engine or voice cannot be loaded or used."""


class AudioError(E2AError):
    """Audio cannot be stored, assembled or exported."""
