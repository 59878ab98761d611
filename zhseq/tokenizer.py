"""Word segmentation: jieba's segmentation with the settings saved in every model.

Text in, words out: ``str`` → NFKC (optional) → traditional→simplified (optional) → jieba (HMM off by
default) → tokens without whitespace. Files are decoded by zhseq (``zhseq.data``); jieba only ever sees
``str``. The settings round-trip through ``to_dict``/``from_dict`` so a model segments at prediction time
exactly as it did at training time; user dictionaries are stored by content, not by path, so a saved model
does not depend on files that may be gone.

The saved ``backend: "jieba"`` names the segmentation; the engine that computes it is chosen at run time
and never saved. ``rjieba`` (jieba-rs, the Rust port, with jieba's dictionary: ``cut`` is 6-7× faster on
the corpora, and a first cut costs 0.15 s and 34 MB where jieba's costs 0.6-1.1 s and 72 MB) is used when
it is installed and the settings are ones where it is proven token-identical to jieba, HMM off and no user
words (``bench/tokenizer_identity.py``: every text of every corpus and every dictionary word; and the
property test in ``tests/test_tokenizer_engine.py``). Otherwise the private ``jieba.Tokenizer`` runs:

- HMM on: jieba-rs's HMM pass joins ``1-6`` and ``ctrip.com`` where jieba splits them (1,277 of the
  98,460 corpus texts differ).
- user words: jieba-rs's ``add_word`` does not update the dictionary as jieba's does when the word is
  already in it (the user word ``的 1`` alone changes 4 of the 1,200 ChnSentiCorp dev texts).

One input rjieba refuses is a lone surrogate (Python strings may hold them, Rust strings may not); jieba
makes every such code point a token of its own that no word spans, so the text is cut around them.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import io
import logging
import os
import re
import sys
import unicodedata
from pathlib import Path
from typing import Iterable, Iterator

from .errors import ZhseqError

ENGINES = ("auto", "jieba", "rjieba")
ENGINE_ENV = "ZHSEQ_TOKENIZER_ENGINE"  # e.g. ZHSEQ_TOKENIZER_ENGINE=jieba: always the reference engine

_SURROGATE = re.compile("([\ud800-\udfff])")  # a lone surrogate: one token, as jieba cuts it


def cache_dir() -> Path:
    """Per-user cache folder (``$ZHSEQ_CACHE``, else ``$XDG_CACHE_HOME/zhseq``, else ``~/.cache/zhseq``)."""
    root = os.environ.get("ZHSEQ_CACHE")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) / "zhseq" if xdg else Path.home() / ".cache" / "zhseq"


def _private_cache_dir() -> str:
    """jieba's cache folder: the per-user cache, private (0700); if that cannot be written (read-only home),
    a fresh private temporary folder; if nothing can be written, jieba works without a cache."""
    import tempfile

    folder = cache_dir()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        if os.access(folder, os.W_OK):
            return str(folder)
    except OSError:
        pass
    try:
        return tempfile.mkdtemp(prefix="zhseq-jieba-")  # mkdtemp makes it 0700
    except OSError:
        return str(folder)  # jieba then only fails to save its cache, quietly


def _read_utf8(path: str | os.PathLike) -> str:
    try:
        return Path(path).read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ZhseqError(f"user dictionary not found: {path}") from None
    except IsADirectoryError:
        raise ZhseqError(f"user dictionary is a directory, not a file: {path}") from None
    except UnicodeDecodeError as e:
        raise ZhseqError(f"user dictionary {path} is not valid UTF-8 (byte {e.start})") from None
    except OSError as e:
        raise ZhseqError(f"cannot read user dictionary {path}: {e.strerror}") from None


class Tokenizer:
    """Chinese word segmentation with jieba, behind zhseq's own settings.

    >>> Tokenizer().cut("我爱北京天安门")
    ['我', '爱', '北京', '天安门']

    Options (all saved with a model): ``hmm`` lets jieba guess unseen words (off: it invents words and is
    slower); ``user_dicts`` are jieba dictionary files (``word [freq] [tag]`` per line) and ``user_words``
    extra lines of the same form; ``nfkc`` folds full-width letters and digits; ``t2s`` converts
    traditional to simplified characters (needs ``pip install zhseq[t2s]``).

    ``engine`` (not saved: it changes speed, never tokens) picks what computes jieba's segmentation:
    ``"auto"`` takes rjieba when it is installed and ``rjieba_refusal`` has nothing against the settings,
    else jieba; ``"jieba"`` always the reference; ``"rjieba"`` or an error saying why not. Left out, it is
    ``$ZHSEQ_TOKENIZER_ENGINE`` or ``"auto"``. ``Tokenizer.engine`` is the one chosen.
    """

    def __init__(
        self,
        *,
        hmm: bool = False,
        user_dicts: Iterable[str | os.PathLike] = (),
        user_words: Iterable[str] = (),
        nfkc: bool = True,
        t2s: bool = False,
        engine: str | None = None,
    ):
        self.hmm = bool(hmm)
        self.nfkc = bool(nfkc)
        self.t2s = bool(t2s)
        words = [line.strip() for path in user_dicts for line in _read_utf8(path).splitlines()]
        words += [w.strip() for w in user_words]
        self.user_words = [w for w in words if w]
        self.engine = self._choose_engine(engine)
        self._jieba = None  # built on first use: loading the dictionary takes ~0.5 s
        self._rjieba = None  # built on first use: ~0.1 s
        self._converter = None
        if self.t2s:
            self._converter = _opencc_t2s()

    # -- settings ---------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "backend": "jieba",
            "hmm": self.hmm,
            "nfkc": self.nfkc,
            "t2s": self.t2s,
            "user_words": list(self.user_words),
        }

    @classmethod
    def from_dict(cls, d: dict, *, engine: str | None = None) -> "Tokenizer":
        if not isinstance(d, dict):
            raise ZhseqError(f"tokenizer settings must be a JSON object, not {d!r}")
        words = d.get("user_words", [])
        if not (isinstance(words, list) and all(isinstance(w, str) for w in words)):
            raise ZhseqError("tokenizer settings: user_words must be a list of strings")
        backend = d.get("backend", "jieba")
        if backend != "jieba":
            raise ZhseqError(f"unknown tokenizer backend {backend!r}; this zhseq knows: jieba")
        return cls(
            hmm=d.get("hmm", False),
            user_words=d.get("user_words", ()),
            nfkc=d.get("nfkc", True),
            t2s=d.get("t2s", False),
            engine=engine,
        )

    def __repr__(self) -> str:
        return (
            f"Tokenizer(hmm={self.hmm}, nfkc={self.nfkc}, t2s={self.t2s}, "
            f"user_words={len(self.user_words)}, engine={self.engine!r})"
        )

    # -- engine -----------------------------------------------------------------------------------
    def rjieba_refusal(self) -> str | None:
        """Why rjieba may not stand in for jieba with these settings, or None when it may."""
        if not rjieba_installed():
            return "rjieba is not installed (pip install rjieba)"
        if self.hmm:
            return "rjieba's HMM segmentation differs from jieba's; it is only used with HMM off"
        if self.user_words:
            return "rjieba does not load user words the way jieba does; it is only used without them"
        return None

    def _choose_engine(self, engine: str | None) -> str:
        source = "engine"
        if engine is None:
            engine, source = os.environ.get(ENGINE_ENV) or "auto", ENGINE_ENV
        if engine not in ENGINES:
            raise ZhseqError(f"unknown tokenizer {source} {engine!r}; choose one of: {', '.join(ENGINES)}")
        if engine == "jieba":
            return engine
        refusal = self.rjieba_refusal()
        if engine == "rjieba" and refusal:
            raise ZhseqError(f"tokenizer {source} rjieba cannot be used: {refusal}")
        return "jieba" if refusal else "rjieba"

    # -- segmentation -----------------------------------------------------------------------------
    @property
    def jieba(self):
        """The private ``jieba.Tokenizer`` (no global jieba state is touched but its logger level)."""
        if self._jieba is None:
            import jieba

            # its "Building prefix dict" chatter, and its traceback when a cache cannot be written, go nowhere
            jieba.setLogLevel(logging.CRITICAL)
            tok = jieba.Tokenizer()
            tok.tmp_dir = _private_cache_dir()
            tok.initialize()
            if self.user_words:
                tok.load_userdict(io.StringIO("\n".join(self.user_words)))
            self._jieba = tok
        return self._jieba

    @property
    def rjieba(self):
        """A private ``rjieba.Jieba`` (jieba-rs with its built-in dictionary, the same as jieba's)."""
        if self._rjieba is None:
            self._rjieba = _rjieba_class()()
        return self._rjieba

    def normalize(self, text: str) -> str:
        if not isinstance(text, str):
            raise TypeError(f"Tokenizer input must be str, not {type(text).__name__}")
        if self.nfkc:
            text = unicodedata.normalize("NFKC", text)
        if self._converter is not None:
            text = self._converter.convert(text)
        return text

    def cut(self, text: str) -> list[str]:
        """Segment one text into words; whitespace is a separator, never a token."""
        text = self.normalize(text)
        if not text or text.isspace():
            return []
        if self.engine == "rjieba":
            words = self._rjieba_cut(text)
        else:
            words = self.jieba.lcut(text, HMM=self.hmm)
        return [w for w in words if w.strip()]

    def _rjieba_cut(self, text: str) -> list[str]:
        if _SURROGATE.search(text) is None:
            return self.rjieba.cut(text, hmm=False)
        words = []
        for i, part in enumerate(_SURROGATE.split(text)):  # text, surrogate, text, ...
            if i % 2:
                words.append(part)
            elif part:
                words += self.rjieba.cut(part, hmm=False)
        return words

    def cut_many(self, texts: Iterable[str]) -> Iterator[list[str]]:
        for text in texts:
            yield self.cut(text)


def rjieba_installed() -> bool:
    return importlib.util.find_spec("rjieba") is not None  # looks for it, does not import it


def _rjieba_class():
    """``rjieba.Jieba`` without building the shared instance ``import rjieba`` makes (its dictionary costs
    ~25 MB and ~0.07 s, and a zhseq tokenizer keeps its own): the compiled module is loaded on its own and
    registered as ``rjieba.rjieba``, where a later ``import rjieba`` finds it."""
    if "rjieba" in sys.modules:
        return sys.modules["rjieba"].Jieba
    ext = sys.modules.get("rjieba.rjieba")
    if ext is None:
        package = importlib.util.find_spec("rjieba")
        finder = importlib.machinery.FileFinder(
            package.submodule_search_locations[0],
            (importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES),
        )
        spec = finder.find_spec("rjieba.rjieba")
        if spec is None:  # a layout this does not know: the ordinary import
            import rjieba

            return rjieba.Jieba
        ext = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(ext)
        sys.modules["rjieba.rjieba"] = ext
    return ext.Jieba


def _opencc_t2s():
    try:
        import opencc
    except ImportError:
        raise ZhseqError(
            "traditional→simplified conversion needs OpenCC: pip install 'zhseq[t2s]'"
        ) from None
    return opencc.OpenCC("t2s")
