"""Adafactor set up as T5X's default for T5 training, built from optax's transformations.

Settings (T5X `adafactor.Adafactor` defaults used for T5 v1.1 and Flan-T5; Shazeer & Stern 2018):
  second moments factored into row and column statistics for parameters whose two largest dimensions are
  both >= 128 (`min_dim_size_to_factor`), full second moments otherwise;
  second-moment decay 1 - (t + 1) ** -0.8 at optimizer step t (`decay_rate`);
  epsilon1 = 1e-30 added to squared gradients; update clipped to RMS <= 1.0 (`clipping_threshold`);
  update scaled by max(RMS(param), epsilon2 = 1e-3) (`multiply_by_parameter_scale`); no momentum.
"""
import gin
import optax


@gin.configurable
def make_optimizer(learning_rate, *, factored=True, min_dim_size_to_factor=128, decay_rate=0.8,
                   clipping_threshold=1.0, multiply_by_parameter_scale=True, epsilon1=1e-30,
                   epsilon2=1e-3, momentum=None):
  """Returns the optax GradientTransformation; `learning_rate` is a float or a step -> rate schedule."""
  chain = [optax.scale_by_factored_rms(factored=factored, decay_rate=decay_rate,
                                       min_dim_size_to_factor=min_dim_size_to_factor, epsilon=epsilon1)]
  if clipping_threshold is not None:
    chain.append(optax.clip_by_block_rms(clipping_threshold))
  chain.append(optax.scale_by_learning_rate(learning_rate, flip_sign=False))
  if multiply_by_parameter_scale:
    chain.append(optax.scale_by_param_block_rms(min_scale=epsilon2))
  if momentum is not None:
    chain.append(optax.ema(momentum, debias=False))
  chain.append(optax.scale(-1.0))
  return optax.chain(*chain)
