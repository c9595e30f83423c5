"""Attention maps: collect every layer's and head's weights for one input, draw them as heatmaps.

Weights are what the models sow as `intermediates/.../attention_weights` `[batch, heads, q, k]`
(one call with `mutable=['intermediates']`), grouped by kind: the path without its block index,
so `decoder/block_1/cross_attention` belongs to `decoder/cross_attention` (layer 1). A figure is
a grid with one row per layer and one column per head; the key tokens run along the x-axis and
the query tokens down the y-axis.

`mode=attention` (`attn_jax.modes.attention`) draws, for a trained workdir:
* a language model: self-attention over `sample.prompt` and the model's greedy continuation;
* a translator: cross-attention (output words against source words), and the encoder's and the
  decoder's self-attention (transformer), for `sample.prompt` as the source sentence when every
  word of it is in the source vocabulary, else the first sentence of the evaluation split.
  Rows are labelled with the word produced at that step; the French noun-adjective swap
  (`chat noir` -> `black cat`) shows as a crossing.
* an image classifier (ViT): for the first evaluation images, each image cut into its patches,
  the patches as the token sequence, and per layer the attention of the class token (or, with mean
  pooling, of all positions on average) over the patches, drawn over the image (`image_maps`).
"""
import functools
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from attn_jax import decoding
from attn_jax.data.tokenizers import BOS_ID, UNK_ID, pad_to
from attn_jax.errors import ConfigError

DPI = 100
CELL_INCHES = 0.22   # per token, per map
MARGIN_INCHES = 1.2  # around each map, for the tick labels and the title
LM_TOKENS = 48       # a LM's map covers the prompt and its continuation up to this many tokens


@functools.partial(jax.jit, static_argnums=0)
def _forward_with_intermediates(model, params, *inputs):
  """One compiled forward pass: (outputs, mutated collections with 'intermediates')."""
  return model.apply({'params': params}, *inputs, train=False, mutable=['intermediates'])


def collect(model, params, *inputs) -> dict[str, np.ndarray]:
  """Attention weights of one forward pass, by kind: `{kind: [layers, batch, heads, q, k]}`.

  `inputs` are the model's positional inputs (tokens; and decoder inputs for seq2seq).
  """
  _, state = _forward_with_intermediates(model, params, *inputs)
  layers: dict[str, dict[int, np.ndarray]] = {}
  for path, weights in jax.tree_util.tree_flatten_with_path(state.get('intermediates', {}))[0]:
    names = [p.key for p in path if isinstance(p, jax.tree_util.DictKey)]
    if names[-1] != 'attention_weights':
      continue
    blocks = [int(m.group(1)) for n in names if (m := re.fullmatch(r'block_(\d+)', n))]
    kind = '/'.join(n for n in names[:-1] if not re.fullmatch(r'block_\d+', n))
    layers.setdefault(kind or 'attention', {})[blocks[0] if blocks else 0] = np.asarray(weights)
  return {kind: np.stack([by_layer[l] for l in sorted(by_layer)])
          for kind, by_layer in layers.items()}


def figure_inches(layers: int, heads: int, q_len: int, k_len: int) -> tuple[float, float]:
  """(width, height) of a heatmap grid: `layers` rows and `heads` columns of q_len x k_len maps."""
  return (heads * (k_len * CELL_INCHES + MARGIN_INCHES),
          layers * (q_len * CELL_INCHES + MARGIN_INCHES))


def draw(weights: np.ndarray, query_tokens: list[str], key_tokens: list[str], path: str,
         title: str = '') -> str:
  """Writes a PNG of heatmaps, one per layer (row) and head (column).

  Args:
    weights: `[layers, heads, q_len, k_len]`, rows summing to 1 (or 0 where fully masked).
    query_tokens: q_len labels (y-axis).
    key_tokens: k_len labels (x-axis).
    path: the PNG to write (its size is `figure_inches(...)` times `DPI` pixels).
    title: figure title.
  """
  layers, heads, q_len, k_len = weights.shape
  fig = Figure(figsize=figure_inches(layers, heads, q_len, k_len), dpi=DPI, layout='constrained')
  axes = fig.subplots(layers, heads, squeeze=False)
  for layer in range(layers):
    for head in range(heads):
      ax = axes[layer, head]
      ax.imshow(weights[layer, head], cmap='viridis', vmin=0.0, vmax=1.0, aspect='auto')
      ax.set_xticks(range(k_len), key_tokens, rotation=90, fontsize=7)
      ax.set_yticks(range(q_len), query_tokens, fontsize=7)
      ax.set_title(f'layer {layer} head {head}' if layers * heads > 1 else title, fontsize=8)
  if title and layers * heads > 1:
    fig.suptitle(title, fontsize=9)
  fig.savefig(path, dpi=DPI)
  return path


def _show(token: str) -> str:
  """A label for a token: visible whitespace for characters."""
  return {' ': '␣', '\n': '⏎', '\t': '⇥'}.get(token, token)


def lm_maps(model, params, tokenizer, prompt: str, out_dir: str) -> list[str]:
  """Self-attention maps of a LM over `prompt` and its greedy continuation."""
  ids = tokenizer.encode(prompt)
  if not ids:
    raise ConfigError('sample.prompt', 'is empty after tokenization; give at least one token')
  limit = min(LM_TOKENS, getattr(getattr(model, 'config', None), 'max_len', LM_TOKENS))
  ids = ids[-limit:]
  if len(ids) < limit:
    greedy = decoding.SampleSettings(temperature=0.0)
    ids += decoding.generate(model, params, ids, limit - len(ids), jax.random.key(0),
                             settings=greedy)[0].tolist()
  maps = collect(model, params, jnp.asarray([ids], jnp.int32))
  if not maps:
    raise ConfigError('model.name', 'this model has no attention weights to draw; accepted: '
                      "model.name='transformer' (an RNN LM does not attend)")
  labels = [_show(tokenizer.decode([i]) or '?') for i in ids]
  return [draw(w[:, 0], labels, labels, os.path.join(out_dir, f'{_file(kind)}.png'),
               f'{kind}: {prompt!r} + greedy continuation') for kind, w in maps.items()]


def translation_maps(model, params, dataset, source: str, out_dir: str) -> list[str]:
  """Cross- (and self-) attention maps of a translator for `source`, on its own greedy output."""
  info = dataset.info
  inputs = pad_to(dataset.tokenizer.encode(source), info.max_len)[None]
  raw = decoding.translate(model, params, inputs, info.target_max_len)[0]
  output = decoding.until_eos(raw)
  decoder_inputs = pad_to([BOS_ID] + output, info.target_max_len)[None]
  maps = collect(model, params, jnp.asarray(inputs), jnp.asarray(decoder_inputs))
  if not maps:
    raise ConfigError('model.seq2seq_attention', 'this model does not attend to the source; '
                      "accepted: 'luong' or 'bahdanau' (or model.name='transformer')")
  src = source.split()[:info.max_len]
  words = [dataset.target_tokenizer.decode([i]) for i in output]
  produced = words + (['<eos>'] if decoding.EOS_ID in raw.tolist() else [])
  fed = ['<bos>'] + produced[:-1]
  translation = ' '.join(words)
  paths = []
  for kind, w in maps.items():
    if kind.startswith('encoder'):
      w, rows, cols = w[:, 0, :, :len(src), :len(src)], src, src
    elif kind.endswith('self_attention'):  # the decoder's, over the tokens it was fed
      w, rows, cols = w[:, 0, :, :len(fed), :len(fed)], fed, fed
    else:  # cross-attention: each produced word against the source words
      kind = kind if kind.endswith('cross_attention') else 'cross_attention'
      w, rows, cols = w[:, 0, :, :len(produced), :len(src)], produced, src
    paths.append(draw(w, rows, cols, os.path.join(out_dir, f'{_file(kind)}.png'),
                      f'{kind}: {source!r} -> {translation!r}'))
  return paths


def _file(kind: str) -> str:
  return kind.replace('/', '_')


def source_sentence(dataset, prompt: str) -> str:
  """`prompt` if every word is in the source vocabulary, else the first evaluation sentence."""
  ids = dataset.tokenizer.encode(prompt)
  if ids and UNK_ID not in ids:
    return prompt
  batch = next(dataset.eval_batches(1))
  return dataset.tokenizer.decode(batch['inputs'][0])


IMAGE_INCHES = 1.6   # per image panel
TOKEN_INCHES = 0.09  # per pixel of the token strip (a patch of p pixels is p * TOKEN_INCHES wide)
ROW_MARGIN_INCHES = 0.6
IMAGES = 4           # images drawn by `image_maps`: the first of the evaluation split


def patch_attention(weights: np.ndarray, pooling: str, grid: tuple[int, int]) -> np.ndarray:
  """What a ViT's pooled output reads from each patch, per layer, averaged over heads.

  Args:
    weights: `[layers, batch, heads, q, k]` self-attention over the tokens, the class token
      first when `pooling == 'cls'`.
    pooling: 'cls' (the class token's query row over the patch keys; what it puts on itself is
      left out) or 'mean' (the mean over all query rows, as mean pooling reads every position).
    grid: (rows, columns) of patches, `rows * columns` patch tokens in reading order.
  Returns:
    `[layers, batch, rows, columns]`.
  """
  if pooling == 'cls':
    per_head = weights[:, :, :, 0, 1:]
  else:
    per_head = weights.mean(axis=3)
  return per_head.mean(axis=2).reshape(*weights.shape[:2], *grid)


def image_figure_inches(num_images: int, layers: int, num_patches: int,
                        patch_size: int) -> tuple[float, float]:
  """(width, height) of `draw_image_attention`'s figure."""
  strip = (num_patches + 1) * (patch_size + 1) * TOKEN_INCHES
  return ((2 + layers) * IMAGE_INCHES + strip, num_images * (IMAGE_INCHES + ROW_MARGIN_INCHES))


def _token_strip(image: np.ndarray, patch_size: int) -> np.ndarray:
  """`[height, width]` -> the patches in reading order side by side, one blank column between,
  a blank (NaN) token in front for the class token: `[p, (num_patches + 1) * (p + 1) - 1]`."""
  p = patch_size
  h, w = image.shape
  patches = image.reshape(h // p, p, w // p, p).transpose(0, 2, 1, 3).reshape(-1, p, p)
  gap = np.full((p, 1), np.nan)
  tiles = [np.full((p, p), np.nan)] + list(patches)
  return np.concatenate([part for tile in tiles for part in (tile, gap)][:-1], axis=1)


def draw_image_attention(images: np.ndarray, attention: np.ndarray, patch_size: int,
                         titles: list[str], path: str, pooling: str = 'cls') -> str:
  """Writes a PNG, one row per image: the image cut into patches (numbered), the patches as the
  transformer's token sequence, and per layer the attention over the patches (bright: much; each
  map scaled to its own maximum) with the image's outline drawn on top.

  Args:
    images: `[n, height, width, channels]`, values in [0, 1]; channels are averaged to grey.
    attention: `[layers, n, height // patch_size, width // patch_size]` (`patch_attention`).
    patch_size: side of a square patch, in pixels.
    titles: n row titles (the label and the model's answer).
    path: the PNG to write (its size is `image_figure_inches(...)` times `DPI` pixels).
    pooling: 'cls' or 'mean', for the panel titles.
  """
  layers, n, rows, cols = attention.shape
  p = patch_size
  grey = images.mean(axis=-1)
  width, height = image_figure_inches(n, layers, rows * cols, p)
  strip_ratio = (width - (2 + layers) * IMAGE_INCHES) / IMAGE_INCHES
  fig = Figure(figsize=(width, height), dpi=DPI, layout='constrained')
  axes = fig.subplots(n, 2 + layers, squeeze=False,
                      width_ratios=[1, strip_ratio] + [1] * layers)
  reader = '[CLS] token' if pooling == 'cls' else 'mean pooling'
  for i in range(n):
    ax = axes[i, 0]
    ax.imshow(grey[i], cmap='gray_r', vmin=0, vmax=1)
    for edge in range(p, max(grey[i].shape), p):
      ax.axhline(edge - 0.5, color='tab:red', lw=0.8)
      ax.axvline(edge - 0.5, color='tab:red', lw=0.8)
    for k in range(rows * cols):
      r, c = divmod(k, cols)
      ax.text(c * p + p / 2 - 0.5, r * p + p / 2 - 0.5, str(k), color='tab:red', fontsize=6,
              ha='center', va='center')
    ax.set_title(titles[i], fontsize=8)
    ax = axes[i, 1]
    ax.imshow(_token_strip(grey[i], p), cmap='gray_r', vmin=0, vmax=1)
    centres = np.arange(rows * cols + 1) * (p + 1) + (p - 1) / 2
    ax.set_xticks(centres, ['cls' if pooling == 'cls' else ''] + [str(k) for k in
                                                                  range(rows * cols)],
                  fontsize=6)
    ax.set_title(f'{rows * cols} tokens: {p}x{p} patches', fontsize=8)
    for layer in range(layers):
      ax = axes[i, 2 + layer]
      ax.imshow(np.kron(attention[layer, i], np.ones((p, p))), cmap='inferno', vmin=0,
                vmax=max(float(attention[layer, i].max()), 1e-9))
      ax.contour(grey[i], levels=[0.5], colors='cyan', linewidths=1.0)  # the digit's outline
      ax.set_title(f'layer {layer}: {reader}', fontsize=8)
    for ax in axes[i]:
      ax.set_yticks([])
      if ax is not axes[i, 1]:
        ax.set_xticks([])
  fig.savefig(path, dpi=DPI)
  return path


def image_maps(model, params, dataset, model_config, out_dir: str) -> list[str]:
  """A ViT's attention over the patches of the first `IMAGES` evaluation images, on the images."""
  batch = next(dataset.eval_batches(IMAGES))
  images = batch['inputs'][batch['weights'] > 0]
  maps = collect(model, params, jnp.asarray(images))
  if not maps:
    raise ConfigError('model.name', "this model has no attention weights to draw; accepted: "
                      "model.name='vit'")
  (weights,) = maps.values()
  p, pooling = model_config.patch_size, model_config.pooling
  grid = (images.shape[1] // p, images.shape[2] // p)
  logits, _ = _forward_with_intermediates(model, params, jnp.asarray(images))  # compiled above
  titles = [f'label {y}, model says {a}'
            for y, a in zip(batch['targets'], np.asarray(logits).argmax(-1))]
  path = os.path.join(out_dir, 'patch_attention.png')
  return [draw_image_attention(images, patch_attention(weights, pooling, grid), p, titles, path,
                               pooling)]
