"""Scripted models for the training tests: each answers from a function of the messages it gets, and records them."""

from __future__ import annotations

from collections.abc import Callable

from inspect_ai.model import ChatMessage, GenerateConfig, Model, ModelOutput, ModelUsage, get_model
from inspect_ai.tool import ToolChoice, ToolInfo

Reply = Callable[[list[ChatMessage]], str]


class Scripted:
    """A mockllm model whose reply is ``reply(messages)``; ``calls`` holds every conversation it was given."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.calls: list[list[ChatMessage]] = []
        self.model: Model = get_model("mockllm/model", custom_outputs=self._respond, memoize=False)

    def _respond(
        self, input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice, config: GenerateConfig
    ) -> ModelOutput:
        self.calls.append(list(input))
        output = ModelOutput.from_content(model="mockllm/model", content=self.reply(list(input)))
        # With usage set, mockllm does not count tokens with tiktoken (which downloads its vocabulary).
        output.usage = ModelUsage(input_tokens=10, output_tokens=3, total_tokens=13)
        return output
