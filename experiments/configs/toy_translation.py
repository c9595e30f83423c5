"""Toy French -> English translation (a bilingual grammar: agreement, adjectives after the noun
in French and before it in English, optional relative clauses): an encoder-decoder transformer,
or an LSTM encoder-decoder with attention.

Command:
  python launch.py --config=experiments/configs/toy_translation.py:transformer --workdir=runs/tt
  (variants: transformer, lstm; `--config.data.eval_split=length` evaluates on the sentences
  longer than `data.max_len` words, held out of training)

Data: 10,000 training pairs of at most 12 French words, 1,000 test pairs, 1,000 longer pairs
(13-17 words, two relative clauses); built into data.data_dir on first use in about 4 s.
Run time and result (transformer, measured; experiments/results/toy_translation_transformer/):
1000 steps of 64 in 212 s of training (loop wall time; about 4 minutes for the whole command,
compilation included) on the shared 2-core CPU, at 12-15 steps/s once compiled. Evaluation on
`test` (1,000 pairs, greedy decoding): exact match 1.0 and BLEU 100 at steps 500 and 1000. The
same checkpoint on `length` (13-17 words, never seen in training): exact match 0.0, BLEU 61.3
(59.4 before token embeddings were scaled by sqrt(d), 2026-12-05);
the translations stop after about 12 words (the longest output it was trained on).
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
