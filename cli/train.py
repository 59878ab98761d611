"""train and finetune: the options become zhseq.config's ModelConfig / FitConfig (each option is named after
its field, and takes its default from it), then zhseq.training.train / finetune."""


import click
from zhseq.cli import cli
from zhseq.cli.options import (
    _allow_rare_labels_option,
    _column_options,
    _data_options,
    _label_map_option,
    _quiet_option,
    _report_saved,
    _resume_options,
    check_emoji_options,
    setting_option,
)
from zhseq.config import (
    DEVICE_NAMES,
    FINETUNE_DEFAULTS,
    FINETUNE_NGRAM_KEEP,
    POOLINGS,
    FitConfig,
    ModelConfig,
    NextWordConfig,
    SentimentConfig,
    default_of,
)



class DeviceName(click.ParamType):
    """``--device``: a name ``zhseq.config.DEVICE`` accepts (auto, cpu, cuda, cuda:N, mps), else a usage error;
    whether the machine has that device is the library's question (``zhseq.modeling.resolve_device``)."""

    name = "device"

    def convert(self, value, param, ctx):
        from zhseq.config import DEVICE
        from zhseq.errors import ZhseqError

        try:
            return DEVICE("device", value)
        except ZhseqError as exc:
            self.fail(str(exc), param, ctx)


def device_option(**extra):
    """``--device``, from ``FitConfig.device`` (its default, and its help unless given)."""
    return setting_option(FitConfig, "device", type=DeviceName(), metavar="|".join(DEVICE_NAMES), **extra)


def _regularisation_options(func, finetuning=False):
    """--discriminative-lr, --gradual-unfreezing, --average-last, --label-smoothing and --word-dropout, from
    their FitConfig fields. ``finetuning``: the first two default to None, which ``finetune_config`` reads as ULMFiT's
    recipe with --unlabeled, else off."""
    for name in ("word_dropout", "label_smoothing"):
        func = setting_option(FitConfig, name, type=click.FloatRange(0, 1, max_open=True), metavar="P")(func)
    func = setting_option(FitConfig, "average_last", type=click.IntRange(min=0), metavar="N")(func)
    from zhseq.training.settings import ULMFIT_DEFAULTS

    unset = dict(default=None, show_default=False) if finetuning else {}

    def shown(name, say=lambda v: f"{v:g}"):
        if not finetuning:
            return _help(name)
        return (f"{_help(name)}  [default: {say(ULMFIT_DEFAULTS[name])} with --unlabeled, else "
                f"{say(default_of(FitConfig, name))}]")

    func = setting_option(FitConfig, "gradual_unfreezing", "--gradual-unfreezing/--no-gradual-unfreezing",
                          help=shown("gradual_unfreezing", lambda v: "on" if v else "off"), **unset)(func)
    return setting_option(FitConfig, "discriminative_lr", type=click.FloatRange(min=0, min_open=True), metavar="F",
                          help=shown("discriminative_lr"), **unset)(func)


def _help(name):
    from dataclasses import fields

    return next(f.metadata["help"] for f in fields(FitConfig) if f.name == name)


def _lm_stage_options(func):
    """--unlabeled and the lm stage's own settings (zhseq.training.settings.LM_STAGE_DEFAULTS)."""
    from zhseq.training.settings import LM_STAGE_DEFAULTS, ULMFIT_DEFAULTS

    func = click.option("--lm-lr", type=click.FloatRange(min=0, min_open=True), default=LM_STAGE_DEFAULTS["lr"],
                        show_default=True, help="With --unlabeled: the lm stage's peak learning rate.")(func)
    func = click.option("--lm-epochs", type=click.IntRange(min=1), default=LM_STAGE_DEFAULTS["epochs"],
                        show_default=True, metavar="N",
                        help="With --unlabeled: passes of the lm stage over the texts (about 3 s per 1,000 reviews "
                             "per pass on one CPU thread for the shipped model).")(func)
    return click.option(
        "--unlabeled", multiple=True, metavar="FILE",
        help="sentiment models: first adapt the backbone as a language model on these texts (one a line, or a "
             "table's text column, read as --data is) plus --data's own texts, saved as OUT/lm/, then fine-tune "
             f"the classifier (ULMFiT; defaults then --discriminative-lr {ULMFIT_DEFAULTS['discriminative_lr']:g} "
             "--gradual-unfreezing). Repeatable.",
    )(func)

# ---------------------------------------------------------------------------------------------
# Training


@cli.command("train")
@click.argument("task", type=click.Choice(["sentiment", "lm"]))
@_data_options
@setting_option(ModelConfig, "cell", metavar="NAME")
@setting_option(
    ModelConfig, "bidirectional", "--bidirectional/--unidirectional", show_default=False,
    help="Read text both ways. Default: bidirectional for sentiment, one direction for lm. A bidirectional lm "
         "(one layer) also learns to predict each previous word, so that it can start both directions of a "
         "sentiment model (--init-backbone); it predicts with its left-to-right half.",
)
@setting_option(ModelConfig, "layers", type=click.IntRange(min=1))
@setting_option(ModelConfig, "embedding_size", type=click.IntRange(min=1), help="Width of the word embeddings.")
@setting_option(ModelConfig, "hidden_size", type=click.IntRange(min=1),
                help="Width of each direction's recurrent state.")
@setting_option(ModelConfig, "dropout", type=click.FloatRange(0, 1, max_open=True),
                help="Dropout between recurrent layers and on the recurrent outputs.")
@setting_option(FitConfig, "epochs", type=click.IntRange(min=1))
@setting_option(FitConfig, "max_steps", type=click.IntRange(min=1))
@setting_option(FitConfig, "batch_size", type=click.IntRange(min=1))
@setting_option(FitConfig, "lr", type=click.FloatRange(min=0, min_open=True), help="Peak learning rate.")
@setting_option(FitConfig, "seed", type=int)
@_column_options
@_label_map_option
@_allow_rare_labels_option
@setting_option(ModelConfig, "min_freq", type=click.IntRange(min=1))
@setting_option(ModelConfig, "max_vocab", type=click.IntRange(min=1))
@setting_option(ModelConfig, "hmm", "--hmm/--no-hmm")
@setting_option(ModelConfig, "t2s", "--t2s/--no-t2s")
@setting_option(ModelConfig, "emoji", "--emoji/--no-emoji")
@setting_option(ModelConfig, "emoji_keywords", "--emoji-keywords/--no-emoji-keywords")
@setting_option(ModelConfig, "social", "--social/--no-social")
@setting_option(ModelConfig, "init_backbone", metavar="DIR",
                help="Start the embedding and recurrent weights from a saved model (e.g. the shipped lm, "
                     "zhseq/models/lm): its tokenizer, vocabulary, cell and sizes are used.")
@setting_option(ModelConfig, "pooling", type=click.Choice(POOLINGS),
                help=f"sentiment only: how the states of a text become one vector.  "
                     f"[default: {default_of(SentimentConfig, 'pooling')}]")
@setting_option(ModelConfig, "max_tokens", type=click.IntRange(min=1), metavar="N",
                help="sentiment only: longer texts keep their first third and last two thirds of N tokens, in "
                     f"training and prediction.  [default: {default_of(SentimentConfig, 'max_tokens')}]")
@setting_option(ModelConfig, "bptt", type=click.IntRange(min=1), metavar="N",
                help=f"lm only: training window in tokens.  [default: {default_of(NextWordConfig, 'bptt')}]")
@setting_option(FitConfig, "patience", type=click.IntRange(min=1), metavar="N")
@_regularisation_options
@setting_option(ModelConfig, "sampled_softmax", type=click.IntRange(min=0), metavar="N",
                help="lm only: train the output layer against N sampled words per batch instead of the whole "
                     "vocabulary (much faster for large vocabularies; 0 = full softmax).")
@setting_option(ModelConfig, "ngrams", "--ngrams/--no-ngrams")
@setting_option(FitConfig, "ngram_c", type=click.FloatRange(min=0, min_open=True), metavar="C")
@setting_option(FitConfig, "ngram_nb", type=click.FloatRange(min=0), metavar="POWER")
@click.option("--ngram-data", multiple=True, metavar="FILE",
              help="Fit the n-gram model on these files (same columns) instead of --data, e.g. the in-domain part "
                   "of a mixed corpus. May be repeated.")
@device_option()
@_resume_options
@_quiet_option
def train_command(task, data, dev, out, text_column, label_column, encoding, label_map, allow_rare_labels, ngram_data,
                  resume, quiet, **settings):
    """Train a sentiment or next-word (lm) model from scratch.

    Sentiment data is a table with a text and a label column (any label names, two or more; 0/1 become
    negative/positive); lm data is plain text, one sentence or paragraph per line. Prints the best model's
    folder.

    \b
    Examples:
      zhseq train sentiment --data reviews.tsv --dev reviews-dev.tsv --out runs/reviews
      zhseq train lm --data news.txt --out runs/lm --cell gru --layers 2 --epochs 10
      zhseq train lm --data corpora/peoples_daily/train.txt.gz --out runs/pd --sampled-softmax 2048
      zhseq train lm --data corpora/peoples_daily/train.txt.gz --out runs/pd --sampled-softmax 2048 --resume
        (after a crash or Ctrl-C: the same command plus --resume continues from the last checkpoint)
      zhseq train sentiment --data reviews.tsv --out runs/reviews --device cuda --precision bf16
    """
    from zhseq.training import split_settings, train

    if not settings.get("init_backbone"):  # with one, the backbone's emoji setting counts: checked in training
        check_emoji_options(settings.get("emoji", True), settings.get("emoji_keywords"))
    model, fit = split_settings(**settings, progress=not quiet)
    path = train(task, list(data), out, model=model, fit=fit, dev=dev, text_column=text_column,
                 label_column=label_column, encoding=encoding, label_map=label_map,
                 allow_rare_labels=allow_rare_labels, ngram_data=list(ngram_data), resume=resume)
    _report_saved(path)


@cli.command("finetune")
@click.argument("model_dir", metavar="MODEL_DIR")
@_data_options
@setting_option(FitConfig, "epochs", type=click.IntRange(min=1), default=FINETUNE_DEFAULTS["epochs"])
@setting_option(FitConfig, "lr", type=click.FloatRange(min=0, min_open=True), default=FINETUNE_DEFAULTS["lr"],
                help="Peak learning rate.")
@setting_option(FitConfig, "max_steps", type=click.IntRange(min=1))
@setting_option(FitConfig, "batch_size", type=click.IntRange(min=1), default=None,
                help="Default: the batch size the model was trained with.")
@setting_option(FitConfig, "seed", type=int)
@_column_options
@_label_map_option
@_allow_rare_labels_option
@click.option("--new-labels", is_flag=True,
              help="Fine-tune on data with labels the model does not know: the output layer starts afresh for the "
                   "new data's label set. Without it such data is refused, the labels named.")
@click.option("--min-freq", type=click.IntRange(min=1), default=default_of(ModelConfig, "min_freq"),
              show_default=True, help="New words this frequent join the vocabulary.")
@lambda f: _regularisation_options(f, finetuning=True)
@_lm_stage_options
@setting_option(FitConfig, "ngram_c", type=click.FloatRange(min=0, min_open=True), default=None, metavar="C",
                help="Inverse regularisation of the refitted n-gram model, if the model has one (default: the "
                     "base model's).")
@click.option("--ngram-keep", type=click.FloatRange(min=0, max=1, max_open=True), default=FINETUNE_NGRAM_KEEP,
              show_default=True, metavar="SHARE",
              help="Keep this share of the model's n-gram half: its logits become SHARE × the old ones + (1 − SHARE) "
                   "× those refitted on the new data (0: replaced). Not with --new-labels.")
@device_option()
@_resume_options
@_quiet_option
def finetune_command(model_dir, data, dev, out, text_column, label_column, encoding, label_map, allow_rare_labels,
                     new_labels, min_freq, unlabeled, lm_epochs, lm_lr, ngram_keep, resume, quiet, **settings):
    """Continue training a model on new data.

    Starts from MODEL_DIR, keeps its vocabulary (adding frequent new words) and trains at a
    lower learning rate.

    Sentiment data may bring new labels with --new-labels: the classifier head is rebuilt for
    them. Prints the best model's folder.

    With --unlabeled (sentiment models), ULMFiT (Howard & Ruder, 2018) in two stages: the
    backbone is first trained as a language model on the domain's unlabelled texts and --data's
    texts (saved as OUT/lm/: a step toward the classifier, not a next-word model to use),
    then the classifier is fine-tuned from it with discriminative learning rates and gradual
    unfreezing. --resume continues a run killed in either stage.

    \b
    Examples:
      zhseq finetune runs/reviews --data hotel.tsv --out runs/hotel
      zhseq finetune runs/reviews --data three-way.tsv --out runs/3way --new-labels
      zhseq finetune runs/lm --data forum.txt --out runs/lm-forum --epochs 2
      zhseq finetune sentiment --data 500-labelled.csv --unlabeled domain.txt --out runs/domain
    """
    from zhseq.training import finetune, finetune_config
    from zhseq.training.settings import lm_stage_config

    ctx = click.get_current_context()
    given = [f"--{n.replace('_', '-')}" for n in ("lm_epochs", "lm_lr")
             if ctx.get_parameter_source(n) is click.core.ParameterSource.COMMANDLINE]
    if given and not unlabeled:
        raise click.UsageError(f"{' and '.join(given)} set{'s' if len(given) == 1 else ''} the lm stage, which "
                               "runs with --unlabeled only")

    # batch size, n-gram C: None → the base's; discriminative lr, gradual unfreezing: None → ULMFiT's or off
    fit = finetune_config(model_dir, ulmfit=bool(unlabeled), **settings, progress=not quiet)
    lm_fit = lm_stage_config(fit, epochs=lm_epochs, lr=lm_lr) if unlabeled else None
    path = finetune(model_dir, list(data), out, fit=fit, dev=dev, text_column=text_column,
                    label_column=label_column, encoding=encoding, label_map=label_map,
                    allow_rare_labels=allow_rare_labels, new_labels=new_labels, min_freq=min_freq,
                    unlabeled=list(unlabeled), lm_fit=lm_fit, ngram_keep=ngram_keep, resume=resume)
    _report_saved(path)
