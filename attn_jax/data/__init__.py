"""Datasets: TFDS builders (array_record, no TensorFlow), generated tasks, tokenizers, batching.

Public API: `load_dataset(data_config, *, seed) -> Dataset` and `data_config_defaults()`.
"""
from attn_jax.data.config import data_config_defaults
from attn_jax.data.pipeline import Dataset
from attn_jax.data.registry import DATASET_NAMES
from attn_jax.data.registry import load_dataset

__all__ = ['DATASET_NAMES', 'Dataset', 'data_config_defaults', 'load_dataset']
