"""Every data setting and its default (`--config.data.<key>=<value>` overrides any of them)."""
import ml_collections

from attn_jax.data import tfds_utils


def data_config_defaults() -> ml_collections.ConfigDict:
  """The `data` section of a config. Settings a dataset does not use are ignored by it."""
  c = ml_collections.ConfigDict()
  # Which dataset: a name of `attn_jax.data.registry.DATASET_NAMES` or a prepared TFDS dataset.
  c.name = 'text'
  # Sequence length: window of `text`, length of generated tasks, truncation of catalog text.
  c.seq_len = 128
  # File or folder read by `text` ('' = the Python documentation topics of this interpreter).
  c.path = ''
  # Where TFDS datasets are prepared and built ('' resolves to $TFDS_DATA_DIR or
  # ~/tensorflow_datasets); our builders build here on first use.
  c.data_dir = tfds_utils.default_data_dir()
  # Split evaluated by the training loop ('' = the dataset's test/validation split).
  c.eval_split = ''
  # Seed of generated data (which ListOps trees, which translation pairs, the SCAN simple split).
  # The run's `seed` only orders training batches.
  c.build_seed = 0
  # Tokenizer of text inputs: 'char' (vocabulary of the training split), 'byte' or 'word'.
  c.tokenizer = 'char'

  # text: fraction of the corpus (its end) held out for validation; training window stride.
  c.val_fraction = 0.1
  c.stride = 1

  # scan: 'simple' | 'length' | 'addprim_jump'.
  c.split = 'simple'
  # toy_translation: sentences of more than `max_len` source words form the 'length' split.
  c.max_len = 12
  c.num_train_examples = 10000
  c.num_test_examples = 1000

  # listops (Long Range Arena defaults; configs use smaller ones).
  c.listops_max_depth = 10
  c.listops_max_args = 10
  c.listops_value_prob = 0.25
  c.listops_min_length = 500
  c.listops_max_length = 2000
  c.listops_num_train = 96000
  c.listops_num_validation = 2000
  c.listops_num_test = 2000

  # Generated tasks (copy, recall, first_token, adding, mqar, parity): fixed evaluation set size;
  # copy: tokens to copy and alphabet size; recall/first_token/mqar: classes (value alphabet);
  # recall/mqar: key alphabet (0 = max(16, number of pairs) for recall, max(32, pairs) for mqar).
  c.num_eval_examples = 512
  c.copy_length = 10
  c.num_symbols = 8
  c.num_classes = 10
  c.num_keys = 0
  # mqar: key-value pairs (0 = seq_len // 4, the context and queries fill the sequence; fewer:
  # the context at the start, the queries at the end, BLANKs between, as in Zoology).
  c.num_pairs = 0
  # Generated tasks: extra evaluation splits `test_{m}x` at m times seq_len (length extrapolation).
  c.eval_length_multipliers = ()
  return c
