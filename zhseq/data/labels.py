"""Label names as a user's file holds them → the labels a model learns and is scored on.

:func:`tidy_labels` takes the stripped labels of the rows read (``read_labelled``) through, in order:

1. the **label map** (``--label-map 好评=positive,差评=negative``, ``label_map=`` in Python; :func:`label_map`);
2. **one label per word**: spellings that differ only in case or width (``Positive``, ``POSITIVE``,
   ``ｐｏｓｉｔｉｖｅ``) are one label, spelled as a model being fine-tuned or evaluated spells it, else as most
   rows spell it (on a tie: the lower-case spelling); one warning names the spellings merged;
3. **rare labels** (:func:`rare_labels`): a label with fewer than ``RARE_ROWS`` rows, or under ``RARE_SHARE``
   of them, while another label has at least ``RARE_RATIO`` times as many rows, is most often a typo
   (``postive``), and so is a label spelled nearly as one with at least ``CLOSE_RATIO`` times as many rows
   (difflib's similarity ≥ ``CLOSE_SIMILARITY``; names that differ only in digits, ``class_1``/``class_2``,
   or where one holds the other, ``满意``/``不满意``, are not); where the labels are training data it is refused, its rows listed, unless confirmed
   (``--allow-rare-labels``). So is a label column with more than ``MANY_LABELS`` labels, more than half
   as many as rows: that is text, not labels (the columns swapped);
4. **0/1**: when every label that is not rare is ``0`` or ``1``, those rows become ``negative``/``positive``
   (a rare label that was confirmed, such as a stray ``11``, stays itself); a label map none of whose entries
   names a label of the rows applies to those names then (``negative=positive,positive=negative`` swaps a 0/1
   file's labels).

A label map with an entry that names no label, while a label is left unmapped, gets one warning (``好坪=…``:
a typo, and 好评 trained on as itself).
"""

from __future__ import annotations

import difflib
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence

from zhseq.errors import ZhseqError

logger = logging.getLogger(__name__)

RARE_ROWS = 5  # a label with fewer rows than this …
RARE_SHARE = 0.001  # … or with fewer than this share of the rows …
RARE_RATIO = 5  # … is rare when another label has at least this many times as many rows
CLOSE_SIMILARITY = 0.8  # a label this similar to another (difflib's ratio: postive/positive 0.93) …
CLOSE_RATIO = 2  # … with at least this many times as many rows is rare too
MANY_LABELS = 50  # more labels than this, and more than half as many as rows: a text column, not labels

ALLOW_RARE_OPTION = "--allow-rare-labels"
_SHOWN_ROWS = 3  # rows listed per rare label


def fold(label: str) -> str:
    """The form two spellings of one label share: Unicode NFKC (full-width letters and digits as ASCII), then
    case-folded."""
    return unicodedata.normalize("NFKC", label).casefold()


def label_map(value) -> dict[str, str] | None:
    """A label map as ``tidy_labels`` takes it: ``{"好评": "positive", …}`` from a mapping, or from text as the
    command line takes it, ``好评=positive,差评=negative`` (a full-width ``，`` or ``＝`` also separates; a
    trailing comma is fine). None or an empty mapping: None. Names are stripped.

    Raises ZhseqError, in one line, for anything else: an item without ``=``, an empty name, one label mapped
    twice to different names, a mapping whose keys or values are not strings."""
    if value is None:
        return None
    pairs: list[tuple[object, object]]
    if isinstance(value, str):
        pairs = []
        for item in value.replace("，", ",").replace("＝", "=").split(","):
            if not item.strip():
                continue
            if "=" not in item:
                raise ZhseqError(f"label map item {item.strip()!r} is not FROM=TO (for example "
                                 "好评=positive,差评=negative)")
            pairs.append(tuple(item.split("=", 1)))
    elif isinstance(value, Mapping):
        pairs = list(value.items())
    else:
        raise ZhseqError(f"a label map is a dict of label names ({{'好评': 'positive'}}) or text "
                         f"('好评=positive,差评=negative'), not {type(value).__name__}")
    mapping: dict[str, str] = {}
    for old, new in pairs:
        if not isinstance(old, str) or not isinstance(new, str):
            raise ZhseqError(f"a label map maps label names to label names (strings), not {old!r} to {new!r}")
        old, new = old.strip(), new.strip()
        if not old or not new:
            raise ZhseqError(f"label map item {old + '=' + new!r} has an empty label name")
        if mapping.get(old, new) != new:
            raise ZhseqError(f"the label map maps {old!r} twice, to {mapping[old]!r} and to {new!r}")
        mapping[old] = new
    return mapping or None


def tidy_labels(labels: Sequence[str], rows: Sequence[str] | None = None, *, mapping: Mapping[str, str] | None = None,
                prefer: Sequence[str] = (), allow_rare: bool = True, source: str | None = None) -> list[str]:
    """The labels a model learns from the stripped labels of the rows read, by the steps of this module's
    docstring. ``rows``: where each label is (``"train.csv line 8"``), for the error about rare labels.
    ``mapping``: a label map (:func:`label_map`), matched exactly, else ignoring case and width. ``prefer``:
    the spellings to merge into (a model's labels). ``allow_rare``: keep rare labels (False: refuse them).
    ``source``: the file name(s) the warning about merged spellings begins with.

    Raises ZhseqError, in one line, when ``allow_rare`` is false and a label is rare: each such label with
    its row count, its first rows and the label it resembles, and the option that keeps them."""
    labels = list(labels)  # every step renames the few distinct labels, then the rows
    unmatched = []  # the map's entries that name no label of the rows
    if mapping:
        folded = {fold(k): v for k, v in mapping.items()}
        present = {fold(y) for y in labels}
        unmatched = [k for k in mapping if fold(k) not in present]
        labels = _renamed(labels, {y: mapping.get(y) or folded.get(fold(y), y) for y in set(labels)})
        left = sorted({y for y in labels if y not in mapping.values()})
        if unmatched and left and len(unmatched) < len(mapping):  # a typo in the map: a label kept as it is
            logger.warning("%slabel map entr%s %s match%s no label; %s kept as %s %s", f"{source}: " if source else "",
                           "ies" if len(unmatched) > 1 else "y", ", ".join(unmatched),
                           "" if len(unmatched) > 1 else "es", ", ".join(left), "they are" if len(left) > 1 else "it is",
                           "(a typo in --label-map?)")
    labels = _merge_spellings(labels, prefer, source)
    counts = Counter(labels)
    if len(counts) > MANY_LABELS and 2 * len(counts) > len(labels) and not allow_rare:
        examples = ", ".join(repr(y[:20] + ("…" if len(y) > 20 else "")) for y in list(counts)[:3])
        raise ZhseqError(f"{len(counts):,} different labels in {_rows(len(labels))} ({examples}, …): a label column "
                         "names a few classes, so this looks like a text column; are the columns swapped? Name "
                         f"them with --text-column and --label-column, or keep these labels with {ALLOW_RARE_OPTION} "
                         "(allow_rare_labels=True in Python)")
    rare = rare_labels(counts)
    if rare and not allow_rare:
        raise ZhseqError(_rare_message(labels, rows, counts, rare))
    common = {fold(y) for y in counts if y not in rare}
    if common and common <= {"0", "1"}:
        names = {"0": "negative", "1": "positive"}
        labels = _renamed(labels, {y: names.get(fold(y), y) for y in counts if y not in rare})
        if mapping and len(unmatched) == len(mapping):  # the map names what 0/1 are read as: it applies to those
            labels = _renamed(labels, {y: mapping.get(y, y) for y in set(labels)})
    return labels


def _renamed(labels: list[str], names: Mapping[str, str]) -> list[str]:
    return labels if all(k == v for k, v in names.items()) else [names.get(y, y) for y in labels]


def rare_labels(counts: Mapping[str, int]) -> list[str]:
    """The labels that look like typos: fewer than ``RARE_ROWS`` rows, or under ``RARE_SHARE`` of all rows, while
    another label has at least ``RARE_RATIO`` times as many; or spelled nearly as another label
    (``_close_to``) that has at least ``CLOSE_RATIO`` times as many rows. Most frequent first."""
    if not counts:
        return []
    total, largest = sum(counts.values()), max(counts.values())
    return sorted((y for y, n in counts.items() if (n < RARE_ROWS or n < RARE_SHARE * total)
                   and largest >= RARE_RATIO * n
                   or any(m >= CLOSE_RATIO * n and _close_to(y, other) for other, m in counts.items())),
                  key=lambda y: (-counts[y], y))


_PARTS = re.compile(r"([\s_\-./:|]+)")  # what joins the parts of a label such as intent_weather or book-flight


def _differing_parts(label: str, other: str) -> tuple[str, str]:
    """The two labels without the parts they share at the start and at the end, parts being what separators
    (``_``, ``-``, ``.``, ``/``, ``:``, ``|``, spaces) join: ``intent_alarm`` and ``intent_calendar`` →
    ``alarm`` and ``calendar``. A label of one part is returned whole."""
    a, b = _PARTS.split(label), _PARTS.split(other)
    start = 0
    while start < min(len(a), len(b)) - 1 and a[start] == b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - 1 - start and a[-1 - end] == b[-1 - end]:
        end += 1
    return "".join(a[start:len(a) - end]), "".join(b[start:len(b) - end])


def _close_to(label: str, other: str) -> bool:
    """``label`` reads as a misspelling of ``other``: similar (difflib's ratio ≥ ``CLOSE_SIMILARITY``) where they
    differ (a shared prefix such as ``intent_`` aside: ``_differing_parts``; ``intent_alarm`` and
    ``intent_calendar`` are two classes), not one inside the other (``满意`` and ``不满意``, ``happy`` and
    ``unhappy`` are opposites) and not only in digits (``class_1`` and ``class_2`` are two classes)."""
    if label in other or other in label:
        return False
    label, other = _differing_parts(label, other)
    if label in other or other in label or difflib.SequenceMatcher(None, label, other).ratio() < CLOSE_SIMILARITY:
        return False
    strip = str.maketrans("", "", "0123456789０１２３４５６７８９")
    return label.translate(strip) != other.translate(strip)


def _merge_spellings(labels: list[str], prefer: Sequence[str], source: str | None) -> list[str]:
    """Spellings that differ only in case or width → one (the preferred one, else the most frequent, on a tie
    the lower-case one); one warning naming the merged spellings."""
    spellings: dict[str, Counter] = {}
    for y, n in Counter(labels).items():
        spellings.setdefault(fold(y), Counter())[y] = n
    preferred = {fold(p): p for p in prefer}
    chosen: dict[str, str] = {}
    said = []
    for key, counter in spellings.items():
        if key in preferred:
            target = preferred[key]
        elif len(counter) == 1:
            continue
        else:
            target = min(counter, key=lambda s: (-counter[s], s != s.lower(), s))
        merged = {s: n for s, n in counter.items() if s != target}
        if not merged:
            continue
        chosen.update(dict.fromkeys(merged, target))
        parts = [f"{s!r} ({_rows(n)})" for s, n in sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))]
        said.append((target, f"{', '.join(parts)} → {target!r}"))
    if not said:
        return labels
    logger.warning("%slabels that differ only in case or width are one label: %s", f"{source}: " if source else "",
                   "; ".join(text for _, text in sorted(said)))
    return _renamed(labels, chosen)


def _rare_message(labels, rows, counts, rare) -> str:
    common = [y for y in sorted(counts, key=lambda y: (-counts[y], y)) if y not in rare]
    described = []
    for y in rare:
        where = [rows[i] for i, label in enumerate(labels) if label == y][:_SHOWN_ROWS + 1] if rows else []
        shown = ", ".join(where[:_SHOWN_ROWS]) + (", …" if len(where) > _SHOWN_ROWS else "")
        close = difflib.get_close_matches(y, common, n=1, cutoff=0.6)
        described.append(f"{y!r} ({_rows(counts[y])}{': ' + shown if shown else ''}"
                         f"{'; close to ' + repr(close[0]) if close else ''})")
    others = ", ".join(f"{y!r} ({_rows(counts[y])})" for y in common[:5]) + (", …" if len(common) > 5 else "")
    return (f"{'a label' if len(rare) == 1 else f'{len(rare)} labels'} held by very few rows, maybe a typo: "
            f"{', '.join(described)}, beside {others}; correct the file (or use --label-map), or keep "
            f"{'it' if len(rare) == 1 else 'them'} with {ALLOW_RARE_OPTION} (allow_rare_labels=True in Python)")


def _rows(n: int) -> str:
    return f"{n:,} row" + ("" if n == 1 else "s")
