"""segment, sentiment, predict-next, generate: texts in, one result line per text out."""

import functools
import itertools
import os

import click
from zhseq.cli import cli, output
from zhseq.cli.options import (
    _batch_size_option,
    predict_option,
    _format_option,
    _input_options,
    _model_option,
    _open_output,
    _output_option,
    _paired,
    check_emoji_options,
    _plan_workers,
    _read_texts,
    _workers_option,
)

# ---------------------------------------------------------------------------------------------
# Prediction


@cli.command()
@click.argument("texts", nargs=-1, metavar="[TEXT]...")
@_input_options
@_output_option
@_format_option("text", "jsonl")
@click.option("--hmm/--no-hmm", default=False, show_default=True, help="Let jieba's HMM join unknown words.")
@click.option("--user-dict", "user_dicts", multiple=True, metavar="FILE", help="jieba user dictionary (repeatable).")
@click.option("--t2s", is_flag=True, help="Read traditional characters as simplified (OpenCC; needs: pip install "
                                          "'zhseq[t2s]'), as models trained with --t2s read them.")
@click.option("--emoji/--no-emoji", default=False, show_default=True,
              help="Emoji as their Chinese names (👍 → 拇指 向上), as models trained with --emoji read them.")
@click.option("--emoji-keywords", is_flag=True,
              help="With --emoji: emoji as their Unicode CLDR keywords (👍 → 同意 好 … 赞), as models trained with "
                   "--emoji-keywords (the shipped sentiment model) read them.")
@click.option("--social/--no-social", default=False, show_default=True,
              help="@mentions and links as @用户 and <链接>, //@ reposts as //转发, [哈哈] tags as one token, "
                   "#topic# marks dropped, as models trained with --social read them.")
def segment(texts, input_path, text_column, encoding, output_path, fmt, hmm, user_dicts, t2s, emoji, emoji_keywords,
            social):
    """Split Chinese text into words.

    Prints one line per text: its words separated by single spaces.

    \b
    Examples:
      zhseq segment "我爱自然语言处理"
        -> 我 爱 自然语言 处理
      zhseq segment --input news.txt --format jsonl > words.jsonl
      zhseq segment --input news.parquet --output words.parquet
      zhseq segment --emoji --social "//@李四:音质绝了👍[哈哈]"
        -> //转发 @用户 音质 绝 了 拇指 向上 [哈哈]
    """
    from zhseq.tokenizer import Tokenizer

    check_emoji_options(emoji, emoji_keywords)
    items = _read_texts(texts, input_path, text_column, encoding)
    tokenizer = Tokenizer(hmm=hmm, user_dicts=tuple(user_dicts), encoding=encoding, t2s=t2s, emoji=emoji,
                          social=social, emoji_keywords=emoji_keywords)
    write, fmt = _open_output(output_path, fmt, every=256)
    shown, fed = itertools.tee(items)
    for text, tokens in _paired(shown, tokenizer.cut_many(fed)):
        if fmt == "jsonl":
            write(output.json_line({"text": text, "tokens": tokens}))
        else:
            write(" ".join(tokens))


@cli.command()
@click.argument("texts", nargs=-1, metavar="[TEXT]...")
@_input_options
@_output_option
@_model_option("Sentiment")
@_format_option("text", "jsonl", "tsv")
@_batch_size_option()
@_workers_option
@predict_option("neutral_band", "--neutral-band", metavar="X")
@click.option("--explain", is_flag=True,
              help="Weigh each word's part in the label (about one forward pass per word). text: the words "
                   "coloured on a terminal (green for the label, red against it, bold the strongest; no colour "
                   "when piped or NO_COLOR is set), then the 3 weightiest words; jsonl: an \"explanation\" list of "
                   "{\"token\", \"weight\"}; tsv: that list as JSON in a 4th column.")
def sentiment(texts, input_path, text_column, encoding, output_path, model, fmt, batch_size, workers,
              neutral_band, explain):
    """Label the sentiment of each text.

    Prints one line per text: label, score (the probability of that label) and the text.

    With --explain, each word of the text gets a weight: its share of the margin of the label's logit over
    the others', in logit units (the network's with the word left out, the n-gram half's exact terms, mixed
    as the model mixes its halves; positive speaks for the label). A text without a label has none.

    \b
    Examples:
      zhseq sentiment --model runs/cs "这家餐厅的菜很好吃，服务也周到" "等了一个小时，太失望了"
        -> positive  0.987  这家餐厅的菜很好吃，服务也周到
           negative  0.979  等了一个小时，太失望了
         (runs/cs: zhseq train sentiment --data corpora/chnsenticorp/train.tsv.gz
          --dev corpora/chnsenticorp/dev.tsv.gz --out runs/cs)
      zhseq sentiment --model runs/reviews --input comments.txt --format tsv > labels.tsv
      cat comments.txt | zhseq sentiment --format jsonl --neutral-band 0.1
      zhseq sentiment --model runs/reviews --input big.txt --workers 4 > labels.txt
      zhseq sentiment --input reviews.parquet --text-column 评论 --output labels.parquet
      zhseq sentiment --explain "等了一个小时，太失望了"
        -> negative  0.980  等 了 一个 小时 , 太 失望 了  失望 +4.305  太 +1.317  了 +1.266
    """
    from zhseq.parallel import predict_in_processes
    from zhseq.pipeline import load  # numpy engine for the built-in cells: no torch on the prediction path

    items = _read_texts(texts, input_path, text_column, encoding)
    classifier = load(model, task="sentiment")
    workers, items = _plan_workers(workers, items, batch_size)
    write, fmt = _open_output(output_path, fmt, every=batch_size)
    if fmt == "tsv":
        write("label\tscore\ttext" + ("\texplanation" if explain else ""))
    # tee keeps the texts whose results are still to come (one batch; 2 per worker with --workers) in memory,
    # to print them next to their results.
    shown, fed = itertools.tee(items)
    options = {"neutral_band": neutral_band, "explain": explain}
    if workers > 1:
        results = predict_in_processes(classifier.path, fed, task="sentiment", workers=workers,
                                       batch_size=batch_size, **options)
    else:
        results = classifier.predict_stream(fed, batch_size=batch_size, **options)
    if explain and fmt == "text":
        color = click.get_current_context().color
        if color is None and os.environ.get("NO_COLOR"):  # https://no-color.org; click strips codes off a tty
            color = False
        write = functools.partial(click.echo, color=color, file=getattr(write, "stream", None))  # stdout or --output
    for text, result in _paired(shown, results):
        if fmt == "jsonl":
            write(output.json_line({"text": text, "label": result["label"], "score": result["score"],
                                    **({"explanation": result["explanation"]} if explain else {})}))
            continue
        label, score = (result["label"], output.score(result["score"])) if result["label"] is not None else ("-", "-")
        if not explain:
            write(f"{label}\t{score}\t{output.one_line(text)}")
        elif fmt == "tsv":
            write(f"{label}\t{score}\t{output.one_line(text)}\t{output.json_line(result['explanation'])}")
        elif result["explanation"]:
            write(f"{label}\t{score}\t{_coloured_words(result['explanation'])}\t{_weightiest(result['explanation'])}")
        else:
            write(f"{label}\t{score}\t{output.one_line(text)}\t")


def _coloured_words(explanation):
    """The words separated by spaces, styled by weight: green for the label, red against it, bold at half the
    largest |weight| or more, plain under a tenth of it (click strips the codes where there is no colour)."""
    top = max((abs(x["weight"]) for x in explanation), default=0.0)
    words = []
    for x in explanation:
        word, strength = output.one_line(x["token"]), abs(x["weight"]) / top if top else 0.0
        if strength >= 0.1:
            word = click.style(word, fg="green" if x["weight"] > 0 else "red", bold=True if strength >= 0.5 else None)
        words.append(word)
    return " ".join(words)


def _weightiest(explanation, n=3):
    """The ``n`` words of largest |weight|, largest first, with their signed weights (``好吃 +1.802``)."""
    top = sorted((x for x in explanation if x["weight"]), key=lambda x: -abs(x["weight"]))[:n]
    return "  ".join(f"{output.one_line(x['token'])} {x['weight']:+.3f}" for x in top)


@cli.command("predict-next")
@click.argument("prefixes", nargs=-1, metavar="[PREFIX]...")
@_input_options
@_output_option
@_model_option("Language")
@predict_option("k", "-k", "--top-k")
@click.option("--words-only", is_flag=True,
              help="Propose words only: no punctuation or symbols (tokens without a letter or digit).")
@_format_option("text", "jsonl")
@_batch_size_option()
@_workers_option
def predict_next(prefixes, input_path, text_column, encoding, output_path, model, k, words_only, fmt, batch_size,
                 workers):
    """Show what is most likely to follow each prefix: a next word, or the rest of the word being typed.

    Prints one line per prefix: the prefix, a tab, then K answers with their probabilities. An answer is
    what to append: after 祝你生日快 it is 乐 (the rest of 生日快乐); after a space or punctuation, next
    words only.

    \b
    Examples:
      zhseq predict-next --model runs/pd "中国人民" -k 3
        (runs/pd: zhseq train lm --data corpora/peoples_daily/train.txt.gz --out runs/pd)
      zhseq predict-next --model runs/lm --input prefixes.txt --format jsonl --workers 4
      zhseq predict-next --words-only "祝你生日"
      zhseq predict-next --input prefixes.parquet --output next.parquet
    """
    from zhseq.data import batched
    from zhseq.parallel import predict_in_processes
    from zhseq.pipeline import load  # numpy engine for the built-in cells: no torch on the prediction path

    items = _read_texts(prefixes, input_path, text_column, encoding)
    predictor = load(model, task="lm")
    workers, items = _plan_workers(workers, items, batch_size)
    write, fmt = _open_output(output_path, fmt, every=batch_size)
    shown, fed = itertools.tee(items)
    if workers > 1:
        results = predict_in_processes(predictor.path, fed, task="lm", workers=workers, batch_size=batch_size, k=k,
                                       words_only=words_only)
    else:
        results = itertools.chain.from_iterable(predictor.predict_next(c, k=k, words_only=words_only,
                                                                       batch_size=batch_size)
                                                for c in batched(fed, batch_size))
    for text, predictions in _paired(shown, results):
        if fmt == "jsonl":
            write(output.json_line({"text": text, "predictions": predictions}))
        else:
            words = "  ".join(f"{p['token']} {output.score(p['score'])}" for p in predictions)
            write(f"{output.one_line(text)}\t{words}")


@cli.command()
@click.argument("prefixes", nargs=-1, metavar="[PREFIX]...")
@_input_options
@_output_option
@_model_option("Language")
@_format_option("text", "jsonl")
@predict_option("n", "-n", "--words")
@predict_option("temperature", "--temperature")
@predict_option("top_p", "--top-p")
@predict_option("repetition_penalty", "--repetition-penalty")
@predict_option("no_repeat_ngram", "--no-repeat-ngram")
@predict_option("seed", "--seed")
def generate(prefixes, input_path, text_column, encoding, output_path, model, fmt, n, temperature, top_p,
             repetition_penalty, no_repeat_ngram, seed):
    """Continue each prefix with generated words.

    Prints the text generated after each PREFIX (or each line of --input), up to N words, one line per
    prefix; --format jsonl: {"text": prefix, "generated": continuation}. With --seed, each prefix is
    generated with that seed, so a line does not depend on the others.

    \b
    Examples:
      zhseq generate "今天天气" -n 10
      zhseq generate "我们明天" --model runs/lm --temperature 0.8 --seed 1
      zhseq generate --input prefixes.txt --format jsonl -n 20
    """
    from zhseq.pipeline import load

    items = _read_texts(prefixes, input_path, text_column, encoding)
    predictor = load(model, task="lm")
    write, fmt = _open_output(output_path, fmt, every=1)
    for prefix in items:
        text = predictor.generate(prefix, n=n, temperature=temperature, top_p=top_p,
                                  repetition_penalty=repetition_penalty, no_repeat_ngram=no_repeat_ngram, seed=seed)
        if fmt == "jsonl":
            write(output.json_line({"text": prefix, "generated": text}))
        else:
            write(output.one_line(text))
