"""The Inspect provider ``characterlab/...``: a local transformers model that batches, scores, captures and steers.

``--model characterlab/default`` (the embedded SmolLM2-135M-Instruct), ``characterlab/base`` (Gemma 3 270M, a base
model), ``characterlab/<folder>`` or ``characterlab/<hub id>`` work wherever Inspect takes a model: ``inspect
eval``, ``eval()``, ``get_model()``, and characterlab's own CLI. Model args (``-M key=value``) are the keyword
arguments of :class:`LocalModelAPI`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, TypeVar, get_args

from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    ContentReasoning,
    ContentText,
    GenerateConfig,
    Logprob,
    Logprobs,
    Model,
    ModelAPI,
    ModelCall,
    ModelOutput,
    ModelUsage,
    TopLogprob,
)
from inspect_ai.model._model_info import MODEL_INFO_LOOKUP_API_KEY  # private; inspect-ai is pinned
from inspect_ai.tool import ToolChoice, ToolInfo

from characterlab.errors import CapabilityError, CharacterlabError
from characterlab.models._batching import Batcher, ContinuousBatcher
from characterlab.models._decoder_blocks import resolve_layer
from characterlab.models._engine import LocalEngine
from characterlab.models._loading import load_model
from characterlab.models._steering_file import read_steering_file
from characterlab.models._types import (
    ActivationReduction,
    ActivationSpec,
    GenerationRequest,
    GenerationResult,
    OptionScores,
    SteeringVector,
    TokenLogprob,
)
from characterlab.stage import FrameMessage, render_transcript_from_messages

__all__ = ["LocalModelAPI", "PromptFrame", "local_api", "steered"]

PromptFrame = Literal["auto", "chat", "transcript", "raw"]
"""How messages become a prompt: ``chat`` applies the tokenizer's chat template; ``transcript`` writes the
conversation as a dialogue for a base model to continue (``stage.render_transcript_from_messages``); ``raw`` joins
the messages' contents (with a blank line between messages, nothing else added), for studies that render their own
prompt; ``auto`` is ``chat`` when the tokenizer
has a chat template and ``transcript`` otherwise."""

_T = TypeVar("_T")
_DEFAULT_MAX_TOKENS = 512
_REDUCTIONS_FOR_LOGS: tuple[ActivationReduction, ...] = ("last_prompt_token", "mean_response")


class LocalModelAPI(ModelAPI):
    """Inspect model API for a local transformers model (``--model characterlab/<name>``).

    The model is loaded once, when Inspect creates the provider. Concurrent ``generate`` calls (one per sample)
    are collected for ``batch_wait_ms`` or until ``batch_size`` of them wait, and run as one left-padded batch;
    calls that arrive while a batch is generating join it at its next step (continuous batching), up to
    ``batch_size`` requests at once.
    Greedy decoding is the default (an unset temperature means 0), so outputs are reproducible; with sampling,
    ``seed`` makes them reproducible whatever else shares the batch.

    Args:
        model_name: ``default``, ``base``, a local model folder, a ``.gguf`` file, or a Hugging Face Hub id.
        base_url: Not used (a local model has no server); accepted because Inspect passes it.
        api_key: Not used.
        config: The model's default generation config.
        gguf_file: A GGUF file inside the folder ``model_name`` to load instead of safetensors weights.
        dtype: ``auto``, ``float32``, ``bfloat16`` or ``float16``.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        adapter: A PEFT (LoRA) adapter folder to apply.
        batch_size: The most requests generated together; also the provider's ``max_connections``.
        batch_wait_ms: A request that finds the model idle waits for others to start a batch with until none has
            come for this long.
        batch_wait_max_ms: ... and at most this long, however steadily they keep coming.
        frame: How messages become a prompt (see :data:`PromptFrame`).
        user_name: The user's name in the transcript frame.
        assistant_name: The assistant's name in the transcript frame.
        activation_layers: Decoder blocks whose hidden state is returned with every output, in
            ``output.metadata["activations"]`` (a layer or a list of layers; negative counts from the last).
        activation_reduction: ``last_prompt_token`` or ``mean_response``: one vector per layer, small enough for a
            log. (Per-token states are for in-process capture: ``LocalModelAPI.engine.capture``.)
        steering: A safetensors file of vectors named ``layer.<index>``, added to the residual stream.
        steering_alpha: Scale of the steering vectors.
        steering_positions: ``all`` or ``generated``: which positions the steering vectors are added at.
        engine: An engine already loaded in this process, to share instead of loading the model again (Python
            only; ``gguf_file``, ``dtype``, ``device`` and ``adapter`` are then ignored).

    Raises:
        CharacterlabError: an unknown or invalid model arg, or a model that cannot be loaded (``ModelLoadError``).
    """

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),  # noqa: B008 - Inspect's own signature; never mutated here
        *,
        gguf_file: str | None = None,
        dtype: str = "auto",
        device: str = "auto",
        adapter: str | None = None,
        batch_size: int = 16,
        batch_wait_ms: float = 15.0,
        batch_wait_max_ms: float = 150.0,
        frame: PromptFrame = "auto",
        user_name: str = "User",
        assistant_name: str = "Assistant",
        activation_layers: int | Sequence[int] | None = None,
        activation_reduction: ActivationReduction = "last_prompt_token",
        steering: str | None = None,
        steering_alpha: float = 1.0,
        steering_positions: Literal["all", "generated"] = "all",
        engine: LocalEngine | None = None,
        **unknown: Any,
    ) -> None:
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, api_key_vars=[], config=config)
        if unknown:
            raise CharacterlabError(
                f"characterlab/{model_name}: unknown model arg(s) {', '.join(sorted(unknown))}; accepted: "
                + ", ".join(_MODEL_ARGS)
            )
        if engine is not None and not isinstance(engine, LocalEngine):
            raise CharacterlabError("engine is for Python callers and takes a LocalEngine; load by model name instead")
        self._batch_size = _positive_int("batch_size", batch_size)
        self._activations = _activation_spec(activation_layers, activation_reduction)
        if frame not in get_args(PromptFrame):
            raise CharacterlabError(f"frame must be one of {', '.join(get_args(PromptFrame))}; got {frame!r}")
        if steering_positions not in ("all", "generated"):
            raise CharacterlabError(f"steering_positions must be 'all' or 'generated'; got {steering_positions!r}")
        self._loaded: LocalEngine | None = None
        if api_key == MODEL_INFO_LOOKUP_API_KEY:
            # Inspect creates a provider a second time (with this placeholder key, without model args) only to ask
            # its canonical name for the model-info table; loading the weights for that would double memory and
            # start-up time.
            return
        vectors = (
            read_steering_file(steering, alpha=float(steering_alpha), positions=steering_positions)
            if steering is not None
            else []
        )
        self._loaded = engine or LocalEngine(
            load_model(model_name, gguf_file=gguf_file, dtype=dtype, device=device, adapter=adapter)
        )
        if self._activations is not None:
            for layer in self._activations.layers:
                try:
                    resolve_layer(layer, self.engine.loaded.num_layers)
                except ValueError as error:
                    raise CharacterlabError(f"activation_layers: {error}") from error
        if frame == "auto":
            frame = "chat" if self.engine.loaded.has_chat_template else "transcript"
        elif frame == "chat" and not self.engine.loaded.has_chat_template:
            raise CharacterlabError(
                f"characterlab/{model_name} has no chat template (a base model?); use -M frame=transcript or "
                "leave frame at auto"
            )
        self._frame: Literal["chat", "transcript", "raw"] = frame
        context = getattr(self.engine.loaded.model.config.get_text_config(), "max_position_embeddings", None)
        self._context_length = int(context) if isinstance(context, int) else None
        self._user_name, self._assistant_name = str(user_name), str(assistant_name)
        if vectors:
            try:
                self.engine.set_steering(vectors)
            except ValueError as error:
                raise CharacterlabError(f"steering file {steering}: {error}") from error
        self._batcher: ContinuousBatcher[GenerationRequest, GenerationResult] = ContinuousBatcher(
            lambda take, deliver: self.engine.generate_continuously(take, deliver, batch_size=self._batch_size),
            batch_size=self._batch_size,
            wait_s=float(batch_wait_ms) / 1000,
            max_wait_s=float(batch_wait_max_ms) / 1000,
        )
        self._option_batcher: Batcher[tuple[str, tuple[str, ...]], OptionScores] = Batcher(
            lambda items: self.engine.score_options_batch(items, batch_size=self._batch_size),
            batch_size=self._batch_size,
            wait_s=float(batch_wait_ms) / 1000,
        )

    @property
    def engine(self) -> LocalEngine:
        """The loaded engine: for option scoring, activation capture and steering from in-process code.

        Its calls block; from async code use :meth:`call_engine`. The engine runs one call at a time, so calls
        made while an eval generates wait for the running batch.
        """
        if self._loaded is None:
            raise RuntimeError(f"characterlab/{self.model_name} was created for a model-info lookup; nothing is loaded")
        return self._loaded

    @property
    def frame(self) -> Literal["chat", "transcript", "raw"]:
        """The frame in use (``auto`` resolved)."""
        return self._frame

    @property
    def batch_sizes(self) -> list[int]:
        """How many requests each step of generation took in (a first batch, then arrivals joining it)."""
        return self._batcher.batch_sizes

    @property
    def option_batch_sizes(self) -> list[int]:
        """The size of every option-scoring batch run so far."""
        return self._option_batcher.batch_sizes

    async def call_engine(self, call: Callable[[LocalEngine], _T]) -> _T:
        """Run a blocking engine call in a worker thread, so the event loop (and other samples) keep running.

        Args:
            call: Takes the engine and returns a result, e.g. ``lambda engine: engine.score_options(c, o)``.
        """
        return await asyncio.to_thread(call, self.engine)

    async def score_options(self, context: str, options: Sequence[str]) -> OptionScores:
        """Score ``options`` as continuations of the raw text ``context``, batched with concurrent calls.

        See :meth:`LocalEngine.score_options_batch`; use :meth:`prompt_text` to turn messages into a context.

        Raises:
            CharacterlabError: an option adds no token to the context, or there are no options.
        """
        try:
            return await self._option_batcher.submit((context, tuple(options)))
        except ValueError as error:
            raise CharacterlabError(f"characterlab/{self.model_name}: {error}") from error

    def prompt_text(self, input: list[ChatMessage]) -> str:
        """The exact text the model reads for ``input`` in this provider's frame, ending where its reply begins."""
        messages = _frame_messages(input, self.model_name)
        if self._frame == "chat":
            return self.engine.chat_prompt_text([m.model_dump() for m in messages])
        if self._frame == "transcript":
            return render_transcript_from_messages(messages, char=self._assistant_name, user=self._user_name).prompt
        return "\n\n".join(message.content for message in messages)

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> tuple[ModelOutput, ModelCall]:
        """Generate the assistant's next message for a conversation (batched with concurrent calls)."""
        return await self._generate(input, tools, config, on_text=None)

    async def generate_streaming(
        self,
        input: list[ChatMessage],
        config: GenerateConfig,
        on_text: Callable[[str], None],
        *,
        steering: Sequence[SteeringVector] = (),
        activations: ActivationSpec | None = None,
    ) -> ModelOutput:
        """Generate as :meth:`generate` does, calling ``on_text`` with the reply so far as each token arrives.

        ``on_text`` runs in the event loop with the whole draft (not a delta), which never shows the beginning of a
        stop sequence that may yet complete, nor half of a character that spans two tokens. The returned output's
        text is the final reply, which may differ from the last draft where a frame tidies it (a transcript
        frame's reply is trimmed).

        Args:
            input: The conversation.
            config: Generation settings.
            on_text: Called with each new draft.
            steering: Vectors for this reply alone, on top of the provider's own ``steering`` (replies steered
                differently still share batches).
            activations: Hidden states to return with this reply (in ``output.metadata["activations"]``), in place
                of the provider's own ``activation_layers``.

        Raises:
            CharacterlabError: Impossible settings, such as a steering vector that does not fit the model.
        """
        output, _ = await self._generate(
            input, [], config, on_text=on_text, steering=tuple(steering), activations=activations
        )
        return output

    async def _generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        config: GenerateConfig,
        *,
        on_text: Callable[[str], None] | None,
        steering: tuple[SteeringVector, ...] = (),
        activations: ActivationSpec | None = None,
    ) -> tuple[ModelOutput, ModelCall]:
        if tools:
            raise CharacterlabError(
                f"characterlab/{self.model_name} does not support tool calling; run this task with an API model"
            )
        if config.num_choices not in (None, 1):
            raise CharacterlabError(
                f"characterlab/{self.model_name} generates one choice per call; got num_choices={config.num_choices}"
            )
        messages = _frame_messages(input, self.model_name)
        transcript = None
        if self._frame == "chat":
            prompt_ids = self.engine.chat_prompt_ids([m.model_dump() for m in messages])
        elif self._frame == "transcript":
            transcript = render_transcript_from_messages(messages, char=self._assistant_name, user=self._user_name)
            prompt_ids = self.engine.encode(transcript.prompt)
        else:
            prompt_ids = self.engine.encode("\n\n".join(message.content for message in messages))
        stops = (*(transcript.stop_sequences if transcript else ()), *(config.stop_seqs or ()))
        request = GenerationRequest(
            prompt_ids=tuple(prompt_ids),
            max_new_tokens=self._room_for(len(prompt_ids), config.max_tokens or _DEFAULT_MAX_TOKENS),
            temperature=config.temperature or 0.0,
            top_p=1.0 if config.top_p is None else config.top_p,
            top_k=config.top_k or 0,
            frequency_penalty=config.frequency_penalty or 0.0,
            presence_penalty=config.presence_penalty or 0.0,
            seed=config.seed,
            stop_sequences=tuple(dict.fromkeys(stops)),
            logprobs=bool(config.logprobs or config.top_logprobs),
            top_logprobs=config.top_logprobs or 0,
            activations=activations or self._activations,
            steering=steering,
        )
        try:
            # Checked here, alone: a bad request that reached the engine would fail every sample in its batch.
            self.engine.check_request(request)
        except ValueError as error:
            raise CharacterlabError(f"characterlab/{self.model_name}: {error}") from error
        if on_text is not None:
            draft = _Draft(self.engine, request.stop_sequences, on_text)
            loop = asyncio.get_running_loop()

            def on_token(token: int) -> None:
                loop.call_soon_threadsafe(draft.add, token)

            request = dataclasses.replace(request, on_token=on_token)
        started = time.monotonic()
        result = await self._batcher.submit(request)
        text = transcript.reply_from(result.text) if transcript else result.text
        output = self._output(result, text, request.activations)
        call = ModelCall.create(
            request={
                "frame": self._frame,
                # Special tokens kept: the log shows exactly what the model read, chat markers included.
                "prompt": self.engine.decode(list(prompt_ids), skip_special_tokens=False),
                **_request_fields(request),
            },
            response={"text": result.text, "finish_reason": result.finish_reason, "tokens": len(result.token_ids)},
            time=time.monotonic() - started,
        )
        return output, call

    def _room_for(self, prompt_tokens: int, max_new_tokens: int) -> int:
        """New tokens that fit in the model's context after the prompt (generation past it would crash)."""
        if self._context_length is None:
            return max_new_tokens
        if prompt_tokens >= self._context_length:
            raise CharacterlabError(
                f"characterlab/{self.model_name}: the prompt has {prompt_tokens} tokens, but the model reads at most "
                f"{self._context_length}; shorten the conversation or the character's prompt"
            )
        return min(max_new_tokens, self._context_length - prompt_tokens)

    def _output(self, result: GenerationResult, text: str, spec: ActivationSpec | None) -> ModelOutput:
        choice = ChatCompletionChoice(
            message=ChatMessageAssistant(content=text, model=self.model_name, source="generate"),
            stop_reason=result.finish_reason,
            logprobs=Logprobs(content=[_logprob(entry) for entry in result.logprobs]) if result.logprobs else None,
        )
        output_tokens = len(result.token_ids)
        metadata: dict[str, Any] = {}
        if spec is not None:
            metadata["activations"] = {
                "layers": list(spec.layers),
                "reduction": spec.reduction,
                # String keys: the log is JSON, so integer keys would come back as strings anyway.
                "values": {str(layer): value.float().tolist() for layer, value in result.activations.items()},
            }
        return ModelOutput(
            model=self.model_name,
            choices=[choice],
            usage=ModelUsage(
                input_tokens=result.prompt_tokens,
                output_tokens=output_tokens,
                total_tokens=result.prompt_tokens + output_tokens,
            ),
            metadata=metadata or None,
        )

    async def count_text_tokens(self, text: str) -> int:
        """Count tokens with the model's own tokenizer (Inspect's default downloads tiktoken, which fails offline)."""
        return self.engine.count_tokens(text)

    async def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` in the model's tokenizer, without special tokens."""
        return self.engine.encode(text, add_special_tokens=False)

    def max_tokens(self) -> int | None:
        """Default number of new tokens when the config sets none."""
        return _DEFAULT_MAX_TOKENS

    def max_connections(self) -> int:
        """As many concurrent calls as fit in one batch (used when adaptive concurrency is off)."""
        return self._batch_size

    def connection_key(self) -> str:
        """Each loaded model has its own batcher, so its own pool of connections."""
        return f"{self.model_name}#{id(self)}"

    def should_retry(self, ex: Exception) -> bool:
        """Never: a local model's errors (bad input, out of memory) are not transient."""
        return False


def local_api(model: Model | str) -> LocalModelAPI:
    """The local provider behind a model, for what only a local model can do (activations, steering).

    Args:
        model: A model from ``get_model("characterlab/...")``, or its name.

    Raises:
        CapabilityError: the model is not a ``characterlab/...`` model.
    """
    from inspect_ai.model import get_model

    resolved = get_model(model) if isinstance(model, str) else model
    if not isinstance(resolved.api, LocalModelAPI):
        raise CapabilityError(
            f"{resolved} is not a local model: activations and steering need one; use "
            "--model characterlab/<hub id or folder>"
        )
    return resolved.api


@contextmanager
def steered(model: Model | str, vectors: Sequence[SteeringVector]) -> Iterator[None]:
    """Steer a local model's generations while the block runs.

    Everything the model generates inside the block is steered, including calls made concurrently by other
    samples, on top of any ``-M steering`` file; Inspect's response cache does not know about steering, so leave
    ``cache`` off for steered calls.

    Args:
        model: A ``characterlab/...`` model (or its name).
        vectors: The steering vectors.

    Raises:
        CapabilityError: the model cannot be steered (not a local model).
        CharacterlabError: a vector does not fit the model (wrong size, no such layer).

    Examples:
        >>> with steered(model, [SteeringVector(layer=6, vector=v, alpha=4.0)]):  # doctest: +SKIP
        ...     output = await model.generate("How are you?")
    """
    try:
        context = local_api(model).engine.steering(vectors)
    except ValueError as error:
        raise CharacterlabError(f"cannot steer {model}: {error}") from error
    with context:
        yield


_MODEL_ARGS = (
    "activation_layers",
    "activation_reduction",
    "adapter",
    "assistant_name",
    "batch_size",
    "batch_wait_max_ms",
    "batch_wait_ms",
    "device",
    "dtype",
    "frame",
    "gguf_file",
    "steering",
    "steering_alpha",
    "steering_positions",
    "user_name",
)


def _positive_int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise CharacterlabError(f"{name} must be a positive whole number; got {value!r}")
    return value


def _activation_spec(layers: int | Sequence[int] | None, reduction: ActivationReduction) -> ActivationSpec | None:
    if reduction not in _REDUCTIONS_FOR_LOGS:
        raise CharacterlabError(
            f"activation_reduction must be one of {', '.join(_REDUCTIONS_FOR_LOGS)} (got {reduction!r}): outputs go "
            "into logs, so they carry one vector per layer; capture per-token states in-process with engine.capture"
        )
    if layers is None:
        return None
    chosen = [layers] if isinstance(layers, int) else list(layers)
    if not chosen or not all(isinstance(layer, int) and not isinstance(layer, bool) for layer in chosen):
        raise CharacterlabError(
            f"activation_layers must be a layer index or a list of them, e.g. [6, 12]; got {layers!r}"
        )
    return ActivationSpec(layers=tuple(chosen), reduction=reduction)


def _frame_messages(input: list[ChatMessage], model_name: str) -> list[FrameMessage]:
    messages: list[FrameMessage] = []
    for message in input:
        if message.role == "tool":
            raise CharacterlabError(f"characterlab/{model_name} does not support tool calling (got a tool message)")
        if not isinstance(message.content, str):
            other = [
                type(part).__name__ for part in message.content if not isinstance(part, ContentText | ContentReasoning)
            ]
            if other:
                raise CharacterlabError(
                    f"characterlab/{model_name} reads text only; got {', '.join(sorted(set(other)))}"
                )
        messages.append(FrameMessage(role=message.role, content=message.text))
    return messages


def _logprob(entry: TokenLogprob) -> Logprob:
    return Logprob(
        token=entry.token,
        logprob=entry.logprob,
        bytes=list(entry.token.encode("utf-8")),
        top_logprobs=[
            TopLogprob(token=token, logprob=logprob, bytes=list(token.encode("utf-8"))) for token, logprob in entry.top
        ]
        or None,
    )


def _request_fields(request: GenerationRequest) -> dict[str, Any]:
    return {
        "prompt_tokens": len(request.prompt_ids),
        "max_new_tokens": request.max_new_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "top_k": request.top_k,
        "seed": request.seed,
        "stop_sequences": list(request.stop_sequences),
        "logprobs": request.logprobs,
        "top_logprobs": request.top_logprobs,
        "activations": None
        if request.activations is None
        else {"layers": list(request.activations.layers), "reduction": request.activations.reduction},
        **(
            {
                "steering": [
                    {"layer": vector.layer, "alpha": vector.alpha, "positions": vector.positions}
                    for vector in request.steering
                ]
            }
            if request.steering
            else {}
        ),
    }


class _Draft:
    """A reply being streamed: gathers its tokens and shows the text that is certain so far."""

    def __init__(self, engine: LocalEngine, stops: Sequence[str], on_text: Callable[[str], None]) -> None:
        self._engine, self._stops, self._on_text = engine, tuple(stop for stop in stops if stop), on_text
        self._tokens: list[int] = []
        self._shown = ""
        self._stopped = False

    def add(self, token: int) -> None:
        if self._stopped:
            return
        self._tokens.append(token)
        text = self._engine.decode(self._tokens)
        found = [at for stop in self._stops if (at := text.find(stop)) >= 0]
        if found:
            text, self._stopped = text[: min(found)], True
        else:
            text = text[: len(text) - self._held_back(text)]
        # A token that ends inside a multi-byte character decodes to U+FFFD until the next token completes it.
        text = text.rstrip("\ufffd")
        if text != self._shown:
            self._shown = text
            self._on_text(text)

    def _held_back(self, text: str) -> int:
        """Length of the longest end of ``text`` that begins a stop sequence (it may be the start of one)."""
        return max(
            (size for stop in self._stops for size in range(1, len(stop)) if text.endswith(stop[:size])), default=0
        )
