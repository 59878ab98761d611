"""Word segmentation: a private jieba instance with the settings saved in every model.

Text in, words out: ``str`` → NFKC (optional) → traditional→simplified (optional) → jieba (HMM off by
default) → tokens without whitespace. Files are decoded by zhseq (``zhseq.data``); jieba only ever sees
``str``. The settings round-trip through ``to_dict``/``from_dict`` so a model segments at prediction time
exactly as it did at training time; user dictionaries are stored by content, not by path, so a saved model
does not depend on files that may be gone.
"""

from __future__ import annotations

import io
import logging
import os
import unicodedata
from pathlib import Path
from typing import Iterable, Iterator

from .errors import ZhseqError


def cache_dir() -> Path:
    """Per-user cache folder (``$ZHSEQ_CACHE``, else ``$XDG_CACHE_HOME/zhseq``, else ``~/.cache/zhseq``)."""
    root = os.environ.get("ZHSEQ_CACHE")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) / "zhseq" if xdg else Path.home() / ".cache" / "zhseq"


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
    """

    def __init__(
        self,
        *,
        hmm: bool = False,
        user_dicts: Iterable[str | os.PathLike] = (),
        user_words: Iterable[str] = (),
        nfkc: bool = True,
        t2s: bool = False,
    ):
        self.hmm = bool(hmm)
        self.nfkc = bool(nfkc)
        self.t2s = bool(t2s)
        words = [line.strip() for path in user_dicts for line in _read_utf8(path).splitlines()]
        words += [w.strip() for w in user_words]
        self.user_words = [w for w in words if w]
        self._jieba = None  # built on first use: loading the dictionary takes ~0.5 s
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
    def from_dict(cls, d: dict) -> "Tokenizer":
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
        )

    def __repr__(self) -> str:
        return (
            f"Tokenizer(hmm={self.hmm}, nfkc={self.nfkc}, t2s={self.t2s}, "
            f"user_words={len(self.user_words)})"
        )

    # -- segmentation -----------------------------------------------------------------------------
    @property
    def jieba(self):
        """The private ``jieba.Tokenizer`` (no global jieba state is touched but its logger level)."""
        if self._jieba is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)  # its "Building prefix dict" chatter goes nowhere
            tok = jieba.Tokenizer()
            folder = cache_dir()
            try:
                folder.mkdir(parents=True, exist_ok=True)
                tok.tmp_dir = str(folder)  # per-user cache, not a shared /tmp/jieba.cache
            except OSError:  # unwritable home: a private (0700) temporary folder, never a shared file
                import tempfile

                tok.tmp_dir = tempfile.mkdtemp(prefix="zhseq-jieba-")
            tok.initialize()
            if self.user_words:
                tok.load_userdict(io.StringIO("\n".join(self.user_words)))
            self._jieba = tok
        return self._jieba

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
        return [w for w in self.jieba.lcut(text, HMM=self.hmm) if w.strip()]

    def cut_many(self, texts: Iterable[str]) -> Iterator[list[str]]:
        for text in texts:
            yield self.cut(text)


def _opencc_t2s():
    try:
        import opencc
    except ImportError:
        raise ZhseqError(
            "traditional→simplified conversion needs OpenCC: pip install 'zhseq[t2s]'"
        ) from None
    return opencc.OpenCC("t2s")
