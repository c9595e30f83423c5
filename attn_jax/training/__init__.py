"""Training: train state, pure steps, the pmap wrapper, the loop, checkpoints and metrics."""
from attn_jax.training.config import train_config_defaults, validate_train_config
from attn_jax.training.loop import train_and_evaluate
from attn_jax.training.optimizer import make_optimizer, make_schedule
from attn_jax.training.state import create_train_state
from attn_jax.training.steps import eval_step, train_step
