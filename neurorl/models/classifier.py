"""scikit-learn classifiers built on the Q-AGREL network and its error-backprop twin.

:class:`QAGRELClassifier` learns by trial and error: on every training trial it sees one sample, picks a class
by max-Boltzmann selection over its Q-values, and learns from the reward alone (1 if the class was right, else
0), with the four-factor rule of :class:`~neurorl.models.qagrel.QAGREL`. :class:`BackpropClassifier` is the same
ReLU network trained on the labels by error backpropagation (:class:`~neurorl.models.backprop.BackpropMLP`).
Both follow the scikit-learn estimator contract (``fit`` / ``partial_fit`` / ``predict`` / ``predict_proba`` /
``score``; ``clone``, pipelines, grid search and cross-validation work), take any class labels (strings,
non-contiguous integers; mapped to output units through ``classes_``) and compute in float64, or in float32
when the training data are float32 (as scikit-learn's ``MLPClassifier``).

Examples
--------
>>> from sklearn.datasets import load_iris
>>> from sklearn.preprocessing import MinMaxScaler
>>> X, y = load_iris(return_X_y=True)
>>> X = MinMaxScaler().fit_transform(X)
>>> clf = QAGRELClassifier(random_state=0).fit(X, y)
>>> bool(clf.score(X, y) > 0.9)
True
>>> clf.predict_proba(X[:1]).shape
(1, 3)
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from ..errors import InvalidArgumentError
from ._mlp import INIT_SCALE, ReluMLP
from .backprop import LOSSES, BackpropMLP
from .qagrel import FEEDBACK_MODES, QAGREL

__all__ = ["QAGRELClassifier", "BackpropClassifier"]

#: Reward for a right and a wrong choice, as in Pozzi et al. (and :class:`~neurorl.tasks.ClassificationTask`).
REWARD_CORRECT, REWARD_WRONG = 1.0, 0.0


def _softmax(values: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``values / temperature`` in float64."""
    logits = np.asarray(values, dtype=np.float64) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    return logits


class _NetworkClassifier(ClassifierMixin, BaseEstimator):
    """What the Q-AGREL and the backprop classifiers share: validation, label mapping, the epoch loop."""

    # the network's learning rule; set by the subclasses
    _network_class: type[ReluMLP]

    # -- parameters -------------------------------------------------------------------------------------------
    def _check_params(self) -> tuple[int, ...]:
        """Validate the parameters common to both rules; return the hidden layer sizes as a tuple of ints."""
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
            sizes = (sizes,)
        try:
            hidden = tuple(sizes)
        except TypeError:
            raise InvalidArgumentError(
                f"hidden_layer_sizes must be a tuple of positive integers, got {sizes!r}") from None
        if not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1 for n in hidden):
            raise InvalidArgumentError(f"hidden_layer_sizes must be a tuple of positive integers, got {sizes!r}")
        for name in ("learning_rate", "init_scale"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or isinstance(value, bool) or not value > 0:
                raise InvalidArgumentError(f"{name} must be a number > 0, got {value!r}")
        for name in ("batch_size", "max_iter"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
                raise InvalidArgumentError(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("bias", "shuffle"):
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise InvalidArgumentError(f"{name} must be True or False, got {getattr(self, name)!r}")
        return tuple(int(n) for n in hidden)

    def _network_kwargs(self) -> dict:
        """Keyword arguments of the network class beyond ``layer_sizes``, ``bias``, ``init_scale``, ``seed``."""
        raise NotImplementedError

    # -- fitting ----------------------------------------------------------------------------------------------
    def fit(self, X, y) -> _NetworkClassifier:
        """Train a new network for ``max_iter`` epochs on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (scale them to about [0, 1], e.g. with ``MinMaxScaler``).
        y : array-like of shape (n_samples,)
            Class labels (any hashable values scikit-learn accepts as classes).

        Returns
        -------
        self
        """
        hidden = self._check_params()
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32), reset=True)
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        self._initialise(hidden, X.dtype)
        self._run_epochs(X, y_index, self.max_iter)
        return self

    def partial_fit(self, X, y, classes=None) -> _NetworkClassifier:
        """One epoch (one pass in batches of ``batch_size``) over ``(X, y)``, continuing the current network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,)
            Class labels; all must be among ``classes``.
        classes : array-like of shape (n_classes,), optional
            Every class that can occur; required on the first call (it fixes the output units), ignored after.

        Returns
        -------
        self
        """
        first_call = not hasattr(self, "network_")
        if first_call:
            if classes is None:
                raise InvalidArgumentError("classes must be given on the first call to partial_fit")
            all_classes = unique_labels(classes)
        elif classes is not None and not np.array_equal(unique_labels(classes), self.classes_):
            raise InvalidArgumentError(f"classes={list(classes)} differs from classes_={list(self.classes_)} "
                                       f"of the earlier calls")
        hidden = self._check_params()
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32), reset=first_call)
        check_classification_targets(y)
        if first_call:
            self.classes_ = all_classes
        y_index = np.minimum(np.searchsorted(self.classes_, y), len(self.classes_) - 1)
        unknown = self.classes_[y_index] != y
        if np.any(unknown):
            raise InvalidArgumentError(
                f"y contains labels not in classes {list(self.classes_)}: {list(np.unique(y[unknown]))[:5]}")
        if first_call:
            self._initialise(hidden, X.dtype)
        self._run_epochs(X, y_index, 1)
        return self

    def _initialise(self, hidden: tuple[int, ...], dtype: np.dtype) -> None:
        """A new network for ``n_features_in_`` inputs and one output per class, seeded from ``random_state``."""
        random_state = check_random_state(self.random_state)
        # One draw from the scikit-learn random state seeds two independent numpy Generators: the network's
        # (initial weights, exploration) and the trial order's.
        entropy = int(random_state.randint(np.iinfo(np.int32).max))
        network_seed, order_seed = np.random.SeedSequence(entropy).spawn(2)
        self.network_ = self._network_class(
            (self.n_features_in_, *hidden, len(self.classes_)), bias=bool(self.bias),
            init_scale=float(self.init_scale), dtype=dtype, seed=np.random.default_rng(network_seed),
            **self._network_kwargs())
        self._order_rng = np.random.default_rng(order_seed)
        self.n_iter_ = 0
        self.t_ = 0
        self._curve_ = []

    def _run_epochs(self, X: np.ndarray, y_index: np.ndarray, n_epochs: int) -> None:
        """Train ``self.network_`` for ``n_epochs`` passes over ``(X, y_index)`` in batches of ``batch_size``."""
        network = self.network_
        X = np.ascontiguousarray(X, dtype=network.dtype)
        n_samples = X.shape[0]
        batch_size = min(int(self.batch_size), n_samples)
        # One BLAS thread, as neurorl.models.training.train: the matrices of a batch are small, and more threads
        # gain nothing there but slow training down many times when the cores are busy with other work (digits,
        # batch 100: 60 s instead of 1 s on 2 shared cores).
        with threadpool_limits(limits=1, user_api="blas"), np.errstate(over="ignore", invalid="ignore"):
            for _ in range(n_epochs):
                order = self._order_rng.permutation(n_samples) if self.shuffle else np.arange(n_samples)
                total = 0.0
                for start in range(0, n_samples, batch_size):
                    index = order[start:start + batch_size]
                    total += self._learn_batch(X[index], y_index[index])
                self.n_iter_ += 1
                self.t_ += n_samples
                self._curve_.append(total / n_samples)
                if not all(np.isfinite(w).all() for w in network.weights):
                    raise InvalidArgumentError(
                        f"training diverged in epoch {self.n_iter_} (the weights overflowed); "
                        f"use a smaller learning_rate than {self.learning_rate}")

    def _learn_batch(self, X: np.ndarray, y_index: np.ndarray) -> float:
        """One update on a batch; returns the batch's summed training signal (reward or loss)."""
        raise NotImplementedError

    @classmethod
    def from_network(cls, network: ReluMLP, classes=None):
        """A fitted classifier around an already trained network (e.g. one saved by a training run).

        Parameters
        ----------
        network
            A :class:`~neurorl.models.qagrel.QAGREL` (for :class:`QAGRELClassifier`) or
            :class:`~neurorl.models.backprop.BackpropMLP` (for :class:`BackpropClassifier`); it is used as is,
            not copied, and further :meth:`partial_fit` calls go on training it.
        classes : array-like of shape (n_outputs,), optional
            The label of each output unit, in order; default ``0 .. n_outputs - 1``.

        Returns
        -------
        classifier
            With parameters read from the network, ``n_iter_ = 0`` and ``t_ = 0`` (they count what the
            classifier itself trains).
        """
        if not isinstance(network, cls._network_class):
            raise InvalidArgumentError(f"{cls.__name__} wraps a {cls._network_class.__name__}, "
                                       f"got {type(network).__name__}")
        sizes = network.layer_sizes
        labels = np.arange(sizes[-1]) if classes is None else np.asarray(classes)
        if labels.ndim != 1 or len(labels) != sizes[-1] or len(np.unique(labels)) != len(labels):
            raise InvalidArgumentError(f"classes must list {sizes[-1]} distinct labels, one per output unit; "
                                       f"got {labels.tolist()}")
        if not np.array_equal(np.sort(labels), labels):
            # classes_ is sorted, as scikit-learn's; reorder the output units to match
            raise InvalidArgumentError(f"classes must be sorted (as classes_ is); got {labels.tolist()}")
        names = set(cls._get_param_names())
        params = {key: value for key, value in network.get_params().items() if key in names}
        classifier = cls(hidden_layer_sizes=tuple(sizes[1:-1]), **params)
        classifier.n_features_in_ = sizes[0]
        classifier.classes_ = labels
        classifier.network_ = network
        classifier._order_rng = np.random.default_rng()
        classifier.n_iter_ = 0
        classifier.t_ = 0
        classifier._curve_ = []
        return classifier

    # -- fitted attributes ------------------------------------------------------------------------------------
    @property
    def coefs_(self) -> list[np.ndarray]:
        """Feedforward weights, ``coefs_[l]`` of shape ``(n_units_l, n_units_{l+1})`` (the network's arrays)."""
        check_is_fitted(self, "network_")
        return self.network_.weights

    @property
    def intercepts_(self) -> list[np.ndarray] | None:
        """Biases per layer, ``intercepts_[l]`` of shape ``(n_units_{l+1},)``; ``None`` when ``bias=False``."""
        check_is_fitted(self, "network_")
        return self.network_.biases

    # -- prediction -------------------------------------------------------------------------------------------
    def _outputs(self, X) -> np.ndarray:
        """The network's outputs (Q-values) ``(n_samples, n_classes)`` for validated ``X``."""
        check_is_fitted(self, "network_")
        X = validate_data(self, X, dtype=(np.float64, np.float32), reset=False)
        return self.network_.q_values(X)

    def decision_function(self, X) -> np.ndarray:
        """The network's outputs (Q-values: expected reward per class) for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        numpy.ndarray
            ``(n_samples, n_classes)``; for two classes, as scikit-learn's convention, ``(n_samples,)`` holding
            the output of ``classes_[1]`` minus that of ``classes_[0]``.
        """
        outputs = self._outputs(X)
        if outputs.shape[1] == 2:
            return outputs[:, 1] - outputs[:, 0]
        return outputs

    def predict(self, X) -> np.ndarray:
        """The class with the largest output (greedy choice, no exploration) for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        numpy.ndarray
            ``(n_samples,)`` labels from ``classes_``.
        """
        outputs = self._outputs(X)
        return self.classes_[np.argmax(outputs, axis=1)]

    def predict_proba(self, X) -> np.ndarray:
        """Softmax of the network's outputs, ``p_k ~ exp(q_k / T)``, per sample.

        For :class:`QAGRELClassifier` ``T`` is ``temperature``: these are the probabilities with which an
        exploratory (Boltzmann) trial chooses each class. They rank the classes like :meth:`predict` but are not
        calibrated class probabilities (Q-values lie in reward units, about [0, 1], so they are flat at ``T = 1``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        numpy.ndarray
            ``(n_samples, n_classes)``, columns in the order of ``classes_``, rows summing to 1.
        """
        return _softmax(self._outputs(X), self._softmax_temperature())

    def predict_log_proba(self, X) -> np.ndarray:
        """Natural logarithm of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def _softmax_temperature(self) -> float:
        return 1.0

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


class QAGRELClassifier(_NetworkClassifier):
    """Q-AGREL as a scikit-learn classifier: a ReLU network that learns classes from reward alone.

    On every training trial the network chooses a class by max-Boltzmann selection over its Q-values and
    receives reward 1 if the class is right, else 0; the weights change by the four-factor rule of
    :class:`~neurorl.models.qagrel.QAGREL` (presynaptic activity x attention feedback x reward-prediction error
    x learning rate). The label itself is never given to the learning rule.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(300,)
        Units per hidden layer (300 as the paper's smaller network, 784-300-10).
    feedback : {"symmetric", "random", "fixed"}, default="symmetric"
        Feedback weights of the attention signal (see :mod:`neurorl.models.qagrel`).
    learning_rate : float, default=0.5
        Step size of the four-factor rule, averaged over a batch (0.5 as the paper's Table 1, most rows).
    batch_size : int, default=16
        Trials per update (assumed: small batches give the ~20 updates per class an epoch of a small dataset
        needs; the paper uses 100 on 60,000 MNIST images).
    max_iter : int, default=60
        Epochs (passes over the training set) of :meth:`fit` (assumed: 60 epochs reach 0.98 held-out accuracy on
        scikit-learn's 8x8 digits, 1,347 training images, in 1-2.5 s).
    epsilon : float, default=0.02
        Probability of an exploratory (Boltzmann) choice (see :class:`~neurorl.models.qagrel.QAGREL`).
    temperature : float, default=1.0
        Boltzmann temperature of exploratory choices and of :meth:`predict_proba` (reward units).
    bias : bool, default=True
        Whether units have biases (the paper's equations have none).
    init_scale : float, default=0.05
        Initial weights are uniform in ``[-init_scale, init_scale]`` (Pozzi et al.).
    shuffle : bool, default=True
        Present the training samples in a new random order every epoch.
    random_state : int, numpy.random.RandomState or None, default=None
        Seeds the initial weights, the exploration and the trial order.

    Attributes
    ----------
    classes_ : numpy.ndarray of shape (n_classes,)
        Class labels; output unit ``k`` codes ``classes_[k]``.
    n_features_in_ : int
        Number of input features.
    feature_names_in_ : numpy.ndarray of shape (n_features,)
        Column names, when ``X`` was a DataFrame with string column names.
    network_ : QAGREL
        The trained network.
    coefs_ : list of numpy.ndarray
        Feedforward weights per layer (the network's arrays).
    intercepts_ : list of numpy.ndarray or None
        Biases per layer; ``None`` when ``bias=False``.
    feedback_weights_ : list of numpy.ndarray
        Feedback weights of layers 2..L (the same arrays as ``coefs_[1:]`` when ``feedback="symmetric"``).
    n_iter_ : int
        Epochs trained (``fit`` resets it; every ``partial_fit`` adds one).
    t_ : int
        Training trials seen.
    reward_curve_ : list of float
        Mean reward per training trial in each epoch (fraction of rewarded choices, exploration included).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.model_selection import train_test_split
    >>> X, y = load_digits(return_X_y=True)
    >>> X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0)
    >>> clf = QAGRELClassifier(random_state=0).fit(X_train, y_train)
    >>> bool(clf.score(X_test, y_test) > 0.9)
    True
    """

    _network_class = QAGREL

    def __init__(self, hidden_layer_sizes: Sequence[int] = (300,), *, feedback: str = "symmetric",
                 learning_rate: float = 0.5, batch_size: int = 16, max_iter: int = 60, epsilon: float = 0.02,
                 temperature: float = 1.0, bias: bool = True, init_scale: float = INIT_SCALE,
                 shuffle: bool = True, random_state: int | np.random.RandomState | None = None) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.feedback = feedback
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.epsilon = epsilon
        self.temperature = temperature
        self.bias = bias
        self.init_scale = init_scale
        self.shuffle = shuffle
        self.random_state = random_state

    def _check_params(self) -> tuple[int, ...]:
        hidden = super()._check_params()
        if self.feedback not in FEEDBACK_MODES:
            raise InvalidArgumentError(f"feedback must be one of {FEEDBACK_MODES}, got {self.feedback!r}")
        if not isinstance(self.epsilon, numbers.Real) or not 0.0 <= self.epsilon <= 1.0:
            raise InvalidArgumentError(f"epsilon must be a number in [0, 1], got {self.epsilon!r}")
        if not isinstance(self.temperature, numbers.Real) or not self.temperature > 0:
            raise InvalidArgumentError(f"temperature must be a number > 0, got {self.temperature!r}")
        return hidden

    def _network_kwargs(self) -> dict:
        return {"feedback": self.feedback, "learning_rate": float(self.learning_rate),
                "epsilon": float(self.epsilon), "temperature": float(self.temperature)}

    def _learn_batch(self, X: np.ndarray, y_index: np.ndarray) -> float:
        network = self.network_
        q_values = network.forward(X)
        actions = network.select(q_values)
        rewards = np.where(actions == y_index, REWARD_CORRECT, REWARD_WRONG)
        network.learn(actions, rewards)
        return float(rewards.sum())

    def _softmax_temperature(self) -> float:
        return float(self.network_.temperature)

    @property
    def reward_curve_(self) -> list[float]:
        """Mean reward per training trial in each epoch (exploration included)."""
        check_is_fitted(self, "network_")
        return list(self._curve_)

    @property
    def feedback_weights_(self) -> list[np.ndarray]:
        """Feedback weights of layers 2..L, ``feedback_weights_[l]`` shaped like ``coefs_[l + 1]``."""
        check_is_fitted(self, "network_")
        return list(self.network_.feedback_weights[1:])


class BackpropClassifier(_NetworkClassifier):
    """The Q-AGREL network trained on the labels by error backpropagation (the paper's errorBP baseline).

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(300,)
        Units per hidden layer.
    learning_rate : float, default=0.5
        SGD step size, the gradient averaged over a batch (0.5 as the paper's errorBP rows with symmetric
        feedback).
    loss : {"squared_error", "cross_entropy"}, default="squared_error"
        Squared error on all outputs against one-hot targets (as in the paper) or softmax cross-entropy.
    batch_size : int, default=16
        Samples per update (assumed, as :class:`QAGRELClassifier`).
    max_iter : int, default=60
        Epochs of :meth:`fit` (assumed, as :class:`QAGRELClassifier`).
    bias, init_scale, shuffle, random_state
        As for :class:`QAGRELClassifier`.

    Attributes
    ----------
    classes_, n_features_in_, feature_names_in_, network_, coefs_, intercepts_, n_iter_, t_
        As for :class:`QAGRELClassifier` (``network_`` is a :class:`~neurorl.models.backprop.BackpropMLP`).
    loss_curve_ : list of float
        Mean training loss per sample in each epoch.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.model_selection import train_test_split
    >>> X, y = load_digits(return_X_y=True)
    >>> X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0)
    >>> clf = BackpropClassifier(random_state=0).fit(X_train, y_train)
    >>> bool(clf.score(X_test, y_test) > 0.9)
    True
    """

    _network_class = BackpropMLP

    def __init__(self, hidden_layer_sizes: Sequence[int] = (300,), *, learning_rate: float = 0.5,
                 loss: str = "squared_error", batch_size: int = 16, max_iter: int = 60, bias: bool = True,
                 init_scale: float = INIT_SCALE, shuffle: bool = True,
                 random_state: int | np.random.RandomState | None = None) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.learning_rate = learning_rate
        self.loss = loss
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.bias = bias
        self.init_scale = init_scale
        self.shuffle = shuffle
        self.random_state = random_state

    def _check_params(self) -> tuple[int, ...]:
        hidden = super()._check_params()
        if self.loss not in LOSSES:
            raise InvalidArgumentError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        return hidden

    def _network_kwargs(self) -> dict:
        return {"learning_rate": float(self.learning_rate), "loss": self.loss}

    def _learn_batch(self, X: np.ndarray, y_index: np.ndarray) -> float:
        network = self.network_
        network.forward(X)
        return float(network.learn(None, None, y_index).sum())

    @property
    def loss_curve_(self) -> list[float]:
        """Mean training loss per sample in each epoch."""
        check_is_fitted(self, "network_")
        return list(self._curve_)
