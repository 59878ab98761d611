"""Text → answer, one pipeline per head: preprocess → engine → postprocess.

    sentiment:    texts → Tokenizer.cut → Vocab.encode → truncate (first third + last two thirds of max_tokens)
                  → engine.sentiment_logits (B, C) → softmax, mixed with the n-gram half's softmax
                  → neutral band → [{"label", "score"}]
    predict-next: prefixes → <bos> + the last 4·bptt words' ids → engine.next_logits (B, V) → softmax
                  → tokens never to propose set to 0 → top-k → [[{"token", "score"}, …]]

Only the engine knows a framework (``zhseq.runtime``: numpy; ``zhseq.torch_engine``: torch; chosen in
``zhseq.pretrained``); preprocessing and postprocessing are written once, here, for the CLI, the Python API,
evaluation and the worker processes of ``--workers``. On the numpy engine a text's answer does not depend on
the batch it is scored in. This module imports neither torch, datasets nor scikit-learn.

    clf = SentimentClassifier.from_pretrained()            # the shipped model; or a folder
    clf("这家餐厅的菜很好吃")                                # {"label": "positive", "score": 0.87456}
    NextWordPredictor.from_pretrained().predict_next("今天天气", k=5)
"""

from __future__ import annotations

import bisect
import os
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from . import ngrams
from .config import PredictConfig, check_label_names, check_prediction, default_of
from .data import batched
from .errors import ZhseqError
from .pretrained import Pretrained
from .vocab import BOS_ID, EOS_ID, SPECIALS, UNK_ID

SPECIAL_IDS = tuple(range(len(SPECIALS)))  # <pad>, <unk>, <bos>, <eos>: never proposed


# -- preprocessing and postprocessing: pure functions, shared by the pipelines and training's dev pass -------
def truncate(ids: list[int], max_tokens: int) -> list[int]:
    """Long texts keep their first third and their last two thirds (reviews conclude at the end)."""
    if max_tokens <= 0 or len(ids) <= max_tokens:
        return ids
    head = max_tokens // 3
    return ids[:head] + ids[len(ids) - (max_tokens - head):]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, C) float32 logits (the row max subtracted first: no overflow)."""
    z = logits - logits.max(-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(-1, keepdims=True)
    return z


def tempered(scores: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(scores / temperature) of (V,) log-scores (−inf allowed), for any temperature > 0: the maximum is
    subtracted first, so that a tiny temperature (1e-308) gives the most likely entries all the probability
    instead of inf − inf = NaN."""
    with np.errstate(over="ignore"):  # a finite score over a tiny temperature: −inf, never drawn
        return softmax((scores - scores.max()) / temperature)


def sentiment_probabilities(logits: np.ndarray, tokens: Sequence[list[str]], head, tables,
                            known: np.ndarray | None = None):
    """The network's logits (N, C) and the texts' tokens → (N, C) probabilities: the network's softmax,
    mixed with the n-gram half's as (1 − w) · p_network + w · p_ngrams (w = ``head.ngram_weight``) when the
    model has one (``tables``: its (weight, bias, idf), or None).

    With ``known`` ((N,) bool: whether each text has a word of the vocabulary), returns
    ``(probabilities, content)``: ``content`` (N,) is ``known`` or, where the n-gram half takes part, any
    of the text's n-grams seen in training. A text without content gets no label (``sentiment_result``)."""
    probs = softmax(np.asarray(logits, np.float32))
    content = known
    if tables is not None and head.ngram_weight > 0:
        z, seen = ngrams.logits(list(tokens), *tables, head.ngram_words, head.ngram_chars, support=True)
        probs = ngrams.mix(probs, z, head.ngram_weight)
        content = None if known is None else known | seen
    return probs if known is None else (probs, content)


def classifier_words(words: list[str], tokenizer, vocab, head) -> list[str]:
    """What a sentiment classifier reads of a text's words (``Tokenizer.cut``'s), the same in training
    (``zhseq.training``) and prediction: each emoticon tag outside the vocabulary read as its name
    (``Tokenizer.read_tags``: ``[哈哈]`` → 哈哈), and with ``head.ignore_placeholders`` (on for models trained
    by this version on; a missing key, in older ones, means off) the social placeholders left out (``<链接>``, ``@用户``, ``//转发``: where a post points, not what it says; in
    the training data 23 of the 30 texts with a link were positive, which taught a model that a link is
    praise). With them go the rest of Weibo's reply marker, ``回复@name:``: the 回复 just before a mention
    and the colon just after one. In the review corpora 回复 is the reply a shop never sent (in 229 of the 295
    reviews that hold it, negative ones), so the marker turned ``回复@小明:说得太好了`` negative (0.537;
    ``说得太好了`` alone: positive 0.697)."""
    words = tokenizer.read_tags(words, vocab)
    if head.ignore_placeholders and tokenizer.social:
        from .textnorm import MENTION, PLACEHOLDERS

        joined = "".join(words)  # most texts hold none: one C-level scan each
        if any(p in joined for p in PLACEHOLDERS):
            words = [w for i, w in enumerate(words) if w not in PLACEHOLDERS
                     and not (w == "回复" and i + 1 < len(words) and words[i + 1] == MENTION)
                     and not (w == ":" and i and words[i - 1] == MENTION)]
    return words


def neutral_column(labels: Sequence[str], band: float) -> int | None:
    """The column of ``positive`` when a neutral band is asked for; None when it is off."""
    if not band:
        return None
    if sorted(labels) != ["negative", "positive"]:
        hint = ("; a model of two labels is trained with those names by --label-map (e.g. --label-map "
                "好评=positive,差评=negative)") if len(labels) == 2 else ""
        raise ZhseqError(f"a neutral band needs a negative/positive model; this one has labels {', '.join(labels)}"
                         + hint)
    return list(labels).index("positive")


NO_LABEL = {"label": None, "score": None}  # a text with nothing the model knows: empty, blank, unknown words


def sentiment_result(probs: Sequence[float], labels: Sequence[str], positive: int | None, band: float,
                     content: bool = True) -> dict:
    """One row of probabilities → {"label", "score"}: the most likely label (the first on a tie) and its
    probability; or, within 0.5 ± band of ``positive``, ``neutral`` scored 1 − |2·p − 1| (1 at p = 0.5);
    or, for a text without content, ``NO_LABEL`` (label and score None)."""
    if not content:
        return dict(NO_LABEL)
    if positive is not None and abs(probs[positive] - 0.5) <= band:
        return {"label": "neutral", "score": round(1.0 - abs(2.0 * probs[positive] - 1.0), 6)}
    best = max(range(len(probs)), key=probs.__getitem__)
    return {"label": labels[best], "score": round(probs[best], 6)}


def banned_ids(itos: Sequence[str], words_only: bool = False) -> list[int]:
    """Ids ``predict_next`` and ``generate`` must not propose: the special tokens and the social placeholders
    (``@用户``, ``<链接>``, ``//转发``: they stand for a mention, a link or a repost chain, and are no text to
    append); with ``words_only`` also every token with no letter or digit in it (punctuation, symbols,
    spaces), so that only words remain."""
    from .textnorm import PLACEHOLDERS

    banned = list(SPECIAL_IDS) + [i for i, w in enumerate(itos) if w in PLACEHOLDERS and i not in SPECIAL_IDS]
    if words_only:
        banned += [i for i in range(len(SPECIAL_IDS), len(itos)) if not any(ch.isalnum() for ch in itos[i])]
    return banned


def top_k(probs: np.ndarray, k: int, itos: Sequence[str]) -> list[list[dict]]:
    """(B, V) probabilities (banned ids already 0) → per row the k most likely tokens, most likely first
    (ties: the smaller id), as [{"token", "score"}]; never more than the tokens with a non-zero share."""
    n = min(k, probs.shape[1])
    top = np.argpartition(-probs, n - 1, axis=1)[:, :n]  # (B, n), unordered
    vals = np.take_along_axis(probs, top, 1)
    rank = np.lexsort((top, -vals), axis=1)
    top, vals = np.take_along_axis(top, rank, 1), np.take_along_axis(vals, rank, 1)
    return [[{"token": itos[i], "score": round(v, 6)} for v, i in zip(vs, ids) if v > 0]
            for vs, ids in zip(vals.tolist(), top.tolist())]


def checked_texts(texts, what: str = "texts") -> tuple[bool, Iterator[str]]:
    """(whether ``texts`` is one string, its texts in order, each checked as it is read): what every pipeline
    entry point accepts, one ``str`` or an iterable of them. ZhseqError, naming the item, for anything else:
    None, bytes (decode them first), a number, a missing value (pandas' NaN: drop or fill it first)."""
    if isinstance(texts, str):
        return True, iter([texts])
    if texts is None or isinstance(texts, (bytes, bytearray)) or not isinstance(texts, Iterable):
        raise ZhseqError(f"{what} must be a str or an iterable of str, not {_kind(texts)}")

    def each() -> Iterator[str]:
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise ZhseqError(f"{what}[{i}] is {_kind(text)}, not a str")
            yield text

    return False, each()


def _kind(value) -> str:
    if value is None:
        return "None"
    if isinstance(value, (bytes, bytearray)):
        return f"{type(value).__name__} (decode it first, e.g. .decode('utf-8'))"
    if isinstance(value, float) and value != value:
        return "NaN (a missing value: drop or fill it first)"
    return f"{type(value).__name__} {value!r}"[:80]


def join_tokens(tokens: Iterable[str]) -> str:
    """Words back to text: no spaces in Chinese, one space between two Latin or digit words."""
    out = ""
    for t in tokens:
        if out and out[-1].isascii() and out[-1].isalnum() and t[:1].isascii() and t[:1].isalnum():
            out += " "
        out += t
    return out


# -- the pipelines ------------------------------------------------------------------------------------------
class SentimentClassifier(Pretrained):
    """Text → {"label", "score"}: a BiLSTM (by default) over jieba words, pooled, a linear layer, and the
    linear n-gram half (``zhseq.ngrams``) mixed in."""

    task = "sentiment"

    def _check(self) -> None:
        check_label_names(self.config.get("labels"), self.head.num_labels)

    @property
    def labels(self) -> list[str]:
        return list(self.config["labels"])

    def preprocess(self, texts: Sequence[str]) -> tuple[list[list[str]], list[list[int]]]:
        """Texts → their tokens (``classifier_words``) and their truncated ids."""
        tokens = [classifier_words(self.tokenizer.cut(t), self.tokenizer, self.vocab, self.head) for t in texts]
        return tokens, [truncate(self.vocab.encode(t), self.head.max_tokens) for t in tokens]

    def predict_proba(self, texts: str | Sequence[str], *, content: bool = False,
                      batch_size: int = default_of(PredictConfig, "batch_size")):
        """(N, C) float32 probabilities of N texts (one string: N = 1), columns in ``self.labels`` order,
        scored ``batch_size`` texts at a time (memory grows with N only by the (N, C) result).

        A text that holds nothing the model knows (empty, blank, only unknown words and characters) gets a row
        of NaN, as it gets no label from ``__call__``. What it knows: a word of its vocabulary, or, for the
        n-gram half, an n-gram seen in training made of characters of the vocabulary's words (the characters
        are checked because the n-grams are hashed: most buckets were seen by some n-gram, so a bucket seen
        does not show that the n-gram was). With ``content``, also that (N,) bool mask, and the model's
        probabilities on every row, those texts' included (its prior on what it cannot read)."""
        check_prediction(batch_size=batch_size)
        texts = list(checked_texts(texts)[1])
        parts = [self._scored(batch)[2:] for batch in batched(texts, batch_size)]
        probs = np.concatenate([p for p, _ in parts]) if parts else np.zeros((0, len(self.labels)), np.float32)
        has = np.concatenate([h for _, h in parts]) if parts else np.zeros(0, bool)
        if content:
            return probs, has
        probs[~has] = np.nan
        return probs

    def _scored(self, texts: list[str]):
        """(tokens, ids, probabilities (N, C), content (N,)) of a batch of texts."""
        tokens, ids = self.preprocess(texts)
        engine = self.engine
        known = np.fromiter((any(i >= len(SPECIALS) for i in x) for x in ids), bool, len(ids))
        probs, has = sentiment_probabilities(engine.sentiment_logits(ids), tokens, self.head, engine.ngram_tables(),
                                             known)
        chars = self._vocabulary_characters
        has = known | (has & np.fromiter((any(c in chars for w in x for c in w) for x in tokens), bool, len(tokens)))
        return tokens, ids, probs, has

    @property
    def _vocabulary_characters(self) -> frozenset:
        if "_characters" not in self.__dict__:
            self._characters = frozenset("".join(self.vocab.itos[len(SPECIALS):]))
        return self._characters

    def explanation(self, tokens: list[str], ids: list[int], label: int) -> list[dict]:
        """One preprocessed text's explanation for column ``label``: [{"token", "weight"}] per token
        (``zhseq.explain``: (1 − w) · network + w · n-grams, both as the margin of ``label``'s logit over the
        others' mean; the tokens a long text's truncation skips get no network share)."""
        from . import explain

        positions = truncate(list(range(len(tokens))), self.head.max_tokens)  # the tokens behind ``ids``
        engine = self.engine
        return explain.explain(tokens, ids, positions, label, engine, self.head, engine.ngram_tables())

    def __call__(self, texts: str | Iterable[str], batch_size: int = default_of(PredictConfig, "batch_size"), *,
                 neutral_band: float = default_of(PredictConfig, "neutral_band"), explain: bool = False):
        """One text → one result; an iterable of texts → a list of results, in order (``predict_stream``).
        ZhseqError for a text that is not a str (None, bytes, NaN: ``checked_texts``)."""
        single, _ = checked_texts(texts)
        if single:
            return next(self.predict_stream([texts], neutral_band=neutral_band, explain=explain))
        return list(self.predict_stream(texts, batch_size=batch_size, neutral_band=neutral_band, explain=explain))

    def predict_stream(self, texts: Iterable[str], batch_size: int = default_of(PredictConfig, "batch_size"), *,
                       neutral_band: float = default_of(PredictConfig, "neutral_band"),
                       explain: bool = False) -> Iterator[dict]:
        """One result per text, in order, reading ``texts`` lazily (flat memory for huge inputs): {"label",
        "score"}, or {"label": None, "score": None} for a text without content (``predict_proba``).

        ``neutral_band`` (a negative/positive model only): when the positive probability lies within
        0.5 ± band, the label is ``neutral`` and the score is 1 − |2·p − 1| (1 at p = 0.5).

        ``explain``: each result also has ``"explanation"``, one {"token": word, "weight": float} per word of
        the text as the tokenizer cuts it, in order; [] for a text without a label (empty, blank, nothing
        known). A weight is in logit units: (1 − w) · network + w · n-grams, w = ``head.ngram_weight`` (0
        without an n-gram half), where the network's share is the drop in the margin of the explained label
        (its logit minus the mean of the others') when the word is left out, and the n-gram half's is its exact
        linear terms in that margin, each n-gram shared equally among the words it touches (``zhseq.explain``).
        Positive: for the label. The explained label is the most likely one (with a neutral band, the one
        ``neutral`` replaced). In a text longer than ``head.max_tokens`` words, the words ``truncate`` drops
        from the network's input get no network share (their n-gram share still counts). It costs the network
        T + 1 texts of up to T words for a text of T words (T ≤ ``max_tokens``), in one engine call.

        Raises ZhseqError for a batch size below 1 or a band outside [0, 0.5), and, when it is read, for a text
        that is not a str (``checked_texts``)."""
        check_prediction(batch_size=batch_size, neutral_band=neutral_band, explain=explain)
        labels = self.labels
        positive = neutral_column(labels, neutral_band)
        _, texts = checked_texts(texts)
        for batch in batched(texts, batch_size):
            tokens, ids, probs, content = self._scored(batch)
            for i, (p, c) in enumerate(zip(probs.tolist(), content.tolist())):
                result = sentiment_result(p, labels, positive, neutral_band, c)
                if explain:
                    best = max(range(len(p)), key=p.__getitem__)  # sentiment_result's label, the first on a tie
                    result["explanation"] = self.explanation(tokens[i], ids[i], best) if c else []
                yield result


class NextWordPredictor(Pretrained):
    """Prefix → the most likely next words; ``generate`` continues a text word by word."""

    task = "lm"

    def words(self, prefix: str) -> list[str]:
        """The prefix cut by the tokenizer, each word outside the vocabulary cut again into vocabulary words
        (the longest that matches from the left, else one character), so that ``今天天气`` is read as
        ``今天 天气`` rather than as one unknown word."""
        return _pieces(self._cut(prefix))

    def _cut(self, prefix: str) -> list[tuple[str, list[str]]]:
        """The prefix's words as the tokenizer cuts it, each with the vocabulary words it is read as
        (``words``): itself, or the pieces a word outside the vocabulary is cut into again."""
        vocab, out = self.vocab, []
        for word in self.tokenizer.cut(prefix):
            if word in vocab:
                out.append((word, [word]))
                continue
            pieces, i = [], 0
            while i < len(word):
                for j in range(min(len(word), i + self._longest), i, -1):  # ends at j = i + 1: one character
                    if word[i:j] in vocab:
                        break
                pieces.append(word[i:j])
                i = j
            out.append((word, pieces))
        return out

    @property
    def _longest(self) -> int:
        if "_longest_word" not in self.__dict__:
            self._longest_word = max(map(len, self.vocab.itos[len(SPECIALS):]), default=1)
        return self._longest_word

    def _ids(self, words: list[str]) -> list[int]:
        # the model was trained on windows of bptt words after <bos>: older context adds little
        return [BOS_ID] + self.vocab.encode(words)[-4 * self.head.bptt:]

    def preprocess(self, prefixes: Sequence[str]) -> list[list[int]]:
        """<bos> and the ids of the last 4·bptt words of each prefix (``words``)."""
        return [self._ids(self.words(p)) for p in prefixes]

    def _banned(self, words_only: bool) -> list[int]:
        cache = self.__dict__.setdefault("_banned_cache", {})  # a vocabulary of 30k words takes 10 ms to scan
        if words_only not in cache:
            cache[words_only] = banned_ids(self.vocab.itos, words_only)
        return cache[words_only]

    def extensions(self, stem: str) -> list[int]:
        """Ids of the vocabulary words that begin with ``stem`` and are longer (at most 1,000, by id: the
        most frequent first)."""
        if "_sorted_words" not in self.__dict__:
            self._sorted_words = sorted((w, i) for i, w in enumerate(self.vocab.itos) if i >= len(SPECIALS))
        table = self._sorted_words
        found, at = [], bisect.bisect_left(table, (stem, -1))
        while at < len(table) and table[at][0].startswith(stem):
            if len(table[at][0]) > len(stem):
                found.append(table[at][1])
            at += 1
        return sorted(found)[:1000]

    # how many of the prefix's last words the unfinished word may span: ``祝你生日快`` is cut 祝 | 你 | 生日 |
    # 快, and the word being typed is ``生日快乐`` (bench/completion.py measures 1, 2 and 3; 0 completes nothing)
    stem_words = 3

    def predict_next(self, prefix: str | Iterable[str], k: int = default_of(PredictConfig, "k"), *,
                     words_only: bool = False, batch_size: int = default_of(PredictConfig, "batch_size")):
        """What to append to each prefix, most likely first, with its probability: a next word, or the rest of
        the word being typed. A list of {"token", "score"} for one prefix, a list of such lists for several.

        A prefix that does not end in a space or punctuation may end in an unfinished word, made of its last
        j = 1 … ``stem_words`` words joined (``祝你生日快``: ``快``, or ``生日快`` of 生日快乐), the words as
        ``words`` reads them except that a Latin or digit word outside the vocabulary stays whole (``iPho`` is
        not the start of a word ``ho…``: ``_units``). Each reading is
        scored by the model as a path through the prefix: with c_j the prefix without its last j words,
        P(c_j) the model's probability of the words from c_J on (1 for the longest reading, J) and p(· | c)
        its next-word probabilities, a vocabulary word v that begins with the unfinished word of reading j
        (``extensions``) scores P(c_j) · p(v | c_j), and a next word x after the finished prefix scores
        P(c_0) · p(x | c_0); all are divided by their sum, and answers that append the same characters add
        up. With ``dictionary_words``, the words of the tokenizer's jieba dictionary outside the vocabulary are
        completed too (``我想吃涮羊`` → 肉 of 涮羊肉): such a word u, and a word of the prefix outside the
        vocabulary, has p(u | c) = p(<unk> | c) · f(u) / F, with f its jieba frequency and F the frequencies
        of all dictionary words outside the vocabulary (the unknown-word probability shared out by a
        unigram model); any other word outside the vocabulary (a number, a Latin word), and every one
        without ``dictionary_words``, counts as ``<unk>``. With ``stem_words`` 1
        and no dictionary words this is: the rest of v scores p(v) / Z and x scores p(w) / Z · p(x | prefix),
        Z = p(w) + Σ p(v), w the last word.
        Never ``<unk>``, ``<pad>``, ``<bos>``, ``<eos>`` or a social placeholder (``@用户``, ``<链接>``,
        ``//转发``: ``banned_ids``); ``words_only``: nor punctuation or symbols (tokens without a letter or
        digit). Raises ZhseqError for k or a batch size below 1, and for a prefix that is not a str
        (``checked_texts``)."""
        check_prediction(k=k, batch_size=batch_size, words_only=words_only)
        single, prefixes = checked_texts(prefix, "prefixes")
        results = []
        for batch in batched(prefixes, batch_size):
            results += self._answers(batch, [_units(self._cut(p)) for p in batch], k, bool(words_only))
        return results[0] if single else results

    def _answers(self, batch: Sequence[str], cuts: list, k: int, words_only: bool) -> list[list[dict]]:
        """``predict_next``'s answers for prefixes already cut (``_units(self._cut(prefix))`` each)."""
        banned = self._banned(words_only)
        spans = [self._stem_span(p, c) for p, c in zip(batch, cuts)]
        seqs = [self._ids(_pieces(c)) for c in cuts]
        seqs += [self._ids(_pieces(c[:-j])) for c, span in zip(cuts, spans) for j in range(1, span + 1)]
        probs = softmax(self.engine.next_logits(seqs))
        at = len(batch)
        results = []
        for row, c, span in zip(probs[: len(batch)], cuts, spans):
            extra = self._completions(row, [w for w, _ in c], probs[at: at + span]) if span else {}
            at += span
            row[banned] = 0.0
            results.append(self._top(row, extra, k, words_only))
        return results

    def _stem_span(self, prefix: str, cut: list[tuple[str, list[str]]]) -> int:
        """How many of the prefix's last words (``_units``) may form the unfinished word: those that hold a
        letter or digit and end the prefix with nothing between them (no space or punctuation), at most
        ``stem_words``."""
        if not cut or not prefix or not prefix[-1].isalnum():
            return 0
        tail = self.tokenizer.normalize(prefix)
        words = [w for w, _ in cut]
        span = 0
        while span < min(self.stem_words, len(words)) and any(c.isalnum() for c in words[-1 - span]):
            if not tail.endswith("".join(words[-1 - span:])):
                break
            span += 1
        return span

    # whether words of jieba's dictionary that are outside the vocabulary may be completed (bench/completion.py)
    dictionary_words = True

    def _dictionary(self):
        """``dictionary_table`` for this model, and the sum of its frequencies (on first use)."""
        if "_oov_words" not in self.__dict__:
            self._oov_words = dictionary_table(self.tokenizer, self.vocab.itos)
            self._oov_total = float(np.sum(self._oov_words[1]))
        return self._oov_words, self._oov_total

    def _dictionary_range(self, stem: str) -> tuple[int, int]:
        """[at, end): the rows of the dictionary table (``_dictionary``) whose words begin with ``stem``, the
        word ``stem`` itself first when it is one."""
        words = self._dictionary()[0][0]
        if len(stem) > words.dtype.itemsize // 4:  # longer than the longest word: nothing begins with it
            return 0, 0
        # the keys in the table's own dtype: another width would make numpy convert the whole (mapped) table
        at, end = np.searchsorted(words, np.array([stem, stem + "\U0010ffff"], dtype=words.dtype))
        return int(at), int(end)

    def _oov_extensions(self, stem: str) -> tuple[list[tuple[str, float]], float]:
        """The dictionary words outside the vocabulary that begin with ``stem`` and are longer: the 1,000 most
        frequent with their share of the unknown-word probability (frequency / the frequencies of all
        dictionary words outside the vocabulary), and the share of them all."""
        (words, freqs), total = self._dictionary()
        at, end = self._dictionary_range(stem)
        at += at < end and words[at] == stem  # the stem itself is no extension
        if end <= at or total <= 0:
            return [], 0.0
        shares = freqs[at:end] / total
        best = np.argsort(-shares, kind="stable")[:1000]
        return [(str(words[at + i]), float(shares[i])) for i in best], float(shares.sum())

    def _word_probability(self, probs: np.ndarray, word: str) -> float:
        """p(word | context) from the next-word probabilities. A word outside the vocabulary takes its share
        of ``<unk>``: with ``dictionary_words``, a word of the dictionary f(word) / F of it (as in
        ``predict_next``); any other (a number, a Latin word, a rare character) all of it."""
        i = self.vocab.stoi.get(word)
        if i is not None:
            return float(probs[i])
        share = 1.0
        if self.dictionary_words:
            (words, freqs), total = self._dictionary()
            at, end = self._dictionary_range(word)
            if at < end and words[at] == word and total > 0:
                share = freqs[at] / total
        return float(probs[UNK_ID]) * share

    def _completions(self, row: np.ndarray, words: list[str], before: np.ndarray) -> dict:
        """Mix the rest of the words that extend the unfinished word into ``row`` (the next words'
        probabilities after the whole prefix, scaled in place); ``before[j - 1]`` holds the next words'
        probabilities after the prefix without its last j words. Returns the completions that are no
        vocabulary word: {characters: probability}."""
        stoi = self.vocab.stoi
        found = []  # (completed word, unfinished word, probability before dividing by Z)
        unlisted = 0.0
        weight = 1.0  # P(c_j), from the longest reading down
        for j in range(len(before), 0, -1):
            stem, probs = "".join(words[-j:]), before[j - 1]
            found += [(self.vocab.itos[i], stem, weight * float(probs[i])) for i in self.extensions(stem)]
            if self.dictionary_words:
                unk = weight * float(probs[UNK_ID])
                best, share = self._oov_extensions(stem)
                found += [(w, stem, unk * s) for w, s in best]
                unlisted += unk * (share - sum(s for _, s in best))  # counted in Z, never proposed
            weight *= self._word_probability(probs, words[-j])  # P(c_{j-1}) = P(c_j) p(w_j | c_j)
        z = weight + unlisted + sum(p for _, _, p in found)  # weight is now P(c_0): the prefix finished
        if z <= 0.0:
            return {}
        row *= weight / z
        extra: dict = {}
        for word, stem, p in found:
            rest = word[len(stem):]
            j = stoi.get(rest)
            if j is not None and j >= len(SPECIALS):
                row[j] += p / z
            else:
                extra[rest] = extra.get(rest, 0.0) + p / z
        return extra

    def _top(self, row: np.ndarray, extra: dict, k: int, words_only: bool) -> list[dict]:
        """The k best of a row of probabilities over the vocabulary and of ``extra`` {characters: probability}."""
        best = top_k(row[None, :], k, self.vocab.itos)[0]
        if words_only:
            extra = {t: p for t, p in extra.items() if any(ch.isalnum() for ch in t)}
        if not extra:
            return best
        best += [{"token": t, "score": round(p, 6)} for t, p in extra.items() if p > 0]
        return sorted(best, key=lambda x: -x["score"])[:k]

    @staticmethod
    def _choose(p: np.ndarray, temperature: float, top_p: float, rng) -> int:
        """Temperature 0: the index of the largest entry of ``p`` (scores of any kind). Above 0 (``p``
        probabilities, the temperature already applied): one drawn with ``rng`` among the most likely that
        together hold ``top_p`` of the probability (the nucleus)."""
        if temperature <= 0:
            return int(p.argmax())
        order = np.argsort(-p, kind="stable")
        keep = order[: int(np.searchsorted(np.cumsum(p[order]), top_p)) + 1]
        return int(rng.choice(keep, p=p[keep] / p[keep].sum()))

    def generate(self, prefix: str | Iterable[str], n: int = default_of(PredictConfig, "n"), *,
                 temperature: float = default_of(PredictConfig, "temperature"),
                 top_p: float = default_of(PredictConfig, "top_p"),
                 repetition_penalty: float = default_of(PredictConfig, "repetition_penalty"),
                 no_repeat_ngram: int = default_of(PredictConfig, "no_repeat_ngram"),
                 seed: int | None = None) -> str | list[str]:
        """Continue ``prefix`` by up to ``n`` words (stops at a line end, after at least one word when n ≥ 1;
        never a special token or a social placeholder such as ``@用户``); returns the continuation only. Several
        prefixes: a list of continuations, each generated with ``seed`` on its own (as ``zhseq generate``).

        Each step scores the next word given the text so far; words already in the text have their logits
        divided by ``repetition_penalty`` (multiplied when negative; CTRL, Keskar et al., 2019); a word that
        would repeat a sequence of ``no_repeat_ngram`` words already in the text is never taken. Then
        ``temperature`` 0 takes the most likely word; above 0, the logits are divided by it and a word is
        sampled among the most likely ones that together hold ``top_p`` of the probability (nucleus
        sampling, Holtzman et al., 2020) with numpy's generator seeded by ``seed``. A prefix that may end in
        an unfinished word takes its first step from ``predict_next``'s answers (``祝你生日快`` → 乐, then
        the next words), with the same temperature and nucleus and without the repetition rules. Raises ZhseqError for
        settings out of range (n < 0, a temperature that is negative or not a number, top_p outside (0, 1],
        a penalty below 1), and for a prefix that is not a str (``checked_texts``)."""
        check_prediction(n=n, temperature=temperature, top_p=top_p, repetition_penalty=repetition_penalty,
                         no_repeat_ngram=no_repeat_ngram, seed=seed)
        single, prefixes = checked_texts(prefix, "prefixes")
        settings = dict(n=n, temperature=temperature, top_p=top_p, repetition_penalty=repetition_penalty,
                        no_repeat_ngram=no_repeat_ngram, seed=seed)
        results = [self._generate(p, **settings) for p in prefixes]
        return results[0] if single else results

    def _generate(self, prefix: str, n: int, temperature: float, top_p: float, repetition_penalty: float,
                  no_repeat_ngram: int, seed: int | None) -> str:
        rng = np.random.default_rng(seed)
        first = ""
        cut = _units(self._cut(prefix))
        if n > 0 and self._stem_span(prefix, cut):
            # the rest of the word being typed, or a next word
            answers = self._answers([prefix], [cut], 1000, False)[0]
            p = np.array([a["score"] for a in answers], dtype=np.float64)
            if p.sum() > 0:
                if temperature > 0:  # p ** (1 / T), in logs: a small T must not underflow every entry to 0
                    with np.errstate(divide="ignore"):  # log 0 = −inf: never drawn
                        p = tempered(np.log(p), temperature)
                first = answers[self._choose(p, temperature, top_p, rng)]["token"]
                n -= 1
        seq = self.preprocess([prefix + first])[0]
        # a line end may come and stop the continuation, but not as its first word (an empty answer)
        never = [i for i in self._banned(False) if i != EOS_ID]
        words = [first] if first else []
        window = 4 * self.head.bptt  # the context predict-next reads (_ids): each step costs the same, not more
        for _ in range(n):
            z = self.engine.next_logits([[BOS_ID] + seq[1:][-window:]])[0].astype(np.float64)
            seen = np.unique(seq[1:])
            if repetition_penalty != 1.0 and len(seen):
                z[seen] = np.where(z[seen] > 0, z[seen] / repetition_penalty, z[seen] * repetition_penalty)
            z[never] = -np.inf
            if not words:
                z[EOS_ID] = -np.inf
            z[repeating(seq[1:], no_repeat_ngram)] = -np.inf
            nxt = self._choose(tempered(z, temperature) if temperature > 0 else z, temperature, top_p, rng)
            if nxt == EOS_ID or not np.isfinite(z[nxt]):
                break
            seq.append(nxt)
            words.append(self.vocab.itos[nxt])
        return join_tokens(words)


def repeating(ids: Sequence[int], n: int) -> list[int]:
    """The ids that would end a repeat of an n-gram already in ``ids`` (after its last n − 1 ids); none for
    n < 1, or while ``ids`` is shorter than n − 1 (Hugging Face's ``no_repeat_ngram_size``)."""
    if n < 1 or len(ids) < n - 1:
        return []
    if n == 1:
        return list(set(ids))
    tail = tuple(ids[len(ids) - (n - 1):])
    return [ids[i + n - 1] for i in range(len(ids) - n + 1) if tuple(ids[i:i + n - 1]) == tail]


TASK_CLASSES = {"sentiment": SentimentClassifier, "lm": NextWordPredictor}


def _pieces(cut: list[tuple[str, list[str]]]) -> list[str]:
    """The vocabulary words of ``NextWordPredictor._cut``'s answer, in order."""
    return [piece for _, pieces in cut for piece in pieces]


def _units(cut: list[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
    """Where a word being typed may begin, for ``predict_next``: at every vocabulary word of a Chinese word
    cut again (Chinese is written without word boundaries: the typed characters of 生日快乐 may have joined
    the word before), but only at the start of a Latin or digit word outside the vocabulary (written as one
    word by the user: ``iPho`` is typed from its ``i``, never from its ``ho``)."""
    out = []
    for word, pieces in cut:
        if len(pieces) > 1 and not word.isascii():
            out += [(piece, [piece]) for piece in pieces]
        else:
            out.append((word, pieces))
    return out


def dictionary_table(tokenizer, itos: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The words of the tokenizer's jieba dictionary (user words included) that are not in ``itos``, sorted
    (a numpy string array), and their jieba frequencies (float64), for completing a word being typed.

    Built once (0.8 s, 100 MB at its peak for jieba's own 320,000 words) and kept in the per-user cache
    folder, beside jieba's (``zhseq.tokenizer.cache_dir``; 23 MB, named by a hash of the dictionary file, the user words and
    the vocabulary), from where later processes map it in a few milliseconds (``np.load(mmap_mode="r")``).
    A folder that cannot be written only costs the rebuild. A tokenizer with user words reads its jieba
    prefix dictionary (1 s more when its engine is rjieba); otherwise jieba's dictionary file is read as
    jieba reads it (a word listed twice keeps its last count)."""
    import hashlib
    import importlib.util

    from .tokenizer import _private_cache_dir

    # jieba's own file, found without importing jieba (7 MB) when the table is in the cache
    dict_file = Path(importlib.util.find_spec("jieba").origin).with_name("dict.txt")
    try:
        stat = dict_file.stat()
        source = f"{dict_file}:{stat.st_size}:{stat.st_mtime_ns}"
    except OSError:
        source = "?"
    key = hashlib.sha256("\n".join([source, *tokenizer.user_words, "", *itos]).encode("utf-8")).hexdigest()[:20]
    words_file = Path(_private_cache_dir()) / f"dictionary-{key}-words.npy"
    counts_file = words_file.with_name(f"dictionary-{key}-counts.npy")
    try:
        return np.load(words_file, mmap_mode="r"), np.load(counts_file, mmap_mode="r")
    except (OSError, ValueError):
        pass
    import jieba

    if tokenizer.user_words:
        freq = tokenizer.jieba.FREQ
    else:
        with jieba.get_dict_file() as f:
            freq = {w: int(c) for w, c, *_ in (line.split(" ") for line in
                                               f.read().decode("utf-8").splitlines() if line.strip())}
    known = set(itos)
    pairs = [(w, c) for w, c in freq.items() if c > 0 and w not in known]
    words = np.array([w for w, _ in pairs], dtype=str)
    order = np.argsort(words, kind="stable")
    words, counts = words[order], np.array([c for _, c in pairs], dtype=np.float64)[order]
    try:
        for target, array in ((counts_file, counts), (words_file, words)):  # words last: they mark it done
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                np.save(f, array)
            os.replace(tmp, target)
    except OSError:
        pass
    return words, counts


def load(path: str | os.PathLike | None = None, *, task: str | None = None, engine: str = "auto"):
    """A model folder (or a training output folder) → its ``SentimentClassifier`` or ``NextWordPredictor``.
    ``task`` ("sentiment" or "lm"), when given, must match the folder's; with no ``path`` it picks the
    default model shipped with zhseq. Raises ZhseqError as ``from_pretrained`` does."""
    from .checkpoint import read_config, resolve_model_dir

    if path is None:
        if task is None:
            raise ZhseqError("give a model folder or a task")
        return TASK_CLASSES[task].from_pretrained(None, engine=engine)
    found = read_config(resolve_model_dir(path)).get("task")
    if task is not None and found != task:
        raise ZhseqError(f"{path} holds a {found!r} model, not a {task!r} model")
    if found not in TASK_CLASSES:
        raise ZhseqError(f"unknown task {found!r} in {path}; choose one of: {', '.join(TASK_CLASSES)}")
    return TASK_CLASSES[found].from_pretrained(path, engine=engine)
