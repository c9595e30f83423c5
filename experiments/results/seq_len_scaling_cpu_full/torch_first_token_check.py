"""Independent PyTorch check of the study's transformer on first_token at length L.

A pre-LN transformer encoder classifier of the study's shape (d 32, 4 heads, 2 layers, mlp 128,
GELU, sinusoidal positions, token embedding std 1, mean pooling), trained as the study trains
(AdamW, weight decay 0.01, 50 warm-up steps then cosine, clipping 1.0, batch 16), held-out
accuracy on 256 sequences every 50 steps until 0.99 or STEPS.

  python torch_first_token_check.py L STEPS LR SEED
"""
import math
import sys
import time

import numpy as np
import torch
import torch.nn as nn

CLASSES, WIDTH, HEADS, LAYERS, BATCH, WARMUP = 10, 32, 4, 2, 16, 50


def sinusoidal(length: int, width: int) -> torch.Tensor:
  """`[length, width]`: sin on even features, cos on odd (Vaswani et al. 2017)."""
  position = torch.arange(length)[:, None]
  frequency = torch.exp(torch.arange(0, width, 2) * (-math.log(10000.0) / width))
  table = torch.zeros(length, width)
  table[:, 0::2], table[:, 1::2] = torch.sin(position * frequency), torch.cos(position * frequency)
  return table


class Classifier(nn.Module):
  """Tokens `[batch, length]` -> logits `[batch, CLASSES]`."""

  def __init__(self, length: int):
    super().__init__()
    self.embed = nn.Embedding(CLASSES, WIDTH)
    nn.init.normal_(self.embed.weight, std=1.0)
    self.register_buffer('positions', sinusoidal(length, WIDTH))
    layer = nn.TransformerEncoderLayer(WIDTH, HEADS, 4 * WIDTH, dropout=0.0, batch_first=True,
                                       norm_first=True, activation='gelu')
    self.encoder = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
    self.norm, self.head = nn.LayerNorm(WIDTH), nn.Linear(WIDTH, CLASSES)

  def forward(self, tokens):
    return self.head(self.norm(self.encoder(self.embed(tokens) + self.positions)).mean(1))


def first_token_batch(rng, n: int, length: int):
  """`n` sequences of random tokens; the class is the first token."""
  tokens = torch.tensor(rng.integers(CLASSES, size=(n, length)))
  return tokens, tokens[:, 0]


def main(length: int, steps: int, lr: float, seed: int):
  torch.set_num_threads(2)
  torch.manual_seed(seed)
  rng = np.random.default_rng(seed)
  model = Classifier(length)
  optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
  schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: (t + 1) / WARMUP if t < WARMUP
                                               else 0.5 * (1 + math.cos(math.pi * min(
                                                   1.0, (t - WARMUP) / max(1, steps - WARMUP)))))
  held_out = first_token_batch(np.random.default_rng(10_000 + seed), 256, length)
  start, best, solved = time.time(), 0.0, None
  for step in range(1, steps + 1):
    tokens, targets = first_token_batch(rng, BATCH, length)
    loss = nn.functional.cross_entropy(model(tokens), targets)
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    schedule.step()
    if step % 50 == 0:
      with torch.no_grad():
        best = max(best, (model(held_out[0]).argmax(-1) == held_out[1]).float().mean().item())
      if best >= 0.99:
        solved = step
        break
  print(f'torch L={length} lr={lr} seed={seed} steps={steps}: best {best:.3f}, solved at '
        f'{solved}, {time.time() - start:.0f} s', flush=True)


if __name__ == '__main__':
  main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))
