"""Sentiment experiments on ChnSentiCorp, each run through zhseq.training.train and scored by
bench/eval_chnsenticorp.py:

    python bench/sentiment_sweeps.py protocol [--seeds 0 1 2]   # standard protocol: train split only,
                                                                 # best epoch on dev, mean over seeds
    python bench/sentiment_sweeps.py cells [--epochs 3]          # rnn/lstm/gru x one/two directions, dev

Results go to bench/results/sentiment_protocol.json and bench/results/cell_sweep.json.
"""
import argparse
import json
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


def protocol(seeds: list[int], epochs: int) -> dict:
    from eval_chnsenticorp import score

    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            best, seconds = run(Path(tmp) / f"seed{seed}", seed=seed, epochs=epochs)
            runs.append({"seed": seed, "seconds": round(seconds, 1), **score(best)})
            print(json.dumps(runs[-1]), flush=True)
    mean = lambda part, key: statistics.mean(r[part][key] for r in runs)  # noqa: E731
    return {
        "recipe": f"zhseq train sentiment --data corpora/chnsenticorp/train.tsv.gz --dev "
                  f"corpora/chnsenticorp/dev.tsv.gz --epochs {epochs} --seed S (defaults otherwise)",
        "runs": runs,
        "mean": {part: {key: mean(part, key) for key in ("accuracy", "macro_f1")}
                 for part in ("dev", "test", "test_not_in_train")},
    }


def cells(epochs: int) -> dict:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for cell in ("rnn", "lstm", "gru"):
            for bidirectional in (False, True):
                name = f"{cell}-{'bi' if bidirectional else 'uni'}"
                best, seconds = run(Path(tmp) / name, cell=cell, bidirectional=bidirectional, epochs=epochs)
                dev = json.loads((best / "config.json").read_text(encoding="utf-8"))["dev_scores"]
                rows.append({"cell": cell, "directions": 2 if bidirectional else 1, "dev_accuracy": dev["accuracy"],
                             "dev_macro_f1": dev["macro_f1"], "seconds": round(seconds, 1)})
                print(json.dumps(rows[-1]), flush=True)
    return {"recipe": f"zhseq train sentiment --data corpora/chnsenticorp/train.tsv.gz --dev "
                      f"corpora/chnsenticorp/dev.tsv.gz --epochs {epochs} --cell C [--unidirectional]",
            "runs": rows}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("protocol")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=5)
    c = sub.add_parser("cells")
    c.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    result = protocol(args.seeds, args.epochs) if args.what == "protocol" else cells(args.epochs)
    name = "sentiment_protocol.json" if args.what == "protocol" else "cell_sweep.json"
    dest = ROOT / "bench" / "results" / name
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result.get("mean", result["runs"]), indent=2))


if __name__ == "__main__":
    main()
