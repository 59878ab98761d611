"""Sentiment experiments on ChnSentiCorp, each run through zhseq.training.train and scored by
bench/eval_chnsenticorp.py:

    python bench/sentiment_sweeps.py protocol [--seeds 0 1 2]   # standard protocol: train split only,
                                                                 # best epoch on dev, mean over seeds
    python bench/sentiment_sweeps.py protocol --init-backbone zhseq/models/lm   # the same labelled data,
                                     # the network started from the shipped language model (unlabelled text)
    python bench/sentiment_sweeps.py cells [--epochs 3]          # rnn/lstm/gru x one/two directions, dev

Results go to bench/results/sentiment_protocol.json (sentiment_protocol_lm.json with --init-backbone
zhseq/models/lm, sentiment_protocol_from-NAME.json with another start, NAME being its run folder;
sentiment_protocol_no_ngrams.json with --no-ngrams, ..._nb0.json with --ngram-nb 0: the n-gram half on plain
TF-IDF values; and so on for each option) and bench/results/cell_sweep.json. Protocol runs also
score the network alone (the same model with its n-gram weight set to 0).
"""
import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
C = ROOT / "corpora" / "chnsenticorp"


def run(out: Path, **options) -> tuple[Path, float]:
    from zhseq.training import train

    t0 = time.time()
    best = train("sentiment", [str(C / "train.tsv.gz")], dev=str(C / "dev.tsv.gz"), out=out, progress=False,
                 **options)
    return best, time.time() - t0


def network_alone(best: Path, tmp: Path) -> Path:
    """A copy of a model folder with its n-gram weight set to 0."""
    copy = tmp / f"{best.parent.name}-network"
    shutil.copytree(best, copy)
    config = json.loads((copy / "config.json").read_text(encoding="utf-8"))
    config["head"]["ngram_weight"] = 0.0
    (copy / "config.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    return copy


# protocol settings a run may override: train()'s name → the tag its results file gets
OVERRIDES = {"ngram_nb": "nb", "lr": "lr", "dropout": "dropout", "max_tokens": "maxtok", "pooling": "pool",
             "layers": "layers", "hidden_size": "hidden"}


def shown(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def protocol(seeds: list[int], epochs: int, init_backbone: str | None, ngrams: bool, bidirectional: bool = False,
             overrides: dict | None = None) -> dict:
    """``overrides``: train() settings (names in OVERRIDES) that differ from zhseq's defaults."""
    from eval_chnsenticorp import score

    runs = []
    overrides = overrides or {}
    options = {"init_backbone": init_backbone, "bidirectional": bidirectional} if init_backbone else {}
    options.update(overrides)
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            best, seconds = run(Path(tmp) / f"seed{seed}", seed=seed, epochs=epochs, ngrams=ngrams, **options)
            head = json.loads((best / "config.json").read_text(encoding="utf-8"))["head"]
            runs.append({"seed": seed, "seconds": round(seconds, 1), **score(best),
                         "ngram_weight": head["ngram_weight"]})
            if ngrams:
                runs[-1]["network_alone"] = score(network_alone(best, Path(tmp)))
            print(json.dumps(runs[-1]), flush=True)
    parts = ("dev", "test", "test_not_in_train")
    mean = lambda part, key, get=lambda r: r: statistics.mean(get(r)[part][key] for r in runs)  # noqa: E731
    extra = (f" --init-backbone {init_backbone} --{'bi' if bidirectional else 'uni'}directional" if init_backbone
             else "") + ("" if ngrams else " --no-ngrams") + "".join(
        f" --{name.replace('_', '-')} {shown(value)}" for name, value in overrides.items())
    result = {
        "recipe": f"zhseq train sentiment --data corpora/chnsenticorp/train.tsv.gz --dev "
                  f"corpora/chnsenticorp/dev.tsv.gz --epochs {epochs} --seed S{extra} (defaults otherwise)",
        "runs": runs,
        "mean": {part: {key: mean(part, key) for key in ("accuracy", "macro_f1")} for part in parts},
    }
    if ngrams:
        result["mean_network_alone"] = {part: {key: mean(part, key, lambda r: r["network_alone"])
                                               for key in ("accuracy", "macro_f1")} for part in parts}
    return result


def cells(epochs: int) -> dict:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for cell in ("rnn", "lstm", "gru"):
            for bidirectional in (False, True):
                name = f"{cell}-{'bi' if bidirectional else 'uni'}"
                best, seconds = run(Path(tmp) / name, cell=cell, bidirectional=bidirectional, epochs=epochs,
                                    ngrams=False)  # the cells alone
                dev = json.loads((best / "config.json").read_text(encoding="utf-8"))["dev_scores"]
                rows.append({"cell": cell, "directions": 2 if bidirectional else 1, "dev_accuracy": dev["accuracy"],
                             "dev_macro_f1": dev["macro_f1"], "seconds": round(seconds, 1)})
                print(json.dumps(rows[-1]), flush=True)
    return {"recipe": f"zhseq train sentiment --data corpora/chnsenticorp/train.tsv.gz --dev "
                      f"corpora/chnsenticorp/dev.tsv.gz --epochs {epochs} --cell C [--unidirectional] --no-ngrams",
            "runs": rows}


def start_tag(init_backbone: str | None) -> str:
    """The results file's tag for a start: "" (none), "_lm" (the shipped lm), else "_from-<run name>"."""
    if not init_backbone:
        return ""
    folder = Path(init_backbone).resolve()
    if folder == (ROOT / "zhseq/models/lm").resolve():
        return "_lm"
    return "_from-" + (folder.parent.name if folder.name == "model-best" else folder.name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("protocol")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--init-backbone", default=None, help="start the network from this model (e.g. zhseq/models/lm)")
    p.add_argument("--no-ngrams", action="store_true", help="the network alone, without the n-gram half")
    p.add_argument("--bidirectional", action="store_true",
                   help="with --init-backbone: read both ways; the second direction starts from the model's own "
                        "if it has one (a bidirectional lm), else fresh (default: one direction)")
    p.add_argument("--ngram-nb", type=float, default=None,
                   help="the n-gram half's naive-Bayes power (default: zhseq's; 0: plain TF-IDF)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: zhseq's)")
    p.add_argument("--dropout", type=float, default=None, help="dropout (default: zhseq's)")
    p.add_argument("--max-tokens", type=int, default=None, help="truncation of long texts (default: zhseq's)")
    p.add_argument("--pooling", choices=["max", "mean", "last"], default=None,
                   help="how a text's states become one vector (default: zhseq's, max)")
    p.add_argument("--layers", type=int, default=None, help="stacked recurrent layers (default: zhseq's, 1)")
    p.add_argument("--hidden-size", type=int, default=None, help="recurrent width (default: zhseq's, 128)")
    c = sub.add_parser("cells")
    c.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    if args.what == "protocol":
        overrides = {name: getattr(args, name) for name in OVERRIDES if getattr(args, name) is not None}
        if args.init_backbone and {"layers", "hidden_size"} & set(overrides):
            ap.error("--layers and --hidden-size are the --init-backbone model's own")
        result = protocol(args.seeds, args.epochs, args.init_backbone, not args.no_ngrams, args.bidirectional,
                          overrides)
        name = "sentiment_protocol" + start_tag(args.init_backbone) + ("_bi" if args.bidirectional else "") + (
            "_no_ngrams" if args.no_ngrams else "") + "".join(
            f"_{OVERRIDES[name]}{shown(value)}" for name, value in overrides.items()) + (
            f"_epochs{args.epochs}" if args.epochs != 5 else "") + ".json"
    else:
        result, name = cells(args.epochs), "cell_sweep.json"
    dest = ROOT / "bench" / "results" / name
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result.get("mean", result["runs"]), indent=2))


if __name__ == "__main__":
    main()
