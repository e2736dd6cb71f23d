"""MLflow "models from code" entry point for the registered models (registry.log_classifier).

MLflow copies this file into the logged model and runs it at load time instead of unpickling a
Python object, so loading a registered model executes only the package's own code.
"""

import mlflow

from seqnetquake.registry import ClassifierModel

mlflow.models.set_model(ClassifierModel())
