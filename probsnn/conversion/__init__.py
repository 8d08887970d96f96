"""ANN-to-SNN conversion: rate conversion (Rueckauer et al. 2017), few-spike conversion (Stockl & Maass
2021) and hybrid surrogate-gradient fine-tuning (Rathi et al. 2020)."""
from .ann import *  # noqa: F401,F403
from .rate import *  # noqa: F401,F403
from .fewspike import *  # noqa: F401,F403
from .hybrid import *  # noqa: F401,F403
