"""Dialogue: conversations among two or more participants (models, characters, scripts, corpora).

The engine (:class:`Conversation` and its speakers) holds a conversation anywhere; the ``dialogue`` task runs one
conversation per sample as an Inspect task (``characterlab run dialogue`` or ``inspect eval characterlab/dialogue``)
and reads its participants from a ``characterlab/dialogue@1`` config.
"""

from characterlab.dialogue._chat import (
    CharacterReply,
    ChatFrame,
    character_reply,
    greeting,
    inspect_model,
    stage_model,
)
from characterlab.dialogue._conversation import (
    STOP_REASONS,
    Conversation,
    CorpusSpeaker,
    ModelSpeaker,
    ScriptSpeaker,
    Speaker,
    StopReason,
    StopRule,
    Turn,
    run,
)
from characterlab.dialogue._participants import (
    DEFAULT_OPENER,
    DIALOGUE_SCHEMA,
    DialogueConfig,
    Participant,
    ParticipantMaterials,
    StopSettings,
    load_dialogue_config,
    prepare_participant,
    read_script,
)
from characterlab.dialogue.task import dialogue, dialogue_summary

__all__ = [
    "DEFAULT_OPENER",
    "DIALOGUE_SCHEMA",
    "STOP_REASONS",
    "CharacterReply",
    "ChatFrame",
    "Conversation",
    "CorpusSpeaker",
    "DialogueConfig",
    "ModelSpeaker",
    "Participant",
    "ParticipantMaterials",
    "ScriptSpeaker",
    "Speaker",
    "StopReason",
    "StopRule",
    "StopSettings",
    "Turn",
    "character_reply",
    "dialogue",
    "dialogue_summary",
    "greeting",
    "inspect_model",
    "load_dialogue_config",
    "prepare_participant",
    "read_script",
    "run",
    "stage_model",
]
