"""The local inference engine: batched generation, option scoring, activation capture and steering.

Generation runs its own decode loop rather than ``model.generate``, because the loop is where the engine needs
control: it tells the steering hooks which forward reads the prompt and which ones generate, it slices each row's
activations out of the batch without the padding, it gives every sampled row its own random generator (so a seeded
request is reproducible whatever shares its batch), and it drops finished rows from the batch and the KV cache so
they stop costing work.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

from characterlab.models._block_recorder import BlockRecorder, to_stored
from characterlab.models._decoder_blocks import decoder_blocks, resolve_layer
from characterlab.models._fair_lock import FairLock
from characterlab.models._loading import LoadedModel
from characterlab.models._sampling import apply_penalties, check_sampling, row_generator, sample_token
from characterlab.models._steering import RowSteering, SteeringDeltas, SteeringHooks, steering_deltas
from characterlab.models._types import (
    ActivationSpec,
    GenerationRequest,
    GenerationResult,
    OptionScores,
    SteeringVector,
    TokenLogprob,
)

__all__ = ["LocalEngine"]

_log = logging.getLogger(__name__)

_SCORING_LOGITS_BUDGET = 1 << 26
"""Most logits (option positions x vocabulary) one scoring forward may produce: 256 MiB in float32."""


@dataclass
class _Row:
    """One request's state while its batch is being generated."""

    request: GenerationRequest
    generator: torch.Generator | None
    layers: dict[int, int]
    """Requested layer index → resolved block index, for the activations this request asked for."""
    tokens: list[int] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish_reason: Literal["stop", "max_tokens"] | None = None
    stop_at: int | None = None
    """Where the first stop sequence begins in the decoded text, once one has appeared."""
    prompt_states: dict[int, torch.Tensor] = field(default_factory=dict)
    response_states: dict[int, list[torch.Tensor]] = field(default_factory=dict)
    flushed: bool = False
    """The last generated token has been fed through the model (to capture its activations)."""
    steer_prompt: dict[int, torch.Tensor] = field(default_factory=dict)
    steer_decode: dict[int, torch.Tensor] = field(default_factory=dict)
    """The request's own steering: what to add at which block while reading its prompt, and while generating."""

    @property
    def wants_response_states(self) -> bool:
        spec = self.request.activations
        return spec is not None and spec.reduction in ("mean_response", "all_tokens")

    @property
    def needs_forward(self) -> bool:
        """Still generating, or finished but its last token's activations are still to be read."""
        return self.finish_reason is None or (self.wants_response_states and not self.flushed)


@dataclass
class _Group:
    """Rows decoding together: one batch of the KV cache, one attention mask.

    Between steps every row in ``rows`` has chosen a token that is not yet fed, and ``mask`` is as wide as the
    cache is long.
    """

    started: list[_Row]
    """Every row the group began with, in request order."""
    rows: list[_Row]
    """The rows still in the batch tensors and the cache, in that order."""
    cache: DynamicCache
    mask: torch.Tensor
    next_position: torch.Tensor
    layers: frozenset[int]
    """Blocks whose outputs some row records."""
    finished: list[_Row] = field(default_factory=list)
    """Rows that left the batch and have not been handed back yet."""


@dataclass(frozen=True)
class _ScoringItem:
    """A context and its options, tokenized the way lm-evaluation-harness does."""

    options: tuple[str, ...]
    context_ids: tuple[int, ...]
    continuations: tuple[tuple[int, ...], ...]


class LocalEngine:
    """Runs a loaded model: generation, option log-likelihoods, hidden states and steering.

    One call runs at a time (a lock); the steering set by :meth:`steering` or :meth:`set_steering` applies to
    every call while it is active, whatever thread makes the call.

    Examples:
        >>> engine = LocalEngine(load_model("default"))  # doctest: +SKIP
        >>> ids = engine.chat_prompt_ids([{"role": "user", "content": "What is the capital of France?"}])
        >>> engine.generate([GenerationRequest(prompt_ids=tuple(ids), max_new_tokens=16)])[0].text  # doctest: +SKIP
        'The capital of France is Paris.'
    """

    def __init__(self, loaded: LoadedModel) -> None:
        """Wrap ``loaded``; the model is used as it is (eval mode, its device and dtype)."""
        self.loaded = loaded
        self._model: Any = loaded.model  # transformers' forward is untyped; results are narrowed where read
        self._tokenizer: Any = loaded.tokenizer
        self._blocks = decoder_blocks(loaded.model)
        self._device = loaded.device
        self._lock = FairLock()
        self._decoding = False
        self._persistent_steering: SteeringHooks | None = None
        self._eos_ids = self._find_eos_ids()
        self._sliding_window = _sliding_window(loaded.model.config.get_text_config())
        pad_id = self._tokenizer.pad_token_id
        self._pad_id = int(pad_id) if pad_id is not None else min(self._eos_ids, default=0)
        forward = self._base_model().forward
        # Computing logits at the last position only saves most of the LM head's work (262k columns for Gemma).
        self._has_logits_to_keep = "logits_to_keep" in inspect.signature(forward).parameters

    # --- tokens -----------------------------------------------------------------------------------------------

    def encode(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
        """Token ids of ``text``; with ``add_special_tokens`` the tokenizer adds what it adds (e.g. a BOS token)."""
        ids = self._tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"]
        return [int(token) for token in ids]

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = True) -> str:
        """The text of ``ids``; special tokens (BOS, EOS, chat markers) are left out unless asked for."""
        return str(self._tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens))

    def count_tokens(self, text: str) -> int:
        """How many tokens ``text`` takes, without any special tokens the tokenizer would add."""
        return len(self.encode(text, add_special_tokens=False))

    def chat_prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of ``messages`` rendered with the model's chat template, ending with the assistant's turn opening.

        Raises:
            ValueError: The model has no chat template (a base model: stage it with the transcript frame instead).
        """
        if not self.loaded.has_chat_template:
            raise ValueError(
                f"the model {self.loaded.name!r} has no chat template (it is a base model); render the conversation "
                "as a transcript and encode it instead"
            )
        encoded = self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True
        )
        return [int(token) for token in encoded["input_ids"]]

    def chat_prompt_text(self, messages: list[dict[str, str]]) -> str:
        """``messages`` rendered with the model's chat template as text (special markers included), ending with the
        assistant's turn opening: a context for :meth:`score_options`.

        Raises:
            ValueError: The model has no chat template.
        """
        return self.decode(self.chat_prompt_ids(messages), skip_special_tokens=False)

    # --- generation -------------------------------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerationRequest], *, batch_size: int = 16) -> list[GenerationResult]:
        """Continue every request's prompt, ``batch_size`` requests per batch, and return results in input order.

        Requests are grouped by how their prompts open and sorted by length before batching, so that a batch
        holds prompts that share their opening (read once) and have similar lengths (little padding); a prompt
        much longer than the rest of a batch starts a new one. Greedy decoding (``temperature == 0``) gives the
        same tokens batched or alone; a sampled request with a seed gives the same tokens whatever else shares
        its batch.

        A result's ``token_ids`` are all generated tokens, the end token included when one ended the text, and
        are not cut at a stop sequence (its ``text`` is). Log-probabilities are those of the model's own
        distribution, before temperature, top-k or top-p. Activations: ``mean_response`` averages the states at
        the positions of ``token_ids``, and ``all_tokens`` has one row per prompt token and per generated token.

        Args:
            requests: Prompts (token ids) and how to continue them.
            batch_size: Most requests run together in one batch.

        Returns:
            One result per request, in the order of ``requests``.

        Raises:
            ValueError: A request has impossible settings (empty prompt, negative temperature, bad layer index).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        for request in requests:
            self.check_request(request)
        results: dict[int, GenerationResult] = {}
        for batch in _generation_batches([request.prompt_ids for request in requests], batch_size):
            # The lock is taken per batch, so option scoring waiting its turn runs between batches.
            with self._lock, torch.no_grad():
                outputs = self._generate_batch([requests[index] for index in batch])
            results.update(zip(batch, outputs, strict=True))
        return [results[index] for index in range(len(requests))]

    def _generate_batch(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        group = self._prefill(requests)
        while group.rows:
            self._advance(group)
        return [self._result(row) for row in group.started]

    def generate_continuously(
        self,
        take: Callable[[int, bool], Sequence[GenerationRequest]],
        deliver: Callable[[GenerationRequest, GenerationResult | Exception], None],
        *,
        batch_size: int = 16,
    ) -> None:
        """Serve requests as they arrive, letting new ones join between decoding steps (continuous batching).

        A request that arrives while others are being generated does not wait for them to finish: at the next
        step its prompt is read and, where the caches allow, its rows join the running batch, so time to first
        token stays about one prompt read plus one step. The engine's lock is taken per step, so option scoring
        and other calls run between steps; steering set meanwhile applies from the next step on.

        Args:
            take: ``take(room, idle)`` returns up to ``room`` new requests. With ``idle`` true nothing is being
                generated, and it may wait for requests; an empty answer then ends the call. With ``idle``
                false it must answer at once (empty when nothing waits).
            deliver: Called once per request, from this thread, with its result or with the error that ended it.
                An error fails only the requests that were being generated together.
            batch_size: Most requests generated at once; more wait in ``take`` until rows finish.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        groups: list[_Group] = []
        while True:
            room = batch_size - sum(len(group.rows) for group in groups)
            arrived = list(take(room, not groups)) if room > 0 else []
            if not arrived and not groups:
                return
            valid = []
            for request in arrived:
                try:
                    self.check_request(request)
                except ValueError as error:
                    deliver(request, error)
                else:
                    valid.append(request)
            # Arrivals are read in batches of alike openings and lengths, as generate() reads them; the batches
            # then decode as one where their caches line up.
            for batch in _generation_batches([request.prompt_ids for request in valid], batch_size):
                try:
                    with self._lock, torch.no_grad():
                        group = self._prefill([valid[index] for index in batch])
                except Exception as error:
                    for index in batch:
                        deliver(valid[index], error)
                    continue
                self._deliver_finished(group, deliver)
                if group.rows and not any(self._merge(running, group, batch_size) for running in groups):
                    groups.append(group)
            for group in groups:
                try:
                    with self._lock, torch.no_grad():
                        self._advance(group)
                except Exception as error:
                    for row in group.rows:
                        deliver(row.request, error)
                    group.rows = []
                    continue
                self._deliver_finished(group, deliver)
            groups = [group for group in groups if group.rows]

    def check_request(self, request: GenerationRequest) -> None:
        """Check a request alone, so that impossible settings never reach (and fail) a batch it would share.

        Raises:
            ValueError: A negative temperature, an empty prompt, a bad layer index, a steering vector of the
                wrong shape, and the like.
        """
        check_sampling(request)
        if request.activations is not None:
            self._resolve_layers(request.activations)
        if request.steering:
            self._row_deltas(request)

    def _row_deltas(self, request: GenerationRequest) -> SteeringDeltas:
        return steering_deltas(
            request.steering, num_blocks=len(self._blocks), hidden_size=self.loaded.hidden_size, device=self._device
        )

    def _row_steering(self, rows: Sequence[_Row], *, decoding: bool) -> contextlib.AbstractContextManager[Any]:
        """Each row's own steering for one forward; nothing to install when no row has any."""
        deltas = [row.steer_decode if decoding else row.steer_prompt for row in rows]
        if not any(deltas):
            return contextlib.nullcontext()
        return RowSteering(self._blocks, deltas, dtype=self.loaded.dtype)

    def _deliver_finished(
        self, group: _Group, deliver: Callable[[GenerationRequest, GenerationResult | Exception], None]
    ) -> None:
        finished, group.finished = group.finished, []
        for row in finished:
            try:
                result: GenerationResult | Exception = self._result(row)
            except Exception as error:  # the row's own failure goes to its caller alone
                result = error
            deliver(row.request, result)

    def _prefill(self, requests: Sequence[GenerationRequest]) -> _Group:
        """Read the prompts of ``requests`` as one left-padded batch and choose each row's first token."""
        rows = [self._start_row(request) for request in requests]
        layers = frozenset(layer for row in rows for layer in row.layers.values())
        prompts = [request.prompt_ids for request in requests]
        # Prompts that open alike (a character's frame, asked many questions) read their shared opening once;
        # prompt activations, and steering of a row's own, need every row's own pass, so they turn this off.
        own_steering = any(row.steer_prompt or row.steer_decode for row in rows)
        shared = 0 if layers or own_steering else _shared_prefix_length(prompts)
        longest_reply = max(request.max_new_tokens for request in requests)
        if shared and not self._may_share(shared, [len(prompt) - shared for prompt in prompts], longest_reply):
            shared = 0
        ids, mask = self._left_pad([prompt[shared:] for prompt in prompts])
        width = ids.shape[1]
        # Steering first: the recorder then sees what each block hands on, steered, as with the engine's steering.
        with self._row_steering(rows, decoding=False), BlockRecorder(self._blocks, layers) as recorder:
            if shared:
                logits, cache = self._prefill_shared(prompts[0][:shared], ids, mask)
                mask = torch.cat([mask.new_ones((len(rows), shared)), mask], dim=1)
            else:
                logits, cache = self._forward(ids, mask, self._positions(mask), None, decoding=False)
            for index, row in enumerate(rows):
                self._record_prompt(row, recorder.outputs, index, width)
        group = _Group(
            started=rows,
            rows=rows,
            cache=cache,
            mask=mask,
            next_position=mask.sum(dim=-1, keepdim=True),
            layers=layers,
        )
        self._choose_tokens(rows, logits[:, -1, :])
        self._drop_finished(group)
        return group

    def _advance(self, group: _Group) -> None:
        """Feed every row's latest token, record its activations, choose the next ones; finished rows leave."""
        step_ids = torch.tensor([[row.tokens[-1]] for row in group.rows], device=self._device)
        group.mask = torch.cat([group.mask, group.mask.new_ones((len(group.rows), 1))], dim=1)
        with self._row_steering(group.rows, decoding=True), BlockRecorder(self._blocks, group.layers) as recorder:
            logits, group.cache = self._forward(step_ids, group.mask, group.next_position, group.cache, decoding=True)
            for index, row in enumerate(group.rows):
                self._record_step(row, recorder.outputs, index)
        group.next_position = group.next_position + 1
        self._choose_tokens(group.rows, logits[:, -1, :])
        self._drop_finished(group)

    def _drop_finished(self, group: _Group) -> None:
        """Take rows that need no more forward passes out of the batch and the cache, so they stop costing work."""
        keep = [index for index, row in enumerate(group.rows) if row.needs_forward]
        if len(keep) == len(group.rows):
            return
        group.finished += [row for row in group.rows if not row.needs_forward]
        group.rows = [group.rows[index] for index in keep]
        if keep:
            selected = torch.tensor(keep, device=self._device)
            group.cache.batch_select_indices(selected)
            group.mask, group.next_position = group.mask[selected], group.next_position[selected]

    def _merge(self, running: _Group, joining: _Group, batch_size: int) -> bool:
        """Append ``joining``'s rows to ``running`` when their caches can be lined up; False leaves both alone.

        The shorter cache is padded on the left with masked positions, which is what it would hold had the two
        been one left-padded batch from the start. Caches past a sliding window (trimmed to it) and cache kinds
        other than the plain dynamic ones are not joined; they keep stepping as separate batches.
        """
        if len(running.rows) + len(joining.rows) > batch_size or running.layers != joining.layers:
            return False
        width = max(running.mask.shape[1], joining.mask.shape[1])
        real = int(running.mask.sum()) + int(joining.mask.sum())
        if real < (1 - _MAX_JOINED_PADDING_SHARE) * width * (len(running.rows) + len(joining.rows)):
            return False
        pairs = list(zip(_cache_layers(running.cache), _cache_layers(joining.cache), strict=True))
        if not pairs or not all(
            _joinable(layer, group.mask.shape[1])
            for pair in pairs
            for layer, group in zip(pair, (running, joining), strict=True)
        ):
            return False
        for mine, theirs in pairs:
            (my_keys, my_values), (their_keys, their_values) = _states(mine), _states(theirs)
            mine.keys = torch.cat([_pad_left(my_keys, width, -2), _pad_left(their_keys, width, -2)], dim=0)
            mine.values = torch.cat([_pad_left(my_values, width, -2), _pad_left(their_values, width, -2)], dim=0)
            if isinstance(mine, DynamicSlidingWindowLayer):
                mine.cumulative_length = width
        running.mask = torch.cat([_pad_left(running.mask, width, -1), _pad_left(joining.mask, width, -1)], dim=0)
        running.next_position = torch.cat([running.next_position, joining.next_position], dim=0)
        running.rows = running.rows + joining.rows
        joining.rows = []
        return True

    def _prefill_shared(
        self, prefix: Sequence[int], ids: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, DynamicCache]:
        """Read a prefix all rows share once, copy its cache to every row, then read each row's own (left-padded)
        rest. The padding then sits between prefix and rest, masked out; positions continue from the prefix."""
        prefix_ids = torch.tensor([list(prefix)], dtype=torch.long, device=self._device)
        prefix_mask = torch.ones_like(prefix_ids)
        _, cache = self._forward(prefix_ids, prefix_mask, self._positions(prefix_mask), None, decoding=False)
        cache.batch_repeat_interleave(ids.shape[0])
        full_mask = torch.cat([mask.new_ones((ids.shape[0], len(prefix))), mask], dim=1)
        positions = len(prefix) + self._positions(mask)
        return self._forward(ids, full_mask, positions, cache, decoding=False)

    def _may_share(self, shared: int, rests: Sequence[int], after: int) -> bool:
        """Whether reading a shared opening once gives exactly what reading each prompt alone gives.

        The padding then sits between the opening and each row's rest, and a sliding-window layer counts it
        inside its window: a row would see fewer real tokens than alone. That only matters once some window
        reaches back past the padding, so sharing is kept when no row is padded or everything (opening, the
        longest rest, and the ``after`` tokens still to come) fits in the window.
        """
        if self._sliding_window is None or len(set(rests)) <= 1:
            return True
        return shared + max(rests) + after <= self._sliding_window

    def _start_row(self, request: GenerationRequest) -> _Row:
        generator = None
        if request.temperature > 0:
            generator = row_generator(request.seed, request.prompt_ids, self._device)
        layers = self._resolve_layers(request.activations) if request.activations is not None else {}
        steer_prompt, steer_decode = self._row_deltas(request) if request.steering else ({}, {})
        return _Row(
            request=request,
            generator=generator,
            layers=layers,
            steer_prompt=steer_prompt,
            steer_decode=steer_decode,
        )

    def _choose_tokens(self, rows: Sequence[_Row], last_logits: torch.Tensor) -> None:
        """Pick each unfinished row's next token from its logits at the last position, and check for its end."""
        scores = last_logits.float()
        active = [row.finish_reason is None for row in rows]
        wants_logprobs = any(
            is_active and (row.request.logprobs or row.request.top_logprobs > 0)
            for row, is_active in zip(rows, active, strict=True)
        )
        logprobs = torch.log_softmax(scores, dim=-1) if wants_logprobs else None
        penalised = [
            index
            for index, row in enumerate(rows)
            if active[index] and (row.request.frequency_penalty != 0 or row.request.presence_penalty != 0)
        ]
        if penalised:
            scores = scores.clone()  # log-probabilities above stay those of the model's own distribution
            for index in penalised:
                scores[index] = apply_penalties(scores[index], rows[index].request, rows[index].tokens)
        greedy: list[int] = scores.argmax(dim=-1).tolist()
        for index, row in enumerate(rows):
            if not active[index]:
                continue
            request = row.request
            generator = row.generator
            token = greedy[index] if generator is None else sample_token(scores[index], request, generator)
            row.tokens.append(token)
            if logprobs is not None and (request.logprobs or request.top_logprobs > 0):
                row.logprobs.append(self._token_logprob(token, logprobs[index], request.top_logprobs))
            self._check_finished(row, token)
            if request.on_token is not None:
                request.on_token(token)

    def _check_finished(self, row: _Row, token: int) -> None:
        request = row.request
        if token in self._eos_ids:
            row.finish_reason = "stop"
            return
        if request.stop_sequences:
            # Only the tail can hold a stop sequence that was not there a step ago; decode just that much.
            longest = max(len(stop) for stop in request.stop_sequences)
            tail = self.decode(row.tokens[-(4 * longest + 4) :])
            if any(stop in tail for stop in request.stop_sequences):
                text = self.decode(row.tokens)
                found = [at for stop in request.stop_sequences if (at := text.find(stop)) >= 0]
                if found:
                    row.stop_at = min(found)
                    row.finish_reason = "stop"
                    return
        if len(row.tokens) >= request.max_new_tokens:
            row.finish_reason = "max_tokens"

    def _token_logprob(self, token: int, logprobs: torch.Tensor, top: int) -> TokenLogprob:
        alternatives: tuple[tuple[str, float], ...] = ()
        if top > 0:
            values, indices = torch.topk(logprobs, min(top, logprobs.shape[-1]))
            alternatives = tuple(
                (self.decode([int(index)], skip_special_tokens=False), float(value))
                for value, index in zip(values.tolist(), indices.tolist(), strict=True)
            )
        return TokenLogprob(
            token=self.decode([token], skip_special_tokens=False),
            token_id=token,
            logprob=float(logprobs[token]),
            top=alternatives,
        )

    def _record_prompt(self, row: _Row, outputs: dict[int, torch.Tensor], index: int, width: int) -> None:
        spec = row.request.activations
        if spec is None:
            return
        length = len(row.request.prompt_ids)
        for layer in set(row.layers.values()):
            hidden = outputs[layer][index]
            if spec.reduction == "last_prompt_token":
                row.prompt_states[layer] = to_stored(hidden[-1])
            elif spec.reduction == "all_tokens":
                row.prompt_states[layer] = to_stored(hidden[width - length :])  # left padding sits before

    def _record_step(self, row: _Row, outputs: dict[int, torch.Tensor], index: int) -> None:
        if row.wants_response_states:
            for layer in set(row.layers.values()):
                # Kept on the model's device until the row is done: one transfer per row, not one per step.
                row.response_states.setdefault(layer, []).append(outputs[layer][index, -1])
        if row.finish_reason is not None:
            row.flushed = True

    def _result(self, row: _Row) -> GenerationResult:
        text = self.decode(row.tokens)
        if row.stop_at is not None:
            text = text[: row.stop_at]
        activations: dict[int, torch.Tensor] = {}
        spec = row.request.activations
        reduction = spec.reduction if spec is not None else None
        for requested, layer in row.layers.items():
            if reduction == "last_prompt_token":
                activations[requested] = row.prompt_states[layer]
                continue
            response = to_stored(torch.stack(row.response_states[layer]))
            if reduction == "mean_response":
                activations[requested] = response.mean(dim=0)
            else:
                activations[requested] = torch.cat([row.prompt_states[layer], response])
        if row.finish_reason is None:
            raise RuntimeError("a row left the decode loop unfinished")
        return GenerationResult(
            text=text,
            token_ids=tuple(row.tokens),
            finish_reason=row.finish_reason,
            prompt_tokens=len(row.request.prompt_ids),
            logprobs=tuple(row.logprobs),
            activations=activations,
        )

    # --- option scoring ---------------------------------------------------------------------------------------

    def score_options(self, context: str, options: Sequence[str]) -> OptionScores:
        """Log-likelihood of each option as the continuation of ``context``; see :meth:`score_options_batch`."""
        return self.score_options_batch([(context, options)])[0]

    def score_options_batch(
        self, items: Sequence[tuple[str, Sequence[str]]], *, batch_size: int = 16
    ) -> list[OptionScores]:
        """Score the options of many items: the sum of the log-probabilities of each option's tokens.

        Tokenization follows lm-evaluation-harness: whitespace at the end of the context moves to the start of
        every option (``"Answer: "`` + ``"yes"`` is scored as ``"Answer:"`` + ``" yes"``), the context and each
        option are encoded together, and the option's tokens are those after the context's own tokens. The
        context runs through the model once per item; its KV cache is then shared by all the item's options.

        Steering vectors with ``positions="generated"`` act on the option tokens, not on the context (the
        options are the response being weighed, as generated tokens are in :meth:`generate`).

        Args:
            items: ``(context, options)`` pairs; every item needs at least one option.
            batch_size: Most items whose contexts run together in one forward.

        Returns:
            One :class:`OptionScores` per item, in input order.

        Raises:
            ValueError: An item has no options, or an option adds no token to its context.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        prepared = [self._prepare_item(context, options) for context, options in items]
        results: dict[int, OptionScores] = {}
        # Alike contexts (one character's frame, many questions) share a batch, so their opening is read once.
        for alike in _generation_batches([item.context_ids for item in prepared], batch_size):
            for batch in self._scoring_batches(alike, prepared, batch_size):
                with self._lock, torch.no_grad():
                    scores = self._score_batch([prepared[index] for index in batch])
                results.update(zip(batch, scores, strict=True))
        return [results[index] for index in range(len(prepared))]

    def _prepare_item(self, context: str, options: Sequence[str]) -> _ScoringItem:
        if not options:
            raise ValueError(f"no options to score after the context {context[-60:]!r}")
        stripped = context.rstrip()
        moved = context[len(stripped) :]
        texts = tuple(moved + option for option in options)
        # A context that already opens with the BOS marker (a rendered chat template) must not get a second one.
        bos = self._tokenizer.bos_token
        specials = not (isinstance(bos, str) and bos and stripped.startswith(bos))
        context_ids = self.encode(stripped, add_special_tokens=specials)
        continuations = []
        for text in texts:
            # Encoding the whole lets the tokenizer merge across the boundary as it would in running text.
            continuation = self.encode(stripped + text, add_special_tokens=specials)[len(context_ids) :]
            if not continuation:
                raise ValueError(f"the option {text!r} adds no tokens to the context {stripped[-60:]!r}")
            continuations.append(tuple(continuation))
        if not context_ids:
            # An empty context without a BOS token: condition on the start/end token, as lm-evaluation-harness does.
            bos = self._tokenizer.bos_token_id
            context_ids = [int(bos) if bos is not None else min(self._eos_ids, default=self._pad_id)]
        return _ScoringItem(options=texts, context_ids=tuple(context_ids), continuations=tuple(continuations))

    def _scoring_batches(
        self, order: Sequence[int], items: Sequence[_ScoringItem], batch_size: int
    ) -> Iterator[list[int]]:
        """Group items (in ``order``) so a batch has at most ``batch_size`` items and a bounded logits tensor."""
        vocab = int(self._model.config.get_text_config().vocab_size)
        batch: list[int] = []
        rows = longest = 0
        for index in order:
            item = items[index]
            item_longest = max(len(continuation) for continuation in item.continuations)
            new_rows, new_longest = rows + len(item.continuations), max(longest, item_longest)
            if batch and (len(batch) >= batch_size or new_rows * new_longest * vocab > _SCORING_LOGITS_BUDGET):
                yield batch
                batch, new_rows, new_longest = [], len(item.continuations), item_longest
            batch.append(index)
            rows, longest = new_rows, new_longest
        if batch:
            yield batch

    def _score_batch(self, items: Sequence[_ScoringItem]) -> list[OptionScores]:
        contexts = [item.context_ids for item in items]
        shared = _shared_prefix_length(contexts)
        longest_option = max(len(continuation) for item in items for continuation in item.continuations)
        if shared and not self._may_share(shared, [len(context) - shared for context in contexts], longest_option):
            shared = 0
        ids, mask = self._left_pad([context[shared:] for context in contexts])
        if shared:
            logits, cache = self._prefill_shared(contexts[0][:shared], ids, mask)
            mask = torch.cat([mask.new_ones((len(items), shared)), mask], dim=1)
        else:
            logits, cache = self._forward(ids, mask, self._positions(mask), None, decoding=False)
        first_logits = logits[:, -1, :].float()
        peaks = first_logits.abs().amax(dim=-1)
        if not bool((peaks <= _MAX_PLAUSIBLE_LOGIT).all()):  # NaN fails this test too
            return self._rescore_one_by_one(items, float(peaks.nan_to_num(math.inf).max()))
        first_logprobs = first_logits - torch.logsumexp(first_logits, dim=-1, keepdim=True)
        owners = [index for index, item in enumerate(items) for _ in item.continuations]
        continuations = [continuation for item in items for continuation in item.continuations]
        owner_index = torch.tensor(owners, device=self._device)
        firsts = torch.tensor([continuation[0] for continuation in continuations], device=self._device)
        totals = first_logprobs[owner_index, firsts]
        rest = max(len(continuation) for continuation in continuations) - 1
        if rest > 0:
            # Every option row starts from its item's context cache: copy the cache rows, then feed the option
            # tokens (right-padded; padding after the real tokens never affects them under a causal mask).
            cache.batch_select_indices(owner_index)
            context_mask = mask[owner_index]
            option_ids = torch.full((len(continuations), rest), self._pad_id, dtype=torch.long)
            targets = torch.zeros((len(continuations), rest), dtype=torch.long)
            option_mask = torch.zeros((len(continuations), rest), dtype=torch.long)
            for row, continuation in enumerate(continuations):
                count = len(continuation) - 1
                option_ids[row, :count] = torch.tensor(continuation[:-1])
                targets[row, :count] = torch.tensor(continuation[1:])
                option_mask[row, :count] = 1
            option_mask = option_mask.to(self._device)
            positions = context_mask.sum(dim=-1, keepdim=True) + torch.arange(rest, device=self._device)
            logits, _ = self._forward(
                option_ids.to(self._device),
                torch.cat([context_mask, option_mask], dim=1),
                positions,
                cache,
                decoding=True,
                last_only=False,
            )
            option_logits = logits.float()
            picked = option_logits.gather(-1, targets.to(self._device).unsqueeze(-1)).squeeze(-1)
            token_logprobs = picked - torch.logsumexp(option_logits, dim=-1)
            totals = totals + (token_logprobs * option_mask).sum(dim=-1)
        sums: list[float] = totals.tolist()
        results = []
        offset = 0
        for item in items:
            count = len(item.continuations)
            logprobs = tuple(sums[offset : offset + count])
            offset += count
            results.append(
                OptionScores(
                    options=item.options,
                    logprobs=logprobs,
                    token_counts=tuple(len(continuation) for continuation in item.continuations),
                    probabilities=_softmax(logprobs),
                )
            )
        return results

    def _rescore_one_by_one(self, items: Sequence[_ScoringItem], peak: float) -> list[OptionScores]:
        """Score a batch's items alone after its forward pass gave impossible logits.

        Seen only with Gemma 3 on CPU (sdpa attention), in long processes and never when the same batch is run
        again: a batch's logits came out in the 1e9 to 1e31 range, so that " Yes" and " No" got the same
        log-probability. A single item has no padding and no other rows, so it is read as in a clean run.
        """
        if len(items) == 1:
            raise RuntimeError(
                f"{self.loaded.source}: the model gave an impossible logit ({peak:.3g}) for the context "
                f"{self.decode(items[0].context_ids)[-80:]!r}; its scores would be wrong"
            )
        _log.warning(
            "%s: a scoring batch of %d gave an impossible logit (%.3g); scoring its items one by one",
            self.loaded.source,
            len(items),
            peak,
        )
        return [self._score_batch([item])[0] for item in items]

    # --- activations ------------------------------------------------------------------------------------------

    def capture(
        self, prompts: Sequence[Sequence[int]], spec: ActivationSpec, *, batch_size: int = 16
    ) -> list[dict[int, torch.Tensor]]:
        """Hidden states of the chosen blocks while reading each prompt (a forward pass, no generation).

        Args:
            prompts: Token ids of each prompt.
            spec: Which blocks, and ``last_prompt_token`` (shape ``(hidden,)``) or ``all_tokens``
                (shape ``(prompt_tokens, hidden)``).
            batch_size: Most prompts per forward.

        Returns:
            Per prompt, in input order: requested layer index (as given in ``spec``) → float32 CPU tensor.

        Raises:
            ValueError: ``mean_response`` (there is no response here), an empty prompt, or a bad layer index.
        """
        if spec.reduction == "mean_response":
            raise ValueError(
                "'mean_response' needs a response; capture reads prompts only. Use generate() with "
                "GenerationRequest.activations, or 'last_prompt_token' / 'all_tokens'"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if any(not prompt for prompt in prompts):
            raise ValueError("every prompt needs at least one token")
        layers = self._resolve_layers(spec)
        order = sorted(range(len(prompts)), key=lambda index: len(prompts[index]))
        results: dict[int, dict[int, torch.Tensor]] = {}
        with self._lock, torch.no_grad(), BlockRecorder(self._blocks, layers.values()) as recorder:
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                ids, mask = self._left_pad([prompts[index] for index in batch])
                self._forward(ids, mask, self._positions(mask), None, decoding=False, use_cache=False)
                width = ids.shape[1]
                for row, index in enumerate(batch):
                    length = len(prompts[index])
                    captured = {}
                    for requested, layer in layers.items():
                        hidden = recorder.outputs[layer][row]
                        kept = hidden[-1] if spec.reduction == "last_prompt_token" else hidden[width - length :]
                        captured[requested] = to_stored(kept)
                    results[index] = captured
        return [results[index] for index in range(len(prompts))]

    # --- steering ---------------------------------------------------------------------------------------------

    def steering(self, vectors: Sequence[SteeringVector]) -> contextlib.AbstractContextManager[None]:
        """Steer every call made while the returned context is active; the hooks come off on exit, also on errors.

        Args:
            vectors: What to add where; several vectors, at the same or different blocks, add up.

        Returns:
            A context manager.

        Raises:
            ValueError: A vector has the wrong shape or a bad layer index (raised here, before entering).

        Examples:
            >>> with engine.steering([SteeringVector(layer=3, vector=v, alpha=4.0)]):  # doctest: +SKIP
            ...     results = engine.generate(requests)
        """
        return self._steered(self._steering_hooks(vectors))

    def set_steering(self, vectors: Sequence[SteeringVector]) -> None:
        """Steer every later call until :meth:`clear_steering`, replacing what an earlier ``set_steering`` set."""
        hooks = self._steering_hooks(vectors)
        with self._lock:
            if self._persistent_steering is not None:
                self._persistent_steering.remove()
            hooks.install()
            self._persistent_steering = hooks

    def clear_steering(self) -> None:
        """Remove the steering set by :meth:`set_steering` (contexts from :meth:`steering` are left alone)."""
        with self._lock:
            if self._persistent_steering is not None:
                self._persistent_steering.remove()
                self._persistent_steering = None

    @contextlib.contextmanager
    def _steered(self, hooks: SteeringHooks) -> Iterator[None]:
        # Installing under the lock means hooks never appear or vanish in the middle of a batch.
        with self._lock:
            hooks.install()
        try:
            yield
        finally:
            with self._lock:
                hooks.remove()

    def _steering_hooks(self, vectors: Sequence[SteeringVector]) -> SteeringHooks:
        return SteeringHooks(
            self._blocks,
            vectors,
            hidden_size=self.loaded.hidden_size,
            dtype=self.loaded.dtype,
            device=self._device,
            is_decoding=lambda: self._decoding,
        )

    # --- the model --------------------------------------------------------------------------------------------

    def _forward(
        self,
        ids: torch.Tensor,
        mask: torch.Tensor,
        positions: torch.Tensor,
        cache: DynamicCache | None,
        *,
        decoding: bool,
        last_only: bool = True,
        use_cache: bool = True,
    ) -> tuple[torch.Tensor, DynamicCache]:
        """One forward pass; ``decoding`` tells the steering hooks whether these positions are being generated."""
        extra: dict[str, Any] = {"logits_to_keep": 1} if last_only and self._has_logits_to_keep else {}
        self._decoding = decoding
        try:
            output = self._model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=positions,
                past_key_values=cache,
                use_cache=use_cache,
                **extra,
            )
        finally:
            self._decoding = False
        logits = output.logits
        if not isinstance(logits, torch.Tensor):
            raise TypeError(f"{type(self._model).__name__} returned no logits")
        return logits, output.past_key_values

    def _left_pad(self, sequences: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and attention mask, padded on the left so every row's last token is in the last column."""
        width = max(len(sequence) for sequence in sequences)
        ids = torch.full((len(sequences), width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, sequence in enumerate(sequences):
            ids[row, width - len(sequence) :] = torch.tensor(list(sequence), dtype=torch.long)
            mask[row, width - len(sequence) :] = 1
        return ids.to(self._device), mask.to(self._device)

    @staticmethod
    def _positions(mask: torch.Tensor) -> torch.Tensor:
        """Position ids that start at 0 at each row's first real token, whatever padding precedes it."""
        return (mask.cumsum(dim=-1) - 1).clamp(min=0)

    def _resolve_layers(self, spec: ActivationSpec) -> dict[int, int]:
        if not spec.layers:
            raise ValueError("an activation spec needs at least one layer")
        return {layer: resolve_layer(layer, len(self._blocks)) for layer in spec.layers}

    def _base_model(self) -> Any:
        get_base_model = getattr(self._model, "get_base_model", None)
        return get_base_model() if callable(get_base_model) else self._model

    def _find_eos_ids(self) -> frozenset[int]:
        ids: set[int] = set()
        generation_config = getattr(self._model, "generation_config", None)
        for source in (self._tokenizer.eos_token_id, getattr(generation_config, "eos_token_id", None)):
            if isinstance(source, int):
                ids.add(source)
            elif isinstance(source, list | tuple):
                ids.update(int(token) for token in source)
        return frozenset(ids)


_MAX_PLAUSIBLE_LOGIT = 1e4
"""Larger logits mean a broken forward pass, not a confident model: trained models' logits stay within about 100
(Gemma 3 and SmolLM2 within 40), and a random tiny model's within a few units."""

_MIN_SHARED_PREFIX = 64
"""Shorter shared openings are read with the rest: the extra forward pass would cost more than it saves."""


_MAX_PADDING_SHARE = 0.25
"""A batch closes before padding would fill more than this share of it: a short prompt batched with a long one
costs as much as the long one."""


_MAX_JOINED_PADDING_SHARE = 0.5
"""Arrivals join a running batch only while padding stays below this share of the joined cache."""


def _sliding_window(config: Any) -> int | None:
    """The attention window of a model whose layers (some or all) attend to a sliding window, else None."""
    window = getattr(config, "sliding_window", None)
    if not isinstance(window, int) or window <= 0:
        return None
    layer_types = getattr(config, "layer_types", None)
    if isinstance(layer_types, list | tuple):
        return window if any("sliding" in str(kind) for kind in layer_types) else None
    # Older configs without layer types (Qwen2 and kin) carry a window they only use when told to.
    return window if getattr(config, "use_sliding_window", True) else None


def _cache_layers(cache: DynamicCache) -> list[DynamicLayer]:
    layers = getattr(cache, "layers", None)
    return list(layers) if isinstance(layers, list) else []


def _joinable(layer: DynamicLayer, length: int) -> bool:
    """Whether a cache layer holds exactly its ``length`` positions, so that padding it on the left is exact."""
    if type(layer) not in (DynamicLayer, DynamicSlidingWindowLayer) or not layer.is_initialized:
        return False
    if layer.keys is None or layer.values is None or layer.keys.shape[-2] != length:
        return False
    if isinstance(layer, DynamicSlidingWindowLayer):
        # Past its window the layer keeps only its tail (the check above fails then): only whole caches join.
        return layer.cumulative_length == length
    return True


def _states(layer: DynamicLayer) -> tuple[torch.Tensor, torch.Tensor]:
    if layer.keys is None or layer.values is None:
        raise RuntimeError("a cache layer to be joined holds no states")
    return layer.keys, layer.values


def _pad_left(tensor: torch.Tensor, width: int, dim: int) -> torch.Tensor:
    """``tensor`` with zeros added before its entries along ``dim`` until that dimension is ``width`` long."""
    missing = width - tensor.shape[dim]
    if missing == 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)


def _generation_batches(prompts: Sequence[Sequence[int]], batch_size: int) -> list[list[int]]:
    """Indices of ``prompts`` in batches of at most ``batch_size``, alike openings together, little padding."""
    order = sorted(range(len(prompts)), key=lambda i: (tuple(prompts[i][:_MIN_SHARED_PREFIX]), len(prompts[i])))
    batches: list[list[int]] = []
    batch: list[int] = []
    tokens = 0
    for index in order:
        length = len(prompts[index])
        longest = max([length, *(len(prompts[i]) for i in batch)])
        padded = (len(batch) + 1) * longest
        if batch and (len(batch) >= batch_size or padded - tokens - length > _MAX_PADDING_SHARE * padded):
            batches.append(batch)
            batch, tokens = [], 0
        batch.append(index)
        tokens += length
    if batch:
        batches.append(batch)
    return batches


def _shared_prefix_length(prompts: Sequence[Sequence[int]]) -> int:
    """Tokens every prompt opens with, leaving each at least one token of its own (0 when not worth sharing)."""
    if len(prompts) < 2:
        return 0
    first = prompts[0]
    limit = min(len(prompt) for prompt in prompts) - 1
    length = 0
    while length < limit and all(prompt[length] == first[length] for prompt in prompts):
        length += 1
    return length if length >= _MIN_SHARED_PREFIX else 0


def _softmax(logprobs: Sequence[float]) -> tuple[float, ...]:
    """Normalised probabilities from log-likelihoods, computed stably in double precision."""
    top = max(logprobs)
    weights = [math.exp(value - top) for value in logprobs]
    total = sum(weights)
    return tuple(weight / total for weight in weights)
