"""Build ``zhseq/emoji_keywords_zh.json``: the Chinese keywords Unicode CLDR gives each emoji.

Source: the annotations of Unicode CLDR (the Common Locale Data Repository), as the Unicode Consortium
publishes them on npm: ``npm pack cldr-annotations-full`` (zhseq's file: version 48.2.0, CLDR 48, Unicode
16.0), file ``package/annotations/zh/annotations.json``. Licence: Unicode License v3
(``zhseq/emoji_keywords_zh.LICENSE``, CLDR's ``LICENSE`` verbatim). No Python package keeps these keywords;
the ``emoji`` package keeps only CLDR's short name (👍 → 拇指向上), which is the tokenizer's ``emoji`` reading.

Output: ``{"source": …, "keywords": {emoji: [keyword, …]}}``, for the emoji that the ``emoji`` package knows
(without skin tones and variation selectors, as the tokenizer looks them up), in code-point order, each emoji's
keywords in CLDR's order (its ``default`` list), UTF-8, one line per emoji: rebuilt byte for byte.

Usage: python corpora/build_emoji_keywords.py package/annotations/zh/annotations.json [package/LICENSE]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "zhseq/emoji_keywords_zh.json"
_BARE = re.compile("[\U0001F3FB-\U0001F3FF\uFE0E\uFE0F]")  # skin tones and variation selectors, as zhseq.textnorm drops them


def main() -> None:
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__.rsplit("Usage: ", 1)[1])
    source = Path(sys.argv[1])
    data = json.loads(source.read_text(encoding="utf-8"))["annotations"]
    identity = data["identity"]["language"]
    if identity != "zh":
        sys.exit(f"{source}: annotations of {identity!r}, not 'zh'")
    package = json.loads((source.parent.parent.parent / "package.json").read_text(encoding="utf-8"))
    import emoji as emoji_package  # kept: what the tokenizer finds as an emoji (CLDR annotates ! and + too)

    known = {_BARE.sub("", e) for e in emoji_package.EMOJI_DATA}
    keywords = {emoji: entry["default"] for emoji, entry in sorted(data["annotations"].items())
                if entry.get("default") and emoji in known}
    header = {"source": f"Unicode CLDR {package['cldrVersion']} annotations, zh (npm cldr-annotations-full "
                        f"{package['version']}, Unicode {package['unicodeVersion']})",
              "licence": package["license"]}
    lines = [json.dumps(e, ensure_ascii=False) + ": " + json.dumps(k, ensure_ascii=False)
             for e, k in keywords.items()]
    text = ("{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in header.items())
            + ', "keywords": {\n' + ",\n".join(lines) + "\n}}\n")
    assert json.loads(text)["keywords"] == keywords
    OUT.write_text(text, encoding="utf-8")
    if len(sys.argv) == 3:
        (ROOT / "zhseq/emoji_keywords_zh.LICENSE").write_bytes(Path(sys.argv[2]).read_bytes())
    print(f"{OUT.relative_to(ROOT)}: {len(keywords)} emoji, {OUT.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
