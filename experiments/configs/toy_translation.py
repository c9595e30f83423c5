"""Toy French -> English translation (a bilingual grammar: agreement, adjectives after the noun
in French and before it in English, optional relative clauses): an encoder-decoder transformer,
or an LSTM encoder-decoder with attention.

Command:
  python launch.py --config=experiments/configs/toy_translation.py:transformer --workdir=runs/tt
  (variants: transformer, lstm; `--config.data.eval_split=length` evaluates on the sentences
  longer than `data.max_len` words, held out of training)

Data: 10,000 training pairs of at most 12 French words, 1,000 test pairs, 1,000 longer pairs
(13-17 words, two relative clauses); built into data.data_dir on first use in about 4 s.

Expect (transformer): exact match 1.0 and BLEU 100 on `test` after 1000 steps, about 4 minutes on
a 2-core CPU; on `length` exact match 0.0 (translations stop near 12 words). Results:
experiments/results/toy_translation_transformer/README.md
"""
from attn_jax.config_base import base_config, variant_of
from attn_jax.config_presets import LOG_100, ONE_LAYER_128, TRANSFORMER

VARIANTS = {
    'transformer': TRANSFORMER,
    'lstm': dict(ONE_LAYER_128, name='lstm', seq2seq_attention='luong'),
}


def get_config(variant: str = 'transformer'):
  return base_config(
      model=variant_of(VARIANTS, variant),
      data=dict(name='toy_translation'),
      train=dict(batch_size=64, learning_rate=3e-3, **LOG_100),
      # mode=sample translates it (beam search); mode=attention draws its attention maps.
      sample=dict(prompt='le chat noir qui voit les filles mange une voiture rouge'),
  )
