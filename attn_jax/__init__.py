"""attn_jax: pure-function sequence models in JAX/Flax, trained by one loop and measured side by side."""
