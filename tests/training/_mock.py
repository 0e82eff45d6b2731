"""What the training tests share: a short character, and scripted models that answer from a function of the
messages they get and record them."""

from __future__ import annotations

from collections.abc import Callable

from inspect_ai.model import ChatMessage, GenerateConfig, Model, ModelOutput, ModelUsage, get_model
from inspect_ai.tool import ToolChoice, ToolInfo

from characterlab.characters import Character, Exchange, Trait

Reply = Callable[[list[ChatMessage]], str]

PIP = Character(
    name="Pip",
    summary="A cheerful sailor.",
    traits=[
        Trait(
            id="cheer",
            description="Pip is cheerful and says ahoy.",
            strength=0.9,
            examples=[Exchange(context="Hi", response="Ahoy! What a grand day!")],
            counterexamples=[Exchange(context="Hi", response="Hello. State your request.")],
            probes=["How are you?", "What do you think of rain?", "Tell me about the sea.", "Any plans today?"],
        ),
        Trait(id="brevity", description="Pip keeps it short.", strength=0.8, probes=["Explain tides.", "Your boat?"]),
    ],
)


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
