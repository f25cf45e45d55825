"""Running NUTS quietly, and judging what it returned.

:class:`Sampling` holds the sampler's settings; :func:`sample` runs ``pymc.sample`` on
a model with PyMC's own NUTS or, when it is installed and chosen, nutpie's (a Rust NUTS
that PyMC drives through ``nuts_sampler="nutpie"``), and keeps everything the samplers
print — PyMC's log lines, compiler and sampler warnings, progress text — out of the
notebook: each is logged at DEBUG (INFO for warnings) on this module's logger, which
the stage sends to the run log. :func:`sampling_diagnostics` then says in words whether
the draws can be trusted (r-hat, effective sample size, divergences).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "MAX_R_HAT",
    "MIN_ESS_PER_CHAIN",
    "SAMPLERS",
    "Sampling",
    "nuts_sampler",
    "sample",
    "sampling_diagnostics",
]

log = logging.getLogger(__name__)

MAX_R_HAT = 1.01  # Vehtari et al. (2021): rank-normalised split r-hat below 1.01
MIN_ESS_PER_CHAIN = 100  # bulk and tail ESS of at least 100 per chain
#: NUTS implementations :class:`Sampling` may name: ``auto`` is nutpie when it is
#: installed, else PyMC's own.
SAMPLERS = ("auto", "pymc", "nutpie")
#: Loggers whose records the samplers emit while they run (captured by :func:`sample`).
_SAMPLER_LOGGERS = ("pymc", "pytensor", "nutpie", "arviz")


def nuts_sampler(choice: str = "auto") -> str:
    """The NUTS implementation ``choice`` resolves to on this machine.

    Raises
    ------
    ValueError
        ``choice`` is not one of :data:`SAMPLERS`, or ``"nutpie"`` is asked for and not
        installed.

    Examples
    --------
    >>> nuts_sampler("pymc")
    'pymc'
    """
    if choice not in SAMPLERS:
        raise ValueError(f"sampler: expected one of {', '.join(SAMPLERS)}, got {choice!r}")
    installed = importlib.util.find_spec("nutpie") is not None
    if choice == "nutpie" and not installed:
        raise ValueError(
            "sampler 'nutpie' is not installed in this environment; use sampler='pymc' "
            "(or 'auto', which picks nutpie only when it is installed)"
        )
    if choice == "auto":
        return "nutpie" if installed else "pymc"
    return choice


@dataclass(frozen=True)
class Sampling:
    """NUTS settings shared by the sampled models.

    ``cores`` above ``chains`` is pointless and is capped; keep it at 1–2 on shared machines.
    ``sampler`` is one of :data:`SAMPLERS`.
    """

    draws: int = 1000
    tune: int = 500
    chains: int = 4
    cores: int = 1
    random_seed: int = 7
    target_accept: float = 0.95
    sampler: str = "auto"

    def __post_init__(self) -> None:
        for name in ("draws", "tune", "chains", "cores"):
            value = getattr(self, name)
            minimum = 0 if name == "tune" else 1
            if not isinstance(value, int | np.integer) or value < minimum:
                raise ValueError(
                    f"sampling {name}: expected an integer >= {minimum}, got {value!r}"
                )
        if not 0.5 <= self.target_accept < 1:
            raise ValueError(f"target_accept: expected 0.5 to 1, got {self.target_accept!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(
                f"sampler: expected one of {', '.join(SAMPLERS)}, got {self.sampler!r}"
            )

    @property
    def total_draws(self) -> int:
        """Draws over all chains: the number of rows of every posterior draw table."""
        return int(self.draws) * int(self.chains)

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``pymc.sample``."""
        chosen = nuts_sampler(self.sampler)
        cores = int(min(self.cores, self.chains))
        out: dict[str, Any] = {
            "draws": int(self.draws),
            "tune": int(self.tune),
            "chains": int(self.chains),
            "cores": cores,
            "random_seed": int(self.random_seed),
            "target_accept": float(self.target_accept),
            "progressbar": False,
            "compute_convergence_checks": False,  # sampling_diagnostics reports them
            "nuts_sampler": chosen,
        }
        if chosen == "nutpie":  # PyMC does not pass cores on to nutpie (it takes every CPU)
            out["nuts_sampler_kwargs"] = {"cores": cores}
        return out


def sample(model: Any, sampling: Sampling, *, label: str = "model") -> Any:
    """``pymc.sample(model, ...)`` with everything the sampler prints logged, not shown.

    Returns the ``arviz.InferenceData``. PyMC's INFO lines ("Initializing NUTS…",
    "Sampling 4 chains…"), PyTensor's and nutpie's messages and any warning raised while
    sampling go to this module's logger with ``label`` in front; nothing reaches the
    notebook's stdout or stderr.
    """
    import pymc as pm

    kwargs = sampling.kwargs()
    log.info(
        "%s: NUTS (%s) %d draws + %d tuning steps x %d chains",
        label,
        kwargs["nuts_sampler"],
        sampling.draws,
        sampling.tune,
        sampling.chains,
    )
    with _captured(label):
        return pm.sample(model=model, **kwargs)


@contextlib.contextmanager
def _captured(label: str) -> Iterator[None]:
    """Route the samplers' loggers, warnings and Python-level stdout/stderr to ``log``."""
    forward = _Forward(label)
    saved = []
    for name in _SAMPLER_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.handlers[:], logger.propagate))
        logger.handlers = [forward]
        logger.propagate = False
    out, err = io.StringIO(), io.StringIO()
    try:
        with (
            warnings.catch_warnings(record=True) as caught,
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            warnings.simplefilter("always")
            yield
    finally:
        for logger, handlers, propagate in saved:
            logger.handlers = handlers
            logger.propagate = propagate
    for item in caught:
        log.info("%s: sampler warning (%s): %s", label, item.category.__name__, item.message)
    for stream in (out, err):
        text = stream.getvalue().strip()
        if text:
            log.debug("%s: sampler output: %s", label, text)


class _Forward(logging.Handler):
    """A handler that re-logs a sampler's record on this module's logger at DEBUG (its
    warnings at INFO), prefixed with the model's label."""

    def __init__(self, label: str) -> None:
        super().__init__(logging.DEBUG)
        self.label = label

    def emit(self, record: logging.LogRecord) -> None:
        level = logging.INFO if record.levelno >= logging.WARNING else logging.DEBUG
        log.log(level, "%s: %s: %s", self.label, record.name, record.getMessage())


# --------------------------------------------------------------------------- diagnostics


def sampling_diagnostics(
    idata: Any, var_names: list[str] | None = None, *, label: str = "model"
) -> dict[str, Any]:
    """r-hat, effective sample sizes and divergences, with ``ok`` and the problems in words.

    Thresholds: r-hat ≤ 1.01, bulk and tail ESS ≥ 100 per chain, no divergences. Poor
    diagnostics are logged as a WARNING.

    Returns
    -------
    dict
        ``method`` ("nuts"), ``max_r_hat, min_ess_bulk, min_ess_tail, divergences,
        chains, draws, ok, problems`` (a list of sentences).
    """
    import arviz as az

    posterior = idata.posterior
    chains, draws = int(posterior.sizes["chain"]), int(posterior.sizes["draw"])
    names = var_names or list(posterior.data_vars)
    # constant quantities (e.g. a known order value) have no r-hat: ignore their NaN
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        r_hat = _extreme(az.rhat(idata, var_names=names), np.nanmax) if chains > 1 else np.nan
        ess_bulk = _extreme(az.ess(idata, var_names=names, method="bulk"), np.nanmin)
        ess_tail = _extreme(az.ess(idata, var_names=names, method="tail"), np.nanmin)
    divergences = (
        int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats else 0
    )
    min_ess = MIN_ESS_PER_CHAIN * chains
    problems = []
    if np.isfinite(r_hat) and r_hat > MAX_R_HAT:
        problems.append(f"r-hat {r_hat:.3f} > {MAX_R_HAT} (chains disagree)")
    if chains < 2:
        problems.append("one chain only: r-hat cannot be computed")
    if np.isfinite(ess_bulk) and ess_bulk < min_ess:
        problems.append(f"bulk ESS {ess_bulk:.0f} < {min_ess} (100 per chain)")
    if np.isfinite(ess_tail) and ess_tail < min_ess:
        problems.append(f"tail ESS {ess_tail:.0f} < {min_ess} (intervals are unreliable)")
    if divergences:
        problems.append(f"{divergences} divergent transition(s) (the posterior may be biased)")
    result = {
        "method": "nuts",
        "max_r_hat": float(r_hat),
        "min_ess_bulk": float(ess_bulk),
        "min_ess_tail": float(ess_tail),
        "divergences": divergences,
        "chains": chains,
        "draws": draws,
        "ok": not problems,
        "problems": problems,
    }
    if problems:
        log.warning("%s: poor sampling diagnostics: %s", label, "; ".join(problems))
    return result


def _extreme(dataset: Any, reducer: Callable[..., Any]) -> float:
    parts = [np.asarray(dataset[name]).ravel() for name in dataset.data_vars]
    values = np.concatenate(parts) if parts else np.array([np.nan])
    values = values[np.isfinite(values)]
    return float(reducer(values)) if len(values) else float("nan")
