# Copied verbatim from the project's shared bench folder: the reference loop that speed goals are measured against.
"""Reference point for training speed: the straightforward PyTorch BiLSTM a newcomer writes.
jieba (HMM off) tokens, min_freq 2 vocabulary, embedding 128, BiLSTM 128, packed sequences,
batch 64 in file order, Adam, one epoch. Prints wall seconds and tokens/s.
Usage: naive_sentiment.py FILE.csv   (columns text,label)"""
import csv, collections, sys, time
t0 = time.time()
import torch, torch.nn as nn, jieba
jieba.setLogLevel(60); torch.manual_seed(0)
rows = list(csv.DictReader(open(sys.argv[1], encoding="utf8")))
toks = [jieba.lcut(r["text"], HMM=False) for r in rows]
labels = sorted({r["label"] for r in rows}); ys = [labels.index(r["label"]) for r in rows]
c = collections.Counter(w for t in toks for w in t)
itos = ["<pad>", "<unk>"] + [w for w, n in c.most_common() if n >= 2]
stoi = {w: i for i, w in enumerate(itos)}
data = list(zip([[stoi.get(w, 1) for w in t] or [1] for t in toks], ys))
class M(nn.Module):
    def __init__(s, V, C):
        super().__init__(); s.emb = nn.Embedding(V, 128, padding_idx=0)
        s.rnn = nn.LSTM(128, 128, batch_first=True, bidirectional=True); s.out = nn.Linear(256, C)
    def forward(s, X, L):
        p = nn.utils.rnn.pack_padded_sequence(s.emb(X), L, batch_first=True, enforce_sorted=False)
        _, (h, _) = s.rnn(p); return s.out(torch.cat([h[0], h[1]], -1))
m = M(len(itos), len(labels)); opt = torch.optim.Adam(m.parameters(), 1e-3)
ntok = 0
for i in range(0, len(data), 64):
    b = data[i:i + 64]; L = torch.tensor([len(x) for x, _ in b]); X = torch.zeros(len(b), int(L.max()), dtype=torch.long)
    for j, (x, _) in enumerate(b): X[j, :len(x)] = torch.tensor(x)
    opt.zero_grad(); loss = nn.functional.cross_entropy(m(X, L), torch.tensor([y for _, y in b])); loss.backward(); opt.step()
    ntok += int(L.sum())
dt = time.time() - t0
print(f"naive wall_s {dt:.2f} tokens {ntok} tok_per_s {ntok/dt:.0f}")
