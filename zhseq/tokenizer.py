"""Word segmentation: jieba's segmentation with the settings saved in every model.

Text in, words out: ``str`` → NFKC (optional) → traditional→simplified (optional) → emoji and social-media
markup (optional, ``zhseq.textnorm``) → jieba (HMM off by default) → tokens without whitespace. Files are
decoded by zhseq (``zhseq.data``); jieba only ever sees ``str``. The settings round-trip through
``to_dict``/``from_dict`` so a model segments at prediction time exactly as it did at training time; user
dictionaries are stored by content, not by path, so a saved model does not depend on files that may be gone.

User words are folded exactly as the text is (NFKC, then traditional→simplified, each when it is on) before
jieba loads them, so that an entry written ``ＳＫ－ＩＩ神仙水`` matches the text ``ＳＫ－ＩＩ神仙水``, which jieba sees
as ``SK-II神仙水``. Only the word of a ``word [freq] [tag]`` line is folded, and a model saves the folded lines:
``from_dict`` loads saved lines as they are, so a model saved before words were folded segments as it did.

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

``emoji`` (emoji → their Chinese names) and ``social`` (mentions and links → placeholder tokens, repost
markers, emoticon tags kept whole, topic marks dropped) are off unless asked for, and a model's config.json
holds each only when it is on: a model saved before they existed, or trained with them off, has neither key
and cuts exactly as before (and an older zhseq still loads it); one trained with them refuses to load in a
zhseq that does not know them, rather than cutting differently. New models turn both on
(``zhseq.config.ModelConfig``). The ``emoji`` package is imported only when ``emoji`` is on.

One input rjieba refuses is a lone surrogate (Python strings may hold them, Rust strings may not); jieba
makes every such code point a token of its own that no word spans, so the text is cut around them.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import io
import json
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
# how jieba reads a user dictionary line (jieba.re_userdict): the word, then " freq" and " tag", both optional
_USER_LINE = re.compile("^(.+?)( [0-9]+)?( [a-z]+)?$")
# the settings saved in a model's config.json, with their defaults (a missing key means its default)
DEFAULTS = {"backend": "jieba", "hmm": False, "nfkc": True, "t2s": False, "user_words": [], "emoji": False,
            "social": False, "emoji_keywords": False}
_BOOLS = ("hmm", "nfkc", "t2s", "emoji", "social", "emoji_keywords")
_SAVED_WHEN_ON = ("emoji", "social", "emoji_keywords")  # written only when true: what a model without them had


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


def _read_user_dict(path: str | os.PathLike, encoding: str | None) -> list[str]:
    """The lines of a user dictionary, read as zhseq reads every file (``zhseq.data.files.read_lines``: the
    ``encoding`` given, else a byte-order mark's, else UTF-8, else detected; ``.gz`` too), strictly."""
    from .data.files import read_lines

    if os.path.isdir(path):
        raise ZhseqError(f"user dictionary is a directory, not a file: {path}")
    if not os.path.exists(path):
        raise ZhseqError(f"user dictionary not found: {path}")
    try:
        return read_lines(os.fspath(path), encoding)
    except ZhseqError as e:
        raise ZhseqError(f"user dictionary {e}") from None


class Tokenizer:
    """Chinese word segmentation with jieba, behind zhseq's own settings.

    >>> Tokenizer().cut("我爱北京天安门")
    ['我', '爱', '北京', '天安门']

    Options (all saved with a model): ``hmm`` lets jieba guess unseen words (off: it invents words and is
    slower); ``user_dicts`` are jieba dictionary files (``word [freq] [tag]`` per line) and ``user_words``
    extra lines of the same form; ``nfkc`` folds full-width letters and digits; ``t2s`` converts
    traditional to simplified characters (needs ``pip install zhseq[t2s]``); ``emoji`` turns emoji into their
    Chinese names (👍 → 拇指 向上), or with ``emoji_keywords`` into their Unicode CLDR keywords (👍 → 同意 好 …
    赞), and ``social`` mentions, links and repost chains into placeholder tokens
    (``@用户``, ``<链接>``, ``//转发``) and emoticon tags (``[哈哈]``) into one token each (``zhseq.textnorm``).

    ``encoding`` (not saved: the settings hold the dictionaries' words, not their files) is the user
    dictionaries' character encoding; left out, they are read as every file is (a byte-order mark's, else
    UTF-8, else detected). ZhseqError for a dictionary that is missing, a folder, or not decodable.

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
        emoji: bool = False,
        social: bool = False,
        emoji_keywords: bool = False,
        engine: str | None = None,
        encoding: str | None = None,
    ):
        for name, value in (("user_dicts", user_dicts), ("user_words", user_words)):
            if isinstance(value, (str, bytes, os.PathLike)):
                raise ZhseqError(f"Tokenizer {name} must be a list, not one {type(value).__name__}")
        self._setup(hmm=hmm, nfkc=nfkc, t2s=t2s, emoji=emoji, social=social, emoji_keywords=emoji_keywords)
        lines = [line for path in user_dicts for line in _read_user_dict(path, encoding)]
        lines += [line for w in user_words for line in w.splitlines()]
        self.user_words = [self._fold_user_line(line.strip()) for line in lines if line.strip()]
        self.engine = self._choose_engine(engine)

    def _setup(self, *, hmm: bool, nfkc: bool, t2s: bool, emoji: bool = False, social: bool = False,
               emoji_keywords: bool = False) -> None:
        self.hmm = bool(hmm)
        self.nfkc = bool(nfkc)
        self.t2s = bool(t2s)
        self.emoji = bool(emoji)
        self.social = bool(social)
        self.emoji_keywords = bool(emoji_keywords)
        check_emoji_keywords(self.emoji, self.emoji_keywords)
        if self.emoji and importlib.util.find_spec("emoji") is None:  # looks for it; imported on the first cut
            raise ZhseqError("the tokenizer's emoji setting needs the emoji package: pip install 'emoji>=2.10'")
        self.user_words: list[str] = []
        self.engine = "jieba"  # chosen once the user words are known
        self._jieba = None  # built on first use: loading the dictionary takes ~0.5 s
        self._rjieba = None  # built on first use: ~0.1 s
        self._converter = _opencc_t2s() if self.t2s else None

    def _fold_user_line(self, line: str) -> str:
        """A user dictionary line with its word folded as the text is, in a form jieba reads back alike. Tabs
        and runs of spaces between the fields are one space (jieba reads only that: ``杭研大厦<TAB>10`` was the
        word ``杭研大厦<TAB>10``, which no text holds). Raises ZhseqError for a line whose word would read
        otherwise once folded (``神仙水 １００``), and for a word that holds a space or ends in a comma and a
        number (a CSV line): jieba would take it as one word that never matches."""
        line = re.sub(r"[ \t]+", " ", line)
        word, freq, tag = _USER_LINE.match(line).groups()
        folded = self.normalize(word)
        folded_line = line
        if folded != word:
            folded_line = folded + (freq or "") + (tag or "")
            back = _USER_LINE.match(folded_line.strip())
            if folded_line != folded_line.strip() or back is None or back.groups() != (folded, freq, tag):
                # e.g. "神仙水　１００": jieba reads it all as one word, which folds to "神仙水 100", a word and a
                # frequency
                raise ZhseqError(
                    f"user word {line!r}: jieba reads its word as {word!r}, which folded like the text is "
                    f"{folded!r}, and that no longer reads as one word; write a frequency or tag after an ASCII "
                    "space, in ASCII digits or letters"
                )
        if " " in folded or re.search(r"[,，]\s*[0-9]+$", folded):
            raise ZhseqError(f"user word {line!r}: a line of a user dictionary is a word, then optionally its "
                             "frequency and a part-of-speech tag, separated by spaces (杭研大厦 10 nz); jieba "
                             f"would read {folded!r} as one word, which no text holds")
        return folded_line

    # -- settings ---------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The settings saved in a model's config.json; ``user_words`` are the lines jieba loads (folded);
        ``emoji``, ``social`` and ``emoji_keywords`` only when on (off is what a missing key means)."""
        settings = {
            "backend": "jieba",
            "hmm": self.hmm,
            "nfkc": self.nfkc,
            "t2s": self.t2s,
            "user_words": list(self.user_words),
        }
        settings.update({key: True for key in _SAVED_WHEN_ON if getattr(self, key)})
        return settings

    @classmethod
    def from_dict(cls, d: dict, *, engine: str | None = None) -> "Tokenizer":
        """The tokenizer saved in a model's config.json (``d`` is its ``tokenizer`` object), checked strictly.

        The user words are loaded as saved, not folded again: a model saved before zhseq folded them keeps
        the lines it was trained with."""
        settings = check_settings(d)
        tok = cls.__new__(cls)
        tok._setup(hmm=settings["hmm"], nfkc=settings["nfkc"], t2s=settings["t2s"], emoji=settings["emoji"],
                   social=settings["social"], emoji_keywords=settings["emoji_keywords"])
        tok.user_words = [w.strip() for w in settings["user_words"] if w.strip()]  # as saved (blank lines dropped, as jieba does)
        tok.engine = tok._choose_engine(engine)
        return tok

    def __repr__(self) -> str:
        return (
            f"Tokenizer(hmm={self.hmm}, nfkc={self.nfkc}, t2s={self.t2s}, emoji={self.emoji}, "
            f"emoji_keywords={self.emoji_keywords}, "
            f"social={self.social}, user_words={len(self.user_words)}, engine={self.engine!r})"
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
            raise ZhseqError(f"Tokenizer input must be str, not {type(text).__name__}")
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
        if not (self.emoji or self.social):
            words = self._cut_plain(text)
        else:
            from . import textnorm

            words = []
            for piece, whole in textnorm.split(text, emoji=self.emoji, social=self.social,
                                               emoji_keywords=self.emoji_keywords):
                if whole:
                    words.append(piece)
                else:
                    words += self._cut_plain(piece)
        return [w for w in words if w.strip()]

    def read_tags(self, words: list[str], known) -> list[str]:
        """``words`` (from ``cut``) with each emoticon tag outside ``known`` (a model's vocabulary, or any
        container of words) replaced by its name as jieba cuts it: ``[哈哈]`` → 哈哈, ``[太开心]`` → 太 开心.
        A Weibo emoticon is named by what it means; a model that never read the tag (its training data had
        none, or too few to keep) knows the name's words. A tag it kept stays one token. Only the ``social``
        setting keeps tags whole; without it ``words`` is returned as it is."""
        if not self.social or "[" not in "".join(words):  # most texts: one C-level scan
            return words
        from .textnorm import tag_name

        out = []
        for word in words:
            name = tag_name(word) if word not in known else None
            if name is None:
                out.append(word)
            else:
                out += [w for w in self._cut_plain(name) if w.strip()]
        return out

    def _cut_plain(self, text: str) -> list[str]:
        if self.engine == "rjieba":
            return self._rjieba_cut(text)
        return self.jieba.lcut(text, HMM=self.hmm)

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


def check_emoji_keywords(emoji, emoji_keywords, keywords: str = "the tokenizer's emoji_keywords setting",
                         needs: str = "the emoji setting on") -> None:
    """The one rule between the two emoji settings: ``emoji_keywords`` changes how emoji are read, so it needs
    ``emoji``. Raises ZhseqError "KEYWORDS reads emoji: it needs NEEDS", in each caller's words (the Python
    setting, config.json's key, the command line's option)."""
    if emoji_keywords and not emoji:
        raise ZhseqError(f"{keywords} reads emoji: it needs {needs}")


def check_settings(d) -> dict:
    """A model's saved ``tokenizer`` settings (config.json), checked strictly → all settings, defaults filled in.
    Raises ZhseqError naming the field (``config.json: tokenizer.hmm must be true or false, not "yes"``)."""
    if not isinstance(d, dict):
        raise ZhseqError(f"config.json: tokenizer must be a JSON object, not {_json(d)}")
    unknown = sorted(set(d) - set(DEFAULTS))
    if unknown:
        raise ZhseqError(
            f"config.json: unknown tokenizer setting{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(_json, unknown))}; known: {', '.join(DEFAULTS)}"
        )
    settings = {**DEFAULTS, **d}
    for key in _BOOLS:
        if not isinstance(settings[key], bool):
            raise ZhseqError(f"config.json: tokenizer.{key} must be true or false, not {_json(settings[key])}")
    check_emoji_keywords(settings["emoji"], settings["emoji_keywords"], "config.json: tokenizer.emoji_keywords",
                         "tokenizer.emoji true")
    if settings["backend"] != "jieba" or not isinstance(settings["backend"], str):
        raise ZhseqError(
            f'config.json: tokenizer.backend must be "jieba" (the one this zhseq knows), '
            f"not {_json(settings['backend'])}"
        )
    words = settings["user_words"]
    if not isinstance(words, list):
        raise ZhseqError(f"config.json: tokenizer.user_words must be a list of strings, not {_json(words)}")
    for i, w in enumerate(words):
        if not isinstance(w, str):
            raise ZhseqError(f"config.json: tokenizer.user_words[{i}] must be a string, not {_json(w)}")
    return settings


def rjieba_installed() -> bool:
    return importlib.util.find_spec("rjieba") is not None  # looks for it, does not import it


def _rjieba_class():
    """``rjieba.Jieba`` without building the shared instance ``import rjieba`` makes (a zhseq tokenizer keeps
    its own, private one): the compiled module is loaded on its own and registered as ``rjieba.rjieba``, where
    a later ``import rjieba`` finds it. A plain ``import rjieba`` was measured (issue 13): the shared
    dictionary took a cold ``Tokenizer().cut`` from 0.23 s to 0.35 s and its peak memory from 46 to 71 MB."""
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


def _json(value, limit: int = 60) -> str:
    """A config value as it is written in config.json, shortened for a one-line message."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"
