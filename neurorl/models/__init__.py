"""Learning models: distributional TD, Q-AGREL and its backprop baseline, BCI learners."""

from .classifier import BackpropClassifier, QAGRELClassifier

__all__ = ["QAGRELClassifier", "BackpropClassifier"]
