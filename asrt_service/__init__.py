"""asrt-service: an ASRT-compatible Chinese speech-recognition server.

Public names: :class:`Recognizer`, :class:`Transcript`, :class:`Settings`.
"""

from .config import Settings
from .recognizer import Recognizer, Segment, Transcript

__version__ = "0.1.0"

__all__ = ["Recognizer", "Segment", "Settings", "Transcript", "__version__"]
