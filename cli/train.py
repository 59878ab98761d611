"""train and finetune: thin wrappers around zhseq.training.train / finetune."""


import click
from zhseq.cli import cli
from zhseq.cli.options import (
    _column_options,
    _data_options,
    _quiet_option,
    _report_saved,
    _resume_options,
)

# ---------------------------------------------------------------------------------------------
# Training

# Option defaults mirror zhseq.training.train/finetune; tests/test_cli.py checks they agree.


@cli.command("train")
@click.argument("task", type=click.Choice(["sentiment", "lm"]))
@_data_options
@click.option(
    "--cell",
    default="lstm",
    show_default=True,
    metavar="NAME",
    help="Recurrent cell: rnn, lstm, gru, or any name registered with zhseq.register_cell.",
)
@click.option(
    "--bidirectional/--unidirectional",
    default=None,
    help="Read text both ways. Default: bidirectional for sentiment, one direction for lm. A bidirectional lm "
         "(one layer) also learns to predict each previous word, so that it can start both directions of a "
         "sentiment model (--init-backbone); it predicts with its left-to-right half.",
)
@click.option("--layers", type=click.IntRange(min=1), default=1, show_default=True, help="Stacked recurrent layers.")
@click.option("--embedding-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--hidden-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.2, show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--max-steps", type=click.IntRange(min=1), default=None, help="Stop after this many optimizer steps.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=2e-3, show_default=True, help="Learning rate.")
@click.option("--seed", type=int, default=0, show_default=True)
@_column_options
@click.option("--min-freq", type=click.IntRange(min=1), default=2, show_default=True, help="Rarer words become <unk>.")
@click.option("--max-vocab", type=click.IntRange(min=1), default=50000, show_default=True, help="Vocabulary size cap.")
@click.option("--hmm/--no-hmm", default=False, show_default=True, help="Segment with jieba's HMM for unknown words.")
@click.option("--init-backbone", metavar="DIR", default=None,
              help="Start the embedding and recurrent weights from a saved model (e.g. the shipped lm, "
                   "zhseq/models/lm): its tokenizer, vocabulary, cell and sizes are used.")
@click.option("--pooling", type=click.Choice(["max", "mean", "last"]), default=None,
              help="sentiment only: how the states of a text become one vector.  [default: max]")
@click.option("--max-tokens", type=click.IntRange(min=1), default=None, metavar="N",
              help="sentiment only: longer texts keep their first third and last two thirds of N tokens, in "
                   "training and prediction.  [default: 256]")
@click.option("--bptt", type=click.IntRange(min=1), default=None, metavar="N",
              help="lm only: training window in tokens.  [default: 64]")
@click.option("--patience", type=click.IntRange(min=1), default=2, show_default=True, metavar="N",
              help="Stop after N epochs without a better dev score.")
@click.option("--sampled-softmax", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
              help="lm only: train the output layer against N sampled words per batch instead of the whole "
                   "vocabulary (much faster for large vocabularies; 0 = full softmax).")
@click.option("--ngrams/--no-ngrams", default=True, show_default=True,
              help="sentiment only: add a linear model over hashed word and character n-grams (TF-IDF, logistic "
                   "regression), averaged with the network as the dev set prefers.")
@click.option("--ngram-c", type=click.FloatRange(min=0, min_open=True), default=16.0, show_default=True,
              metavar="C", help="Inverse regularisation of the n-gram model (larger: fits the data closer).")
@click.option("--ngram-nb", type=click.FloatRange(min=0), default=0.5, show_default=True, metavar="POWER",
              help="Scale each n-gram by its naive-Bayes log-count ratio to this power before the fit, as NBSVM "
                   "does (0: plain TF-IDF).")
@click.option("--ngram-data", multiple=True, metavar="FILE",
              help="Fit the n-gram model on these files (same columns) instead of --data, e.g. the in-domain part "
                   "of a mixed corpus. May be repeated.")
@_resume_options
@_quiet_option
def train_command(task, data, dev, out, cell, bidirectional, layers, embedding_size, hidden_size, dropout, epochs,
                  max_steps, batch_size, lr, seed, text_column, label_column, min_freq, max_vocab, hmm,
                  init_backbone, pooling, max_tokens, bptt, patience, sampled_softmax, ngrams, ngram_c, ngram_nb, ngram_data, resume, checkpoint_every,
                  precision, quiet):
    """Train a sentiment or next-word (lm) model from scratch.

    Sentiment data is a table with a text and a label column (any label names, two or more);
    lm data is plain text, one sentence or paragraph per line. Prints the best model's folder.

    \b
    Examples:
      zhseq train sentiment --data reviews.tsv --dev reviews-dev.tsv --out runs/reviews
      zhseq train lm --data news.txt --out runs/lm --cell gru --layers 2 --epochs 10
      zhseq train lm --data corpora/peoples_daily/train.txt.gz --out runs/pd --sampled-softmax 2048
      zhseq train lm --data corpora/peoples_daily/train.txt.gz --out runs/pd --sampled-softmax 2048 --resume
        (after a crash or Ctrl-C: the same command plus --resume continues from the last checkpoint)
    """
    from zhseq import training

    path = training.train(
        task, list(data), out=out, dev=dev, cell=cell, bidirectional=bidirectional, layers=layers, pooling=pooling,
        max_tokens=max_tokens, bptt=bptt, patience=patience,
        embedding_size=embedding_size, hidden_size=hidden_size, dropout=dropout, epochs=epochs,
        max_steps=max_steps, batch_size=batch_size, lr=lr, seed=seed, text_column=text_column,
        label_column=label_column, min_freq=min_freq, max_vocab=max_vocab, hmm=hmm,
        sampled_softmax=sampled_softmax, resume=resume, checkpoint_every=checkpoint_every,
        init_backbone=init_backbone, precision=precision, ngrams=ngrams, ngram_c=ngram_c,
        ngram_nb=ngram_nb, ngram_data=list(ngram_data), progress=not quiet,
    )
    _report_saved(path)


@cli.command("finetune")
@click.argument("model_dir", metavar="MODEL_DIR")
@_data_options
@click.option("--epochs", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=5e-4, show_default=True, help="Learning rate.")
@click.option("--max-steps", type=click.IntRange(min=1), default=None, help="Stop after this many optimizer steps.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Default: the batch size the model was trained with.")
@click.option("--seed", type=int, default=0, show_default=True)
@_column_options
@click.option("--min-freq", type=click.IntRange(min=1), default=2, show_default=True, help="New words this frequent join the vocabulary.")
@click.option("--ngram-c", type=click.FloatRange(min=0, min_open=True), default=None, metavar="C",
              help="Inverse regularisation of the refitted n-gram model, if the model has one (default: the "
                   "base model's).")
@_resume_options
@_quiet_option
def finetune_command(model_dir, data, dev, out, epochs, lr, max_steps, batch_size, seed, text_column, label_column,
                     min_freq, ngram_c, resume, checkpoint_every, precision, quiet):
    """Continue training a model on new data.

    Starts from MODEL_DIR, keeps its vocabulary (adding frequent new words) and trains at a
    lower learning rate.

    Sentiment data may bring new labels: the classifier head is rebuilt for them. Prints the
    best model's folder.

    \b
    Examples:
      zhseq finetune runs/reviews --data hotel.tsv --out runs/hotel
      zhseq finetune runs/lm --data forum.txt --out runs/lm-forum --epochs 2
    """
    from zhseq import training

    path = training.finetune(
        model_dir, list(data), out=out, dev=dev, epochs=epochs, lr=lr, max_steps=max_steps,
        batch_size=batch_size, seed=seed, text_column=text_column, label_column=label_column,
        min_freq=min_freq, resume=resume, checkpoint_every=checkpoint_every, precision=precision,
        ngram_c=ngram_c, progress=not quiet,
    )
    _report_saved(path)


