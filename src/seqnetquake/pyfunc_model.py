"""MLflow "models from code" entry point for the registered models (serving.log_classifier).

MLflow copies this file into the logged model and runs it at load time instead of unpickling a
Python object, so loading a registered model executes only the package's own code. Models
logged earlier name this file and the class it sets: keep both names.
"""

import mlflow

from seqnetquake.serving import ClassifierModel

mlflow.models.set_model(ClassifierModel())
