"""The sklearn-wine example: a scikit-learn pipeline saved with joblib, served by the script
AWS documents for its scikit-learn container (``model_fn`` and ``predict_fn`` only: the
default codecs decode the request and encode the answer).

The pickle records the scikit-learn version that made it, and the image must run that same
version (another one warns at load, naming both): the host's scikit-learn must be the one
``requirements/cpu.in`` pins, or generation stops and says so. Needs the ``dev`` extra.
"""

from __future__ import annotations

from pathlib import Path

from sagepack.errors import SagepackError
from sagepack.examples.common import need, write_model_and_samples

NAME = "sklearn-wine"
INSTALL = "pip install -e '.[dev]' (scikit-learn)"
MODEL_FILE = "model.joblib"

# Rows of the wine data set (13 measurements), two of each cultivar.
SAMPLE_INDEX = [0, 50, 59, 100, 130, 170]


def check_tools() -> None:
    need("sklearn", INSTALL, NAME)


def pinned_version(model_root: Path, project: str = "scikit-learn") -> str:
    """The version ``requirements/cpu.in`` pins ``project`` to (``==``)."""
    from packaging.utils import canonicalize_name

    from sagepack.images.lock import read_requirements

    source = model_root / "requirements" / "cpu.in"
    for line in read_requirements(source):
        if line.key == canonicalize_name(project):
            pins = [s.version for s in line.requirement.specifier if s.operator == "=="]
            if pins:
                return pins[0]
    raise SagepackError(f"{source}: {project} must be pinned with == (the version the "
                        "pickle is made with)")


# The fit and the pickle are made in a fresh interpreter: a pickle refers back to an object it
# already wrote when the same object comes again, so equal strings pickle differently when
# one process happens to share them and another does not (what ran before in the process).
_FIT = """
import io, sys
import joblib
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
wine = load_wine()
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=0))
model.fit(wine.data, wine.target)
buffer = io.BytesIO()
joblib.dump(model, buffer)
sys.stdout.buffer.write(buffer.getvalue())
"""


def train(model_root: Path) -> tuple[bytes, list[list[float]]]:
    """The fitted pipeline's joblib bytes and the sample rows."""
    import subprocess
    import sys

    import sklearn
    from sklearn.datasets import load_wine

    pinned = pinned_version(model_root)
    if sklearn.__version__ != pinned:
        raise SagepackError(
            f"this machine has scikit-learn {sklearn.__version__}, but {NAME}'s image pins "
            f"{pinned} (requirements/cpu.in): a pickle made by {sklearn.__version__} warns "
            f"when {pinned} loads it. Install scikit-learn=={pinned}, or change the pin and "
            f"run `invoke lock --model {NAME}` first")
    fit = subprocess.run([sys.executable, "-c", _FIT], capture_output=True, check=False)
    if fit.returncode != 0:
        raise SagepackError(f"{NAME}: fitting the model failed:\n"
                            f"{fit.stderr.decode(errors='replace')[-2000:]}")
    wine = load_wine()
    rows = [[float(v) for v in wine.data[i]] for i in SAMPLE_INDEX]
    return fit.stdout, rows


def generate(model_root: Path) -> list[Path]:
    """(Re)write ``model.joblib``, the samples and their expected responses."""
    model_bytes, rows = train(model_root)
    return write_model_and_samples(model_root, MODEL_FILE, model_bytes, rows)
