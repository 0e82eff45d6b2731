"""A person talking with a character: the model staged in the frame that suits it, one reply at a time.

The terminal (``characterlab talk``) and the web lab hold their chats through these two functions, so a
character sounds the same in both. A chat model gets the character's chat frame; a local model without a chat
template (a base model) gets the character's transcript, which it continues as the character. Replies stream
token by token from a local model; an API model is reached through Inspect's model API, which hands back a
whole reply, so its one "draft" is the reply itself.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from inspect_ai.model import ChatMessage, ChatMessageUser, GenerateConfig, Model, get_model
from rich.text import Text

from characterlab.characters import Character
from characterlab.errors import CharacterlabError
from characterlab.models import ActivationSpec, SteeringVector, chat_messages, local_model_api
from characterlab.stage import StageContext, render_chat_frame, render_transcript_frame

__all__ = ["CharacterReply", "ChatFrame", "character_reply", "greeting", "stage_model"]

ChatFrame = Literal["chat", "transcript"]
"""How a character is put on a model for a chat: messages for a chat model, a transcript for a base model."""

_LOCAL_PREFIX = "characterlab/"


@dataclass(frozen=True)
class CharacterReply:
    """A reply and what produced it."""

    text: str
    """The reply, as the character says it (a transcript's continuation cut at the next speaker)."""
    prompt: list[dict[str, str]]
    """The messages the model received (role and content); a transcript frame sends one user message, the text."""
    rendered: str | None
    """The exact text a local model read (its chat template applied); ``None`` for an API model."""
    seconds: float
    """Time from the request to the whole reply."""
    activations: dict[int, list[float]] | None = None
    """Block → the reply's state (the mean over its tokens), when asked for with ``watch_layers``."""


def stage_model(
    name: str,
    frame: Literal["auto", "chat", "transcript"] = "auto",
    model_args: Mapping[str, Any] | None = None,
    config: GenerateConfig | None = None,
) -> tuple[ChatFrame, Model]:
    """Get a model (any Inspect model name) and the frame to stage a character on it.

    ``auto`` picks the transcript frame for a local model without a chat template and the chat frame otherwise.
    A local model in the transcript frame reads the character's transcript as it is (``frame=raw``), sharing the
    loaded weights with the same model in its own frame.

    Raises:
        CharacterlabError: the model cannot be used: a package or API key is missing, or Inspect does not know
            the name.
    """
    with _model_errors(name):
        return _stage_model(name, frame, model_args, config)


def inspect_model(
    name: str, model_args: Mapping[str, Any] | None = None, config: GenerateConfig | None = None
) -> Model:
    """Inspect's ``get_model`` (memoized), in the model's own frame, with setup problems as our errors.

    Raises:
        CharacterlabError: the model cannot be used (see :func:`stage_model`).
    """
    with _model_errors(name):
        return get_model(name, config=config or GenerateConfig(), **dict(model_args or {}))


@contextlib.contextmanager
def _model_errors(name: str) -> Iterator[None]:
    from inspect_ai._util.error import PrerequisiteError  # private, but the error Inspect raises for setup problems

    try:
        yield
    except PrerequisiteError as error:
        # Inspect's own "missing package or API key" error: a user's setup problem, shown without a traceback.
        message = error.message if isinstance(error.message, str) else str(error.message)
        raise CharacterlabError(f"cannot use {name}: {Text.from_markup(message).plain.strip()}") from error
    except ValueError as error:
        # get_model's "Model API x not recognized" / "should be in the format of <api_name>/<model_name>".
        raise CharacterlabError(f"cannot use {name}: {error}") from error


def _stage_model(
    name: str,
    frame: Literal["auto", "chat", "transcript"],
    model_args: Mapping[str, Any] | None,
    config: GenerateConfig | None,
) -> tuple[ChatFrame, Model]:
    from characterlab.models import LocalModelAPI

    args = dict(model_args or {})
    config = config or GenerateConfig()
    if not name.startswith(_LOCAL_PREFIX):
        return ("chat" if frame == "auto" else frame), get_model(name, config=config, **args)
    if frame == "chat":
        return frame, get_model(name, config=config, frame="chat", **args)
    if frame == "transcript":
        return frame, get_model(name, config=config, frame="raw", **args)
    probe = get_model(name, config=config, **args)
    api = probe.api
    if not isinstance(api, LocalModelAPI) or api.frame == "chat":
        return "chat", probe
    return "transcript", get_model(name, config=config, frame="raw", engine=api.engine, **args)


def greeting(character: Character, context: StageContext) -> str | None:
    """The character's opening message in this context (its ``{{user}}`` filled in), if it has one."""
    frame = render_chat_frame(character, context)
    return next((message.content for message in frame if message.role == "assistant"), None)


async def character_reply(
    model: Model,
    frame: ChatFrame,
    character: Character | None,
    context: StageContext,
    *,
    config: GenerateConfig | None = None,
    on_text: Callable[[str], None] | None = None,
    steering: Sequence[SteeringVector] = (),
    watch_layers: Sequence[int] = (),
) -> CharacterReply:
    """The character's next reply to the conversation in ``context.history``.

    Args:
        model: From :func:`stage_model` (its frame must be the one given here).
        frame: ``chat`` or ``transcript``.
        character: The character to play; ``None`` for the bare model (the history alone, in the model's own frame).
        context: The user's name, greeting, examples and the conversation so far (ending with the user's turn).
        config: Generation settings for this reply (over the model's own).
        on_text: Called with the reply so far while it is generated (a local model streams token by token).
        steering: Steering vectors for this reply alone (a local model only).
        watch_layers: Blocks whose state (the mean over the reply's tokens) to return with the reply, for
            monitoring (a local model only).

    Returns:
        The reply, the prompt it answered, and how long it took.

    Raises:
        CharacterlabError: Steering asked of a model that is not local, or vectors that do not fit it.
    """
    config = config or GenerateConfig()
    transcript = None
    if character is None:
        messages: list[ChatMessage] = chat_messages(context.history)
    elif frame == "chat":
        messages = chat_messages(render_chat_frame(character, context))
    else:
        transcript = render_transcript_frame(character, context)
        messages = [ChatMessageUser(content=transcript.prompt)]
        config = config.merge(GenerateConfig(stop_seqs=list(transcript.stop_sequences)))
    prompt = [{"role": message.role, "content": message.text} for message in messages]
    started = time.monotonic()
    api = local_model_api(model)
    if (steering or watch_layers) and api is None:
        raise CharacterlabError(f"steering and watching need a local model (characterlab/...); {model} is not one")
    watched = ActivationSpec(layers=tuple(watch_layers), reduction="mean_response") if watch_layers else None
    if api is not None and (on_text is not None or steering or watched):
        output = await api.generate_streaming(
            messages, model.config.merge(config), on_text or (lambda _: None), steering=steering, activations=watched
        )
    else:
        output = await model.generate(messages, config=config)
    text = transcript.reply_from(output.completion) if transcript else output.completion.strip()
    if on_text is not None:
        on_text(text)
    return CharacterReply(
        text=text,
        prompt=prompt,
        rendered=api.prompt_text(messages) if api is not None else None,
        seconds=time.monotonic() - started,
        activations=_watched(output.metadata) if watched else None,
    )


def _watched(metadata: dict[str, Any] | None) -> dict[int, list[float]] | None:
    values = (metadata or {}).get("activations", {}).get("values")
    return {int(layer): list(state) for layer, state in values.items()} if isinstance(values, dict) else None
