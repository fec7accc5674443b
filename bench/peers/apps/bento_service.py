"""Run by ``bentoml serve`` inside the BentoML venv: the minimal service for the benchmark's model."""

import os

import bentoml
import joblib
import numpy as np


@bentoml.service
class RandomForest:
    def __init__(self) -> None:
        self.model = joblib.load(os.environ["BENCH_MODEL"])

    @bentoml.api
    def predict(self, instances: list[list[float]]) -> list[int]:
        return self.model.predict(np.asarray(instances)).tolist()
