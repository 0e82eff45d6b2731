"""The capability table and the check a study runs before its first call."""

from __future__ import annotations

import pytest

# Private to Inspect, but the only list of the providers it registers; this test keeps the table complete.
from inspect_ai._util.registry import registry_find, registry_unqualified_name
from inspect_ai.model import ModelOutput, get_model

from characterlab.errors import CapabilityError, CharacterlabError
from characterlab.models import PROVIDER_CAPABILITIES, Capabilities, capabilities_of, require


def test_local_provider_can_do_everything() -> None:
    assert capabilities_of("characterlab/default") == Capabilities(
        generate=True, option_logprobs="exact", activations=True, steering=True, adapters=True
    )


@pytest.mark.parametrize(
    ("model", "option_logprobs"),
    [
        ("openai/gpt-4o-mini", "first_token"),
        ("vllm/meta-llama/Llama-3.1-8B-Instruct", "first_token"),
        ("hf/local", "first_token"),
        ("anthropic/claude-sonnet-4-0", "none"),
        ("mockllm/model", "none"),
    ],
)
def test_api_providers(model: str, option_logprobs: str) -> None:
    capabilities = capabilities_of(model)
    assert capabilities.generate
    assert capabilities.option_logprobs == option_logprobs
    assert not capabilities.activations and not capabilities.steering


def test_every_provider_inspect_registers_is_in_the_table() -> None:
    import inspect_ai.model  # noqa: F401 - registers the built-in providers

    registered = {registry_unqualified_name(api) for api in registry_find(lambda info: info.type == "modelapi")}
    assert registered - set(PROVIDER_CAPABILITIES) == set()


def test_unknown_provider_is_assumed_to_generate_only() -> None:
    capabilities = capabilities_of("newcorp/model-9")
    assert capabilities.generate and capabilities.option_logprobs == "none"
    assert "assumed to generate only" in capabilities.note
    with pytest.raises(CapabilityError, match=r"newcorp/model-9 cannot return option log-probabilities .*unknown"):
        require("newcorp/model-9", ["option_logprobs"])


def test_require_passes_when_every_need_is_met() -> None:
    require("characterlab/default", ["generate", "exact_option_logprobs", "activations", "steering", "adapters"])
    require("openai/gpt-4o-mini", ["generate", "option_logprobs"])


def test_require_names_what_is_missing_and_what_would_work() -> None:
    with pytest.raises(CapabilityError) as raised:
        require("anthropic/claude-x", ["generate", "activations", "steering"])
    message = str(raised.value)
    assert message.startswith("anthropic/claude-x cannot return activations or be steered")
    assert "use a local model: --model characterlab/<hub id or folder>" in message
    assert isinstance(raised.value, CharacterlabError)


def test_require_lists_other_providers_that_would_work() -> None:
    with pytest.raises(CapabilityError, match=r"cannot return option log-probabilities.*openai, openai-api"):
        require("anthropic/claude-x", ["option_logprobs"])
    with pytest.raises(CapabilityError, match="cannot return exact option log-likelihoods; use a local model:"):
        require("openai/gpt-4o", ["exact_option_logprobs"])


def test_require_rejects_a_misspelled_need() -> None:
    with pytest.raises(ValueError, match="unknown capability need"):
        require("characterlab/default", ["activation"])  # type: ignore[list-item]


def test_a_study_fails_before_its_first_call() -> None:
    calls: list[object] = []

    def reply(*args: object) -> ModelOutput:
        calls.append(args)
        return ModelOutput.from_content("mockllm/model", "unused")

    model = get_model("mockllm/model", custom_outputs=reply)
    with pytest.raises(CapabilityError, match="mockllm/model cannot return activations"):
        require(str(model), ["generate", "activations"])
    assert calls == []
