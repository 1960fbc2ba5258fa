"""Buy-'til-you-die customer lifetime value models in pure numpy / scipy / pandas.

* ``summary_from_transactions`` / ``calibration_holdout_split``: RFM summaries (data.py).
* ``BetaGeo`` (BG/NBD), ``ModifiedBetaGeo`` (MBG/NBD), ``ParetoNBD``: purchase-count models
  with ``fit(frequency, recency, T, weights=None)``, ``params_``, ``log_likelihood_``,
  ``standard_errors_``, ``expected_purchases``, ``probability_alive``,
  ``expected_purchases_new_customer`` and ``conditional_probability_n_purchases``.
* ``GammaGamma``: spend model with ``expected_average_value`` and ``customer_lifetime_value``.
* ``simulate``: exact simulators of the generative processes.

Note: a summary DataFrame's ``T`` column must be read as ``df["T"]`` (``df.T`` is the transpose).
"""

from orchestration.ml.clv._common import ConvergenceError
from orchestration.ml.clv.beta_geo import BetaGeo, ModifiedBetaGeo
from orchestration.ml.clv.data import calibration_holdout_split, summary_from_transactions
from orchestration.ml.clv.gamma_gamma import WEEKS_PER_MONTH, GammaGamma
from orchestration.ml.clv.pareto_nbd import ParetoNBD
from orchestration.ml.clv.simulate import simulate_beta_geo, simulate_gamma_gamma, simulate_pareto_nbd

__all__ = [
    "WEEKS_PER_MONTH",
    "BetaGeo",
    "ConvergenceError",
    "GammaGamma",
    "ModifiedBetaGeo",
    "ParetoNBD",
    "calibration_holdout_split",
    "simulate_beta_geo",
    "simulate_gamma_gamma",
    "simulate_pareto_nbd",
    "summary_from_transactions",
]
