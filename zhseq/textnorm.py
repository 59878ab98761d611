"""Emoji and social-media markup: a text split into plain pieces (cut by jieba) and tokens (kept whole).

The two tokenizer settings ``emoji`` and ``social`` (saved with a model; off unless a model says otherwise,
so models saved before them cut as they did) run this on the text after NFKC and traditional→simplified,
before jieba. ``split`` returns ``(piece, whole)`` pairs in text order: a plain piece (``whole`` False) is cut
by jieba on its own, never joined with its neighbours; a token (``whole`` True) is one word as it is.

``emoji`` (the ``emoji`` package's Chinese names, ``language="zh"``; imported on first use):

- an emoji becomes its Chinese name, cut by jieba on its own:
  ``音质绝了👍👍`` → 音质 绝 了 | 拇指 向上 | 拇指 向上 (the words of ``音质绝了`` are the ones it had without
  the emoji); ``气死我了😡`` → 气死我了 | 怒火中烧; ``😭`` → 放声大哭.
- skin tones and variation selectors are dropped: ``👍🏻`` and ``👍`` are both 拇指 向上, ``❤️`` and ``❤`` both
  红心; a stray variation selector or tone outside an emoji goes too.
- a name of several parts (``_`` in the package's name) is cut part by part: ``👨‍👩‍👧`` (a ZWJ sequence, one
  emoji) → 家庭 | 男人女人女孩, cut as jieba cuts each.
- an emoji without a Chinese name stays as it is, as one token (tones and variation selectors dropped);
  one the package does not know at all is plain text, as before.
- what counts as an emoji is the package's list, symbols with a text presentation included: ``©`` → 版权,
  ``↗`` → 右 上 箭头, a keycap ``1️⃣`` → 按键 | 1.

``emoji_keywords`` (with ``emoji``; saved only when on): an emoji is read as its Unicode CLDR Chinese keywords
instead (``emoji_keywords``: 👍 → 同意, 好, 手, 拇指, 拇指向上, 真棒, 赞, 赞成, 顶一下), each cut by jieba on
its own (拇指向上 → 拇指 | 向上); an emoji CLDR gives no keywords (most flags and ZWJ sequences) keeps its
name. A name describes the picture (拇指向上, 红心), which a model that never read the emoji in a labelled text
cannot tell the sentiment of; the keywords hold the words people use it for (赞, 爱). The shipped sentiment
model reads them (``bench/emoji_polarity.py``).

``social`` (Weibo-style posts; rules tried left to right, the first that matches at a place wins):

- links ``http://…``, ``https://…``, ``www.…`` (ASCII URL characters, trailing ``.,;:!?'`` left to the
  text) → the token ``<链接>``: ``http://t.cn/A6abc 看看`` → <链接> | 看看.
- repost chains ``//@name:`` → the tokens ``//转发`` and ``@用户`` (the colon goes with them):
  ``转发理由//@李四:太好了`` → 转发 理由 | //转发 @用户 | 太好了.
- mentions ``@name`` (letters, digits, CJK, ``_`` and ``-``, up to 30, the first a letter, digit or CJK,
  so that ``@_@`` stays a face; an ``@`` right after an ASCII letter or digit is an e-mail address) → the
  token ``@用户``: ``@张三 你好`` → @用户 | 你好. A name runs up to a space or punctuation, as on Weibo:
  ``@张三你好`` is a mention of 张三你好.
- emoticon tags ``[哈哈]`` (1–8 CJK characters or ASCII letters in ASCII brackets; full-width ［］ after
  NFKC; not in double brackets, as in a title ``[[中国不高兴]]``) → kept as one token each:
  ``[哈哈][泪]`` → [哈哈] | [泪]; ``[1]`` is not a tag. A model reads a tag outside its vocabulary as its
  name (``Tokenizer.read_tags``): the tag is a Weibo emoticon named by what it means, and a model that never
  saw ``[哈哈]`` knows 哈哈.
- topics ``#话题#`` (1–40 characters without ``#``; an opening ``#`` right after an ASCII letter, digit or
  ``&``, as in ``C#`` or the HTML entity ``&#183;``, opens none) → the marks are dropped and the topic is
  cut as text on its own (emoji and tags in it handled as elsewhere): ``#双十一#买买买`` → 双十一 | 买买买.
  A topic's words carry its sentiment (``#垃圾客服#``); one token per topic would be a word seen once.

The placeholders hold ``@``, ``<``, ``>`` or ``/``, which jieba never puts in a word with other characters,
so no plain text is cut into them (a text that spells ``<链接>`` is cut into ``<``, ``链接``, ``>``).
Full-width marks (``＠``, ``：``, ``／``, ``＃``, ``［］``) are these after NFKC, which is on by default.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .errors import ZhseqError

MENTION = "@用户"
LINK = "<链接>"
REPOST = "//转发"
PLACEHOLDERS = (MENTION, LINK, REPOST)  # where a post points, not what it says: sentiment models skip them

_URL_CHARS = r"!#$%&'*+,\-./0-9:;=?@A-Z_a-z~"
_URL_END = r"#$%&*+\-/0-9=@A-Z_a-z~"  # a link does not end in . , ; : ! ? '
_NAME = r"[^\W_][\w\-]{0,29}"  # \w: letters, digits, CJK, _; the first not _ (``@_@`` is a face)
_TAG = re.compile(r"\[[\u3400-\u4dbf\u4e00-\u9fffA-Za-z]{1,8}\]")  # an emoticon tag, as ``split`` keeps it
_SOCIAL = re.compile(
    rf"(?P<link>(?i:https?://|www\.)(?:(?!//@)[{_URL_CHARS}])*(?!//@)[{_URL_END}])"  # up to a repost
    rf"|(?P<repost>//@{_NAME}:?)"
    rf"|(?P<mention>(?<![A-Za-z0-9])@{_NAME})"
    rf"|(?P<tag>(?<!\[){_TAG.pattern}(?!\]))"
    r"|(?P<topic>(?<![A-Za-z0-9&])#(?P<topic_text>[^#\n]{1,40})#)"
)
_TONES_AND_SELECTORS = re.compile("[\U0001F3FB-\U0001F3FF\uFE0E\uFE0F]")

_emoji_module = None
_emoji_chars = None  # the non-ASCII code points of the emoji the package knows: a text without any has none
_tone_names: frozenset = frozenset()  # 较浅肤色, …: left out of names such as 拇指向上_较浅肤色


def _emoji():
    """The ``emoji`` package with its Chinese names loaded (imported on first use: ~25 ms)."""
    global _emoji_module, _emoji_chars, _tone_names
    if _emoji_module is None:
        try:
            import emoji
        except ImportError:
            raise ZhseqError("the tokenizer's emoji setting needs the emoji package: "
                             "pip install 'emoji>=2.10'") from None
        emoji.config.load_language("zh")
        data = emoji.EMOJI_DATA
        # a class of code point ranges in the BMP, and the whole astral planes: one big class of single
        # characters takes re ~3 µs a character, this ~0.02 µs
        ranges: list = []
        for c in sorted({ord(c) for key in data for c in key if 0x7F < ord(c) < 0x10000}):
            if ranges and c == ranges[-1][1] + 1:
                ranges[-1][1] = c
            else:
                ranges.append([c, c])
        _emoji_chars = re.compile("[" + "".join(re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b > a else "")
                                                for a, b in ranges) + "\U00010000-\U0010FFFF]")
        _tone_names = frozenset(part for tone in range(0x1F3FB, 0x1F400)
                                for part in _name_parts(data.get(chr(tone), {}).get("zh", "")))
        _emoji_module = emoji
    return _emoji_module


def tag_name(token: str) -> str | None:
    """The name inside an emoticon tag token (``[哈哈]`` → ``哈哈``); None for any other token."""
    return token[1:-1] if token[:1] == "[" and _TAG.fullmatch(token) else None


def _name_parts(name: str) -> tuple:
    """``:家庭_男人女人女孩:`` → ("家庭", "男人女人女孩")."""
    return tuple(part for part in name.strip(":").split("_") if part.strip())


def emoji_name(found: str) -> tuple | None:
    """One emoji as ``emoji.emoji_list`` finds it → the parts of its Chinese name, skin tones left out
    (``👍🏻`` → ("拇指向上",)); ``()`` for a lone tone or variation selector; None when it has no Chinese name."""
    data = _emoji().EMOJI_DATA
    bare = _TONES_AND_SELECTORS.sub("", found)
    if not bare:
        return ()
    for key in (bare, found):  # the sequence without tones and selectors is the usual entry; else the one found
        parts = tuple(p for p in _name_parts(data.get(key, {}).get("zh", "")) if p not in _tone_names)
        if parts:
            return parts
    return None


_keywords: dict | None = None


def emoji_keywords(found: str) -> tuple | None:
    """One emoji as ``emoji.emoji_list`` finds it → its Unicode CLDR Chinese keywords, skin tones and variation
    selectors left out (``👍🏻`` → ("同意", "好", "手", "拇指", "拇指向上", "真棒", "赞", "赞成", "顶一下")); None
    when CLDR gives it none (most sequences: flags, families, tones). The table is
    ``zhseq/emoji_keywords_zh.json``, built by ``corpora/build_emoji_keywords.py`` from CLDR's annotations
    (Unicode License v3); read on first use (~5 ms)."""
    global _keywords
    if _keywords is None:
        path = Path(__file__).with_name("emoji_keywords_zh.json")
        _keywords = {e: tuple(k) for e, k in json.loads(path.read_text(encoding="utf-8"))["keywords"].items()}
    return _keywords.get(_TONES_AND_SELECTORS.sub("", found))


def _emoji_pieces(text: str, keywords: bool = False) -> list:
    module = _emoji()
    if _emoji_chars.search(text) is None:  # most texts: no emoji, and emoji_list costs ~1.5 µs a character
        return [(text, False)] if text else []
    pieces = []
    end = 0
    for match in module.emoji_list(text):
        pieces.append((_TONES_AND_SELECTORS.sub("", text[end:match["match_start"]]), False))
        parts = (keywords and emoji_keywords(match["emoji"])) or emoji_name(match["emoji"])
        if parts is None:
            pieces.append((_TONES_AND_SELECTORS.sub("", match["emoji"]), True))
        else:
            pieces += [(part, False) for part in parts]
        end = match["match_end"]
    pieces.append((_TONES_AND_SELECTORS.sub("", text[end:]), False))
    return [(piece, whole) for piece, whole in pieces if piece]


def _social_pieces(text: str) -> list:
    pieces = []
    end = 0
    for match in _SOCIAL.finditer(text):
        pieces.append((text[end:match.start()], False))
        kind = match.lastgroup  # the outer group of the alternative that matched ("topic", not "topic_text")
        if kind == "link":
            pieces.append((LINK, True))
        elif kind == "repost":
            pieces += [(REPOST, True), (MENTION, True)]
        elif kind == "mention":
            pieces.append((MENTION, True))
        elif kind == "tag":
            pieces.append((match.group(), True))
        else:  # a topic: its text on its own, without the marks (tags and links in it handled too)
            pieces += _social_pieces(match.group("topic_text"))
        end = match.end()
    pieces.append((text[end:], False))
    return [(piece, whole) for piece, whole in pieces if piece]


def split(text: str, *, emoji: bool = True, social: bool = True, emoji_keywords: bool = False) -> list:
    """``text`` (after NFKC and t2s) → ``[(piece, whole), …]``: plain pieces (``whole`` False) to cut with
    jieba each on its own, and tokens (``whole`` True) to keep as they are; no empty pieces. With both off:
    ``[(text, False)]``. ``emoji_keywords`` (with ``emoji``): an emoji is read as its CLDR keywords, each a
    piece, where CLDR gives some, else as its name.

    >>> split("@张三 音质绝了👍[哈哈]")
    [('@用户', True), (' 音质绝了', False), ('拇指向上', False), ('[哈哈]', True)]
    """
    pieces = _social_pieces(text) if social else [(text, False)] if text else []
    if emoji:
        pieces = [out for piece, whole in pieces
                  for out in ([(piece, True)] if whole else _emoji_pieces(piece, emoji_keywords))]
    return pieces
