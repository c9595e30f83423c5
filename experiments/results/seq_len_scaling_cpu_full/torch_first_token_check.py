"""Independent PyTorch check: a pre-LN transformer encoder classifier (d=32, 4 heads, 2 layers,
mlp 128, sinusoidal positions, mean pooling, embedding std 1) on first_token at length L."""
import math, sys, time
import numpy as np, torch, torch.nn as nn
torch.set_num_threads(2)
L, steps, lr, seed = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
pooling = sys.argv[5] if len(sys.argv) > 5 else 'mean'
C, D, B = 10, 32, 16
torch.manual_seed(seed); rng = np.random.default_rng(seed)
def batch(n, r):
  x = r.integers(C, size=(n, L)); return torch.tensor(x), torch.tensor(x[:, 0])
pe = torch.zeros(L, D); pos = torch.arange(L)[:, None]; div = torch.exp(torch.arange(0, D, 2) * (-math.log(10000.0) / D))
pe[:, 0::2] = torch.sin(pos * div); pe[:, 1::2] = torch.cos(pos * div)
class Model(nn.Module):
  def __init__(s):
    super().__init__(); s.emb = nn.Embedding(C, D); nn.init.normal_(s.emb.weight, std=1.0)
    s.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, 4, 4 * D, dropout=0.0, batch_first=True, norm_first=True, activation='gelu'), 2, enable_nested_tensor=False)
    s.norm = nn.LayerNorm(D); s.head = nn.Linear(D, C)
  def forward(s, x):
    h = s.norm(s.enc(s.emb(x) + pe))
    return s.head(h.mean(1) if pooling == 'mean' else h[:, 0])
m = Model(); opt = torch.optim.AdamW(m.parameters(), lr=lr, weight_decay=0.01)
warm = 50
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: (t + 1) / warm if t < warm else 0.5 * (1 + math.cos(math.pi * min(1.0, (t - warm) / max(1, steps - warm)))))
xe, ye = batch(256, np.random.default_rng(10_000 + seed))
t0 = time.time(); best = 0; solved = None
for step in range(1, steps + 1):
  x, y = batch(B, rng)
  loss = nn.functional.cross_entropy(m(x), y); opt.zero_grad(); loss.backward()
  nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step(); sched.step()
  if step % 50 == 0:
    with torch.no_grad(): acc = (m(xe).argmax(-1) == ye).float().mean().item()
    best = max(best, acc)
    if acc >= 0.99 and solved is None: solved = step; break
print(f'torch L={L} lr={lr} seed={seed} pooling={pooling} steps={steps}: best {best:.3f}, solved at {solved}, {time.time()-t0:.0f} s', flush=True)
