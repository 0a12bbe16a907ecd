"""The engine registry: find an engine by name, load it, list voices, pick one for a book.

Engine modules are imported lazily (``ENGINES`` maps names to module paths), so ``import
e2a_node.synth`` costs nothing and a missing optional engine only fails when it is asked for.
Each engine module provides ``load(settings)``, ``voices()`` and ``voice_languages(settings)``
(what the chosen voice speaks, without loading it; None when unknown). For settings that come
from another node, a module may provide ``from_wire(settings)`` (checks that they name voices and
models, never paths; an engine without it takes no voice or model from the wire) and
``takes_voice_clip(settings)`` (whether that voice clones from a reference clip; default: no).

Only piper and coqui are registered by default. Another engine is added explicitly, in the
process that needs it, with ``register_engine(name, module_path)``: the benchmark harness adds its
sleeping engine ``bench`` (bench.py, ``bench.register()``) in scripts/bench_node.py and
scripts/bench_leader.py; tests use ``registered_engine`` to add one for a ``with`` block.

Layering: imports only `audio` (ffmpeg, for clip conversion) and `errors` from e2a
(tests/test_layering.py).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from types import ModuleType

from e2a_node.errors import EngineError
from e2a_node.synth import languages
from e2a_node.synth.base import Engine, VoiceInfo, VoiceSettings

__all__ = [
    "ENGINES",
    "Engine",
    "MissingVoiceError",
    "VoiceInfo",
    "VoiceSettings",
    "all_voices",
    "engine_module",
    "load_engine",
    "register_engine",
    "registered_engine",
    "resolve_voice",
    "settings_from_wire",
    "takes_voice_clip",
    "unregister_engine",
]

ENGINES = {"piper": "e2a_node.synth.piper", "coqui": "e2a_node.synth.coqui"}
_BUILT_IN = frozenset(ENGINES)


class MissingVoiceError(EngineError):
    """No installed Piper voice speaks `language` (a BCP 47 tag); `e2a voices get` can fetch one."""

    def __init__(self, message: str, language: str) -> None:
        super().__init__(message)
        self.language = language


def register_engine(name: str, module_path: str) -> None:
    """Make engine `name` loadable from module `module_path` in this process.

    Registering the same module under the same name again does nothing; a name that already
    stands for another module is a ValueError (a built-in engine is never replaced).
    """
    if not name or not module_path:
        raise ValueError("an engine needs a name and a module path")
    known = ENGINES.get(name)
    if known is not None and known != module_path:
        raise ValueError(f"engine {name!r} is already registered as {known}")
    ENGINES[name] = module_path


def unregister_engine(name: str) -> None:
    """Forget an engine that `register_engine` added; a name not registered is ignored, and a
    built-in engine is a ValueError."""
    if name in _BUILT_IN:
        raise ValueError(f"engine {name!r} is built in")
    ENGINES.pop(name, None)


@contextmanager
def registered_engine(name: str, module_path: str) -> Iterator[None]:
    """`register_engine` for the length of a `with` block (one that was registered before stays)."""
    added = name not in ENGINES
    register_engine(name, module_path)
    try:
        yield
    finally:
        if added:
            unregister_engine(name)


def engine_module(name: str) -> ModuleType:
    """The module of engine `name`; EngineError for an unknown name."""
    path = ENGINES.get(name)
    if path is None:
        raise EngineError(f"unknown engine {name!r} (known: {', '.join(sorted(ENGINES))})")
    return importlib.import_module(path)


def load_engine(settings: VoiceSettings) -> Engine:
    """Load the engine and voice `settings` describe. Load once, then reuse for every segment."""
    return engine_module(settings.engine).load(settings)


def settings_from_wire(settings: VoiceSettings) -> VoiceSettings:
    """Voice settings another node sent, checked by their engine (names only, never paths) and
    made ready to load here; EngineError (one line) when they name something else."""
    module = engine_module(settings.engine)
    check = getattr(module, "from_wire", None)
    if check is not None:
        return check(settings)
    if settings.voice or settings.model or settings.model_path:
        raise EngineError(f"the {settings.engine} engine takes no voice or model from other nodes")
    return settings


def takes_voice_clip(settings: VoiceSettings) -> bool:
    """Whether the voice `settings` name clones from a reference clip (an engine module's trait)."""
    trait = getattr(engine_module(settings.engine), "takes_voice_clip", None)
    return bool(trait(settings)) if trait is not None else False


def all_voices() -> list[VoiceInfo]:
    """Every voice this machine can use, across engines; an engine that is not installed adds none."""
    found: list[VoiceInfo] = []
    for name in ENGINES:
        try:
            found.extend(engine_module(name).voices())
        except (ImportError, EngineError):
            continue
    return found


def resolve_voice(settings: VoiceSettings, book_language: str | None) -> VoiceSettings:
    """Settings with the voice filled in for a book in `book_language`.

    * No ``--voice`` and no ``--language`` (piper): pick an installed voice that speaks the book's
      language, preferring the exact region ("en-GB" takes an en_GB voice, else any English one).
    * ``--language`` without ``--voice`` (piper): the same, for that language.
    * ``--voice`` given: kept; with ``--language`` too, the voice must speak it.
    * coqui: the model is the user's choice; a multilingual model gets the book's language when
      no ``--language`` is given, a single-language one must speak an explicit ``--language``.

    Raises EngineError (one line, naming the language and how to get a voice) when nothing fits;
    MissingVoiceError when it is only that no installed Piper voice speaks the language.
    """
    module = engine_module(settings.engine)
    wanted = languages.normalize(settings.language) or languages.normalize(book_language)

    if settings.engine == "piper":
        if settings.voice is not None:
            spoken = module.voice_languages(settings)  # also checks that the voice exists
            if settings.language:
                _check_speaks(settings, spoken, settings.language)
            return settings
        if wanted is None:
            return settings  # the bundled voice
        choice = _pick_voice(module.voices(), wanted)
        if choice is None:
            raise MissingVoiceError(
                f"no Piper voice for {languages.describe(wanted)} installed: {languages.how_to_get_voice(wanted)}",
                wanted,
            )
        return replace(settings, voice=choice.name)

    # coqui (and any engine whose voice is a model): respect the user's model choice.
    if not getattr(settings, "model", None) and not getattr(settings, "model_path", None):
        return settings  # load() explains what is missing
    spoken = module.voice_languages(settings)
    multilingual = spoken is None or len(spoken) > 1
    if settings.language:
        if not multilingual:
            _check_speaks(settings, spoken, settings.language)
        return settings
    if multilingual and wanted:
        return replace(settings, language=wanted)
    return settings


def _check_speaks(settings: VoiceSettings, spoken: list[str] | None, language: str) -> None:
    if spoken is None:
        return
    want = languages.base(language)
    if any(languages.base(s) == want for s in spoken):
        return
    what = settings.voice or settings.model or settings.model_path or "the default voice"
    says = ", ".join(languages.describe(s) for s in spoken)
    raise EngineError(
        f"voice {what} speaks {says}, not {languages.describe(language)}: "
        f"{languages.how_to_get_voice(language)}"
    )


def _pick_voice(candidates: list[VoiceInfo], wanted: str) -> VoiceInfo | None:
    want_base, want_region = languages.base(wanted), languages.region(wanted)
    same = [v for v in candidates if languages.base(v.language) == want_base]
    if not same:
        return None
    exact = [v for v in same if want_region and languages.region(v.language) == want_region]
    return (exact or same)[0]
