"""Toy French -> English translation from a small bilingual grammar.

  S   -> NP [qui V NP] V NP [qui V NP]            (relative clauses optional)
  NP  -> DET N [ADJ]   (French: noun then adjective; English: adjective then noun)
DET, ADJ and N agree in gender (French) and number; the verb agrees with its subject in number
(`le chat noir qui voit les filles mange une table` -> `the black cat that sees the girls eats
a table`). 10 nouns, 6 adjectives, 5 verbs: 59 French and 40 English words.

Splits: `train` and `test` hold distinct sentences of at most `data.max_len` French words;
`length` holds sentences longer than that (with the default 12: exactly the sentences with two
relative clauses), for a length-generalisation test. Sizes: `data.num_train_examples`, and
`data.num_test_examples` for each of `test` and `length`. Deterministic by `data.build_seed`.
"""
import functools
import random

from attn_jax.data import pipeline
from attn_jax.data import seq2seq
from attn_jax.errors import ConfigError

# French singular, French plural, English singular, English plural; gender.
NOUNS = (
    ('chat', 'chats', 'cat', 'cats', 'm'), ('chien', 'chiens', 'dog', 'dogs', 'm'),
    ('garçon', 'garçons', 'boy', 'boys', 'm'), ('loup', 'loups', 'wolf', 'wolves', 'm'),
    ('livre', 'livres', 'book', 'books', 'm'), ('fille', 'filles', 'girl', 'girls', 'f'),
    ('maison', 'maisons', 'house', 'houses', 'f'), ('table', 'tables', 'table', 'tables', 'f'),
    ('voiture', 'voitures', 'car', 'cars', 'f'), ('femme', 'femmes', 'woman', 'women', 'f'),
)
# French masculine singular, feminine singular, masculine plural, feminine plural; English.
ADJECTIVES = (
    ('petit', 'petite', 'petits', 'petites', 'small'),
    ('grand', 'grande', 'grands', 'grandes', 'big'),
    ('noir', 'noire', 'noirs', 'noires', 'black'),
    ('vert', 'verte', 'verts', 'vertes', 'green'),
    ('blanc', 'blanche', 'blancs', 'blanches', 'white'),
    ('rouge', 'rouge', 'rouges', 'rouges', 'red'),
)
# French singular, French plural, English singular, English plural.
VERBS = (('voit', 'voient', 'sees', 'see'), ('mange', 'mangent', 'eats', 'eat'),
         ('aime', 'aiment', 'likes', 'like'), ('trouve', 'trouvent', 'finds', 'find'),
         ('suit', 'suivent', 'follows', 'follow'))
# (definite, plural) -> French masculine, French feminine, English.
DETERMINERS = {(True, False): ('le', 'la', 'the'), (True, True): ('les', 'les', 'the'),
               (False, False): ('un', 'une', 'a'), (False, True): ('des', 'des', 'some')}
ADJECTIVE_P = 0.5
RELATIVE_P = 0.3
LONGEST = 17  # Words of the longest French sentence.


def noun_phrase(rng: random.Random) -> tuple[list[str], list[str], bool]:
  """(French words, English words, plural) of a random noun phrase."""
  fr_sg, fr_pl, en_sg, en_pl, gender = rng.choice(NOUNS)
  plural, definite = rng.random() < 0.5, rng.random() < 0.5
  det_m, det_f, det_en = DETERMINERS[(definite, plural)]
  fr = [det_m if gender == 'm' else det_f, fr_pl if plural else fr_sg]
  en = [det_en]
  if rng.random() < ADJECTIVE_P:
    adjective = rng.choice(ADJECTIVES)
    fr.append(adjective[2 * plural + (gender == 'f')])
    en.append(adjective[4])
  en.append(en_pl if plural else en_sg)
  return fr, en, plural


def _verb(rng: random.Random, plural: bool) -> tuple[str, str]:
  fr_sg, fr_pl, en_sg, en_pl = rng.choice(VERBS)
  return (fr_pl, en_pl) if plural else (fr_sg, en_sg)


def _noun_phrase_with_clause(rng: random.Random) -> tuple[list[str], list[str], bool]:
  fr, en, plural = noun_phrase(rng)
  if rng.random() < RELATIVE_P:
    verb_fr, verb_en = _verb(rng, plural)
    obj_fr, obj_en, _ = noun_phrase(rng)
    fr, en = fr + ['qui', verb_fr] + obj_fr, en + ['that', verb_en] + obj_en
  return fr, en, plural


def sentence(rng: random.Random) -> tuple[str, str]:
  """A random (French, English) sentence pair."""
  subj_fr, subj_en, plural = _noun_phrase_with_clause(rng)
  verb_fr, verb_en = _verb(rng, plural)
  obj_fr, obj_en, _ = _noun_phrase_with_clause(rng)
  return ' '.join(subj_fr + [verb_fr] + obj_fr), ' '.join(subj_en + [verb_en] + obj_en)


def generate(options: dict) -> dict[str, seq2seq.Pairs]:
  rng = random.Random(options['seed'])
  max_len, num_train, num_test = options['max_len'], options['num_train'], options['num_test']
  short, long = {}, {}  # Insertion-ordered sets of distinct pairs.
  while len(short) < num_train + num_test or len(long) < num_test:
    pair = sentence(rng)
    (short if len(pair[0].split()) <= max_len else long).setdefault(pair, None)
  short = list(short)
  return {'train': short[:num_train], 'test': short[num_train:num_train + num_test],
          'length': list(long)[:num_test]}


builder_cls = functools.cache(
    lambda: seq2seq.pair_builder('attn_jax_toy_translation', generate, __doc__))


# The `data.*` settings `load` reads (besides name and eval_split; config_base.check_read).
SETTINGS = ('data_dir', 'build_seed', 'max_len', 'num_train_examples', 'num_test_examples')


def load(config, seed: int) -> pipeline.Dataset:
  if not 5 <= config.max_len < LONGEST:
    raise ConfigError('data.max_len', f'must be in 5..{LONGEST - 1} (sentences have 5 to '
                      f'{LONGEST} words), got {config.max_len}')
  for key in ('num_train_examples', 'num_test_examples'):
    if not 0 < config[key] <= 200_000:
      raise ConfigError(f'data.{key}', f'must be in 1..200000, got {config[key]}')
  options = {'seed': config.build_seed, 'max_len': config.max_len,
             'num_train': config.num_train_examples, 'num_test': config.num_test_examples}
  return seq2seq.load_pairs(builder_cls(), config, options, seed, eval_splits=('test', 'length'))
