"""The TF-IDF features of bench/'s linear baselines (`tfidf_baseline.py`, `domain_dev.py`): one definition, so
that their TF-IDF + logistic-regression numbers are of the same features.

Texts are cut by zhseq's Tokenizer (jieba, HMM off) and joined with spaces; the word vectorizer splits that
string on whitespace (1-2-grams), the character one reads the same string, spaces included (1-3-grams).
Both use sublinear tf and scikit-learn's other defaults (lowercase, l2 norm, smooth idf). Needs scikit-learn.
"""


def jieba_words(tok, texts) -> list[str]:
    """Each text as its words joined by single spaces, the input `vectorizer` expects.

    tok: a ``zhseq.tokenizer.Tokenizer``; texts: an iterable of ``str``. Returns one ``str`` per text."""
    return [" ".join(tok.cut(t)) for t in texts]


def vectorizer(*, chars: bool = True, min_df: int = 2):
    """An unfitted scikit-learn transformer, space-joined words in → sparse TF-IDF rows out (n_texts, n_features).

    Word 1-2-grams (``token_pattern=r"\\S+"``), plus, with ``chars``, character 1-3-grams of the same string in
    a ``FeatureUnion`` (word columns first). ``min_df``: the fewest training texts a term must occur in to be
    kept (2 on thousands of texts; `domain_dev.py` uses 1 for its 500-label sets)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    words = TfidfVectorizer(token_pattern=r"\S+", ngram_range=(1, 2), min_df=min_df, sublinear_tf=True)
    if not chars:
        return words
    return FeatureUnion([("w", words),
                         ("c", TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=min_df, sublinear_tf=True))])
