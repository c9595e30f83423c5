"""The task description that data and models share: the task kind, sizes, and the batch format.

Neither package owns it: `attn_jax.data` builds batches to this contract and describes each
dataset with a `TaskInfo`; `attn_jax.models` builds a model for a `TaskInfo` and reads batches of
this format. It imports nothing of the project.

Batch format (numpy dicts; the training package reshapes the leading axis to
`[devices, per_device_batch, ...]`). In every token task id `PAD_ID` (0) is padding, `BOS_ID` (1)
starts a decoder input and `EOS_ID` (2) ends a target (tokenizers reserve them, and UNK, 3).

* `classification`: `inputs` int32 `[batch, length]` tokens, or float32 `[batch, features]` /
  `[batch, height, width, channels]`; `targets` int32 `[batch]`; `weights` float32 `[batch]`.
* `regression`: `inputs` float32 `[batch, length, features]`; `targets` float32 `[batch]`;
  `weights` float32 `[batch]`. Models output `[batch, 1]`.
* `lm`: per-position prediction by a causal model. `inputs` int32 `[batch, length]`; `targets`
  int32 `[batch, length]`; `weights` float32 `[batch, length]` (0 where nothing is predicted).
* `seq2seq`: `inputs` int32 `[batch, source_length]`; `decoder_inputs` int32
  `[batch, target_length]` (BOS then the target shifted right); `targets` int32
  `[batch, target_length]` (ending in EOS, then PAD); `weights` float32 `[batch, target_length]`.

A weight of 0 marks padding (a padded evaluation batch, a padded position); metrics are sums of
weighted values plus the sum of weights, so padding never changes a result.
"""
import dataclasses

TASK_KINDS = ('classification', 'regression', 'lm', 'seq2seq')
PAD_ID = 0
BOS_ID = 1
EOS_ID = 2


@dataclasses.dataclass(frozen=True)
class TaskInfo:
  """Sizes a model needs to be built for a dataset.

  Attributes:
    kind: one of `TASK_KINDS`.
    max_len: length of `inputs` (0 for non-sequence inputs such as Iris features).
    vocab_size: input token vocabulary size, PAD included (0 when inputs are floats).
    input_dim: features per example or per position when inputs are floats (0 for tokens).
    num_classes: classes for `classification` (1 for `regression`).
    target_vocab_size: output vocabulary for `lm` and `seq2seq`.
    target_max_len: length of `decoder_inputs`/`targets` for `seq2seq`.
    input_shape: shape of one example's `inputs` (without the batch axis).
  """
  kind: str
  max_len: int = 0
  vocab_size: int = 0
  input_dim: int = 0
  num_classes: int = 0
  target_vocab_size: int = 0
  target_max_len: int = 0
  input_shape: tuple[int, ...] = ()

  def __post_init__(self):
    if self.kind not in TASK_KINDS:
      raise ValueError(f'unknown task kind {self.kind!r}; expected one of {TASK_KINDS}')
