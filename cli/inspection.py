"""evaluate and info: scores and descriptions of models."""


import click
from zhseq.cli import cli, output
from zhseq.cli.options import (
    _batch_size_option,
    _column_options,
    _format_option,
    _label_map_option,
)
from zhseq.cli.train import device_option

# ---------------------------------------------------------------------------------------------
# Evaluation and inspection


@cli.command("evaluate")
@click.argument("model_dir", metavar="MODEL_DIR")
@click.option("--data", required=True, multiple=True, metavar="FILE",
              help="Labelled table (sentiment) or plain text (lm); repeat it to score several files as one.")
@_format_option("text", "json")
@_column_options
@_label_map_option
@_batch_size_option()
@click.option(
    "--plot",
    "plot_path",
    metavar="FILE",
    help="Also draw the confusion matrix (sentiment) to FILE, a .png, .svg or .pdf. "
    "Needs matplotlib: pip install 'zhseq[plot]'.",
)
@device_option(help="Where the model runs: auto (a CUDA GPU when torch sees one, else the CPU), cpu, cuda, "
                    "cuda:N, or mps (Apple GPU, only when asked).")
def evaluate_command(model_dir, data, fmt, text_column, label_column, encoding, label_map, batch_size, plot_path,
                     device):
    """Score a model on held-out data.

    Sentiment: accuracy, macro-F1, per-label precision/recall/F1 and the confusion matrix.
    lm: perplexity and how often the next word is the top-1 / in the top-5 guesses.
    On the CPU a sentiment model is scored exactly as `zhseq sentiment` labels; on a GPU
    (--device) by the torch engine there, the same up to float rounding.

    \b
    Examples:
      zhseq evaluate runs/reviews --data reviews-test.tsv
      zhseq evaluate runs/reviews --data reviews-test.tsv --plot confusion.png
      zhseq evaluate sentiment --data comments.csv --label-map 好评=positive,差评=negative
      zhseq evaluate runs/lm --data news-test.txt --format json
      zhseq evaluate runs/lm --data news-test.txt --device cuda
    """
    from zhseq import evaluation, plots

    if plot_path is not None:
        plots.check_path(plot_path)  # a bad file name fails now, not after the evaluation
    metrics = evaluation.evaluate(
        model_dir, list(data), text_column=text_column, label_column=label_column, encoding=encoding,
        label_map=label_map, batch_size=batch_size, device=device,
    )
    if fmt == "json":
        click.echo(output.json_document(metrics))
    elif metrics.get("task") == "lm":
        click.echo("\n".join(_lm_report(metrics)))
    else:
        click.echo("\n".join(_sentiment_report(metrics)))
    if plot_path is not None:
        _plot_confusion(metrics, plot_path)


def _plot_confusion(metrics, path):
    """Draw ``evaluate --plot``; without matplotlib, or for an lm, say why not (the scores are printed)."""
    from zhseq import plots

    if metrics.get("task") == "lm":
        click.echo("no plot drawn: a language model has no confusion matrix", err=True)
    elif not plots.available():
        click.echo(f"confusion matrix not drawn: {plots.INSTALL_HINT}", err=True)
    else:
        click.echo(f"confusion matrix drawn to {plots.confusion_matrix(metrics, path)}", err=True)


def _sentiment_report(m):
    labels = m["labels"]
    lines = output.table(
        [
            ["examples", output.thousands(m["n"])],
            ["accuracy", f"{m['accuracy']:.4f}"],
            ["macro-F1", f"{m['macro_f1']:.4f}"],
        ]
        + ([["no label", f"{output.thousands(m['no_label'])} (texts without content, counted as errors)"]]
           if m.get("no_label") else [])
    )
    per_label = [["label", "precision", "recall", "F1", "support"]]
    for label in labels:
        s = m["per_label"][label]
        per_label.append([label, f"{s['precision']:.4f}", f"{s['recall']:.4f}", f"{s['f1']:.4f}", s["support"]])
    lines += [""] + output.table(per_label, right={1, 2, 3, 4})
    matrix = [["true \\ predicted"] + list(labels)]
    matrix += [[label] + [str(c) for c in row] for label, row in zip(labels, m["confusion_matrix"])]
    lines += ["", "confusion matrix (rows: true label, columns: predicted label)"]
    lines += output.table(matrix, right=set(range(1, len(labels) + 1)))
    return lines


def _lm_report(m):
    rows = [
        ["tokens", output.thousands(m["n_tokens"])] if "n_tokens" in m else None,
        ["perplexity", f"{m['perplexity']:.2f}"],
        ["top-1", f"{m['top1']:.4f}"],
        ["top-5", f"{m['top5']:.4f}"],
    ]
    return output.table([row for row in rows if row is not None])


@cli.command("info")
@click.argument("model_dir", required=False, metavar="[MODEL_DIR]")
@_format_option("text", "json")
def info_command(model_dir, fmt):
    """Describe a model, or the shipped ones.

    Shows task, network, vocabulary, labels, size and how the model was trained.

    With no MODEL_DIR, describes the model(s) shipped with zhseq.

    \b
    Examples:
      zhseq info runs/reviews
      zhseq info runs/reviews/model-best --format json
    """
    from zhseq.checkpoint import (
        info,  # reads config.json and the safetensors header: no torch
    )

    details = info(model_dir)
    if fmt == "json":
        click.echo(output.json_document(details))
    elif model_dir is not None:
        click.echo("\n".join(_info_report(details)))
    else:
        click.echo("\n".join(_shipped_report(details)))


def _shipped_report(shipped):
    """``info(None)`` gives ``{task: details or None}`` for the default models."""
    lines = []
    for task, details in shipped.items():
        if lines:
            lines.append("")
        if details is None:
            lines.append(f"default {task} model: none shipped with this installation")
        else:
            lines.append(f"default {task} model:")
            lines += ["  " + line for line in _info_report(details)]
    if not any(shipped.values()):
        lines += [
            "",
            "train one and pass its folder with --model:",
            "  zhseq train sentiment --data reviews.tsv --out runs/reviews",
            "  zhseq train lm --data corpus.txt --out runs/lm",
        ]
    return lines


def _info_report(details):
    """The settings a reader asks about first, then everything else config.json records."""
    rest = dict(details)
    backbone = dict(rest.pop("backbone", None) or {})
    rows = []

    def add(label, value, fmt=str):
        if value is not None:
            rows.append([label, fmt(value)])

    add("path", rest.pop("path", None))
    add("task", rest.pop("task", None))
    add("cell", backbone.pop("cell", None))
    bidirectional = backbone.pop("bidirectional", None)
    add("directions", bidirectional, lambda b: "2 (bidirectional)" if b else "1 (left to right)")
    add("layers", backbone.pop("layers", None))
    add("embedding size", backbone.pop("embedding_size", None))
    add("hidden size", backbone.pop("hidden_size", None))
    vocab_size = rest.pop("vocab_size", None)
    backbone.pop("vocab_size", None)
    add("vocabulary", vocab_size, lambda n: f"{output.thousands(n)} tokens")
    add("labels", rest.pop("labels", None), ", ".join)
    head = rest.get("head") or {}
    if head.get("ngram_buckets"):
        add("n-gram half", head, lambda h: f"words 1-{h.get('ngram_words', 2)} and characters 1-"
            f"{h.get('ngram_chars', 3)}, {output.thousands(h['ngram_buckets'])} buckets, weight "
            f"{h.get('ngram_weight', 0.0)}")
    add("parameters", rest.pop("n_parameters", None), output.thousands)
    add("size on disk", rest.pop("size_bytes", None), output.human_size)
    training = rest.get("training") or {}
    if training.get("unlabeled") and details.get("task") == "lm":
        # finetune --unlabeled's OUT/lm: a language model of the unlabelled files and the labelled file's texts
        add("training data", training, _lm_stage_data)
    else:
        add("training data", training.get("data"), ", ".join)
    if training.get("unlabeled") and training.get("lm_stage"):
        # its classifier: the backbone was that language model's
        add("language-model stage data", training, _lm_stage_data)
    for name, scores in _score_groups(rest.pop("scores", None) or {}):
        rows.append(["measured " + name, output.metrics(scores)])
    dev = rest.pop("dev_scores", None) or {}
    dev = {k: dev[k] for k in ("perplexity", "accuracy", "macro_f1", "top1", "top5") if k in dev}
    add("dev during training (best epoch)", dev or None, output.metrics)
    rest.pop("format", None)  # always "zhseq-model"
    rows += _flatten({"backbone": backbone} if backbone else {})
    rows += _flatten(rest)
    return output.table(rows)


def _lm_stage_data(training):
    """What ``finetune --unlabeled``'s language-model stage read, from a recipe's ``unlabeled`` and ``data``:
    ``unlabelled: raw.txt; labelled, texts only: labelled.tsv``."""
    said = [f"unlabelled: {', '.join(training['unlabeled'])}"]
    if training.get("data"):
        said.append(f"labelled, texts only: {', '.join(training['data'])}")
    return "; ".join(said)


def _score_groups(scores, prefix=""):
    """``{"chnsenticorp": {"test": {"accuracy": …}}}`` -> ``[("chnsenticorp test", {"accuracy": …})]``."""
    groups, own = [], {}
    for key, value in scores.items():
        if isinstance(value, dict):
            groups += _score_groups(value, f"{prefix}{key} ")
        else:
            own[key] = value
    return ([(prefix.strip(), own)] if own else []) + groups


def _flatten(d, prefix=""):
    """Nested settings as ``[["training.epochs", "5"], ...]``; long lists (user words) as a count."""
    rows = []
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += _flatten(value, prefix=name + ".")
        elif isinstance(value, (list, tuple)):
            shown = ", ".join(map(str, value)) if len(value) <= 8 else f"{len(value):,} items"
            rows.append([name, shown or "(none)"])
        else:
            rows.append([name, "-" if value is None else str(value)])
    return rows

