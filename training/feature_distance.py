"""How far a crop lies from the training data in a network's feature space (numpy only).

A class-conditional Gaussian with one shared covariance, fitted on the penultimate features of
training crops: the squared Mahalanobis distance of a crop's features to the mean of the class it
was read as (Lee et al., 2018), and the "relative" distance, minus the distance to one Gaussian of
all classes (Ren et al., 2021). Used by ``scripts/confident_errors.py`` to ask whether the digits a
cross-source reader is sure of and wrong about look unusual to it; they do not
(docs/CONFIDENT_ERRORS.md), so nothing at run time uses this.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClassGaussians:
    means: np.ndarray  # (classes, d)
    precision: np.ndarray  # (d, d), the shared within-class covariance inverted
    mean_all: np.ndarray  # (d,)
    precision_all: np.ndarray  # (d, d)

    @classmethod
    def fit(cls, feats: np.ndarray, labels: np.ndarray, n_classes: int, ridge: float = 1e-6) -> ClassGaussians:
        f = np.asarray(feats, np.float64)
        present = [c for c in range(n_classes) if (labels == c).any()]
        if len(present) < n_classes:
            raise ValueError(f"no training features for classes {sorted(set(range(n_classes)) - set(present))}")
        means = np.stack([f[labels == c].mean(0) for c in range(n_classes)])
        r = f - means[labels]
        eye = np.eye(f.shape[1])
        within = r.T @ r / len(r) + ridge * eye
        total = np.cov(f.T) + ridge * eye
        return cls(means, np.linalg.inv(within), f.mean(0), np.linalg.inv(total))

    def distance(self, feats: np.ndarray, read_as: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Mahalanobis distance to the class read, the same minus the distance to all data), squared."""
        f = np.asarray(feats, np.float64)
        d = f - self.means[read_as]
        to_class = np.einsum("ij,jk,ik->i", d, self.precision, d)
        a = f - self.mean_all
        to_all = np.einsum("ij,jk,ik->i", a, self.precision_all, a)
        return to_class, to_class - to_all


def share_refused_to_catch(correct: np.ndarray, wrong: np.ndarray) -> float:
    """Share of the correctly read (accepted) digits a distance cut-off would also refuse if it
    were set low enough to refuse every wrong one: 0 means the distance separates them."""
    if len(wrong) == 0 or len(correct) == 0:
        return 0.0
    return float((np.asarray(correct) >= np.min(wrong)).mean())
