"""Speech Commands preparation where SpeechBrain recipes keep it:
``prepare_speech_commands(data_folder, save_folder, task=...)``.

The code is corpus data code of the package, :mod:`sparse.data.speech_commands` (official
split lists, ``_unknown_`` / ``_silence_`` classes, manifests); this module re-exports it for
scripts that import the recipe folder's preparer.
"""

from sparse.data.speech_commands import (
    DIGIT_WORDS,
    KWS12_KEYWORDS,
    SILENCE_LABEL,
    UNKNOWN_LABEL,
    SpeechCommandsLayoutError,
    prepare_speech_commands,
    speaker_of,
    task_words,
)

__all__ = ["DIGIT_WORDS", "KWS12_KEYWORDS", "SILENCE_LABEL", "UNKNOWN_LABEL",
           "SpeechCommandsLayoutError", "prepare_speech_commands", "speaker_of", "task_words"]
