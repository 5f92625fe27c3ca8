"""``invoke new``: a model folder under ``artifacts/`` from a trained model.

:mod:`.new` copies the model and writes what it lacks; :mod:`.detect` guesses the framework
and its requirements from the files (read without loading them: :mod:`.sniff`,
:mod:`.onnx_proto`) and the handler's imports; :mod:`.templates` renders the handler,
``sagepack.toml``, ``requirements/cpu.in`` and the sample.
"""

from sagepack.scaffold.detect import Guess, guess
from sagepack.scaffold.new import NewModel, new_model

__all__ = ["Guess", "NewModel", "guess", "new_model"]
