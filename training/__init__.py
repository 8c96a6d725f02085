"""baoxue.training: labels, temporal splits, model fitting, calibration, evaluation,
fairness audit, MLflow tracking and the model bundle."""

__all__: list[str] = []
