"""Demo data, created once through the public API as ``datascientist``.

Models are real: trained at seed time on scikit-learn's bundled datasets (no
download), with metrics measured on a held-out split and DataFrames as input so
``feature_names_in_`` (the input schema) is in the file. Run by the launcher
after the platform is healthy, or by hand::

    python -m scripts.seed --base-url http://localhost:3000 \
        --issuer http://localhost:8080/realms/ml-platform

Nothing happens when the API already lists models.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from shared.config import ROOT, setting

CLI_CLIENT = "ml-platform-cli"
SEED_USER = ("datascientist", "password123")
SEED = 42


def get_token(issuer: str, username: str, password: str, timeout: float = 10) -> str:
    """An access token from the issuer's token endpoint (password grant, CLI client)."""
    response = requests.post(
        f"{issuer}/protocol/openid-connect/token",
        data={"grant_type": "password", "client_id": CLI_CLIENT,
              "username": username, "password": password},
        timeout=timeout,
    )
    if response.status_code != 200:
        raise RuntimeError(
            f"token for {username}: HTTP {response.status_code} {response.text[:300]}"
        )
    return response.json()["access_token"]


# -- training ---------------------------------------------------------------------------


@dataclass
class Trained:
    estimator: Any
    metrics: dict[str, float]
    X_sample: Any  # a few input rows, for the ONNX export's input width


_NOISE = {"verbose", "warm_start", "n_jobs", "copy_X", "copy_x"}


def _plain_params(estimator) -> dict[str, Any]:
    """The hyper-parameters worth showing: plain JSON values, unset and housekeeping
    ones left out."""
    return {key: value for key, value in estimator.get_params(deep=False).items()
            if isinstance(value, (str, int, float, bool)) and value != "deprecated"
            and key not in _NOISE}


def _split(loader):
    from sklearn.model_selection import train_test_split

    X, y = loader(return_X_y=True, as_frame=True)
    return train_test_split(X, y, test_size=0.25, random_state=SEED)


def _classifier(loader, estimator) -> Trained:
    from sklearn.metrics import accuracy_score, f1_score

    X_train, X_test, y_train, y_test = _split(loader)
    estimator.fit(X_train, y_train)
    predicted = estimator.predict(X_test)
    return Trained(estimator, {
        "accuracy": round(float(accuracy_score(y_test, predicted)), 4),
        "f1_macro": round(float(f1_score(y_test, predicted, average="macro")), 4),
        "test_rows": int(len(X_test)),
    }, X_test.head())


def _regressor(loader, estimator) -> Trained:
    from sklearn.metrics import mean_absolute_error, r2_score

    X_train, X_test, y_train, y_test = _split(loader)
    estimator.fit(X_train, y_train)
    predicted = estimator.predict(X_test)
    return Trained(estimator, {
        "r2": round(float(r2_score(y_test, predicted)), 4),
        "mae": round(float(mean_absolute_error(y_test, predicted)), 4),
        "test_rows": int(len(X_test)),
    }, X_test.head())


def _clusterer(loader, estimator) -> Trained:
    from sklearn.metrics import silhouette_score

    X_train, X_test, _, _ = _split(loader)
    estimator.fit(X_train)
    return Trained(estimator, {
        "silhouette": round(float(silhouette_score(X_test, estimator.predict(X_test))), 4),
        "inertia": round(float(estimator.inertia_), 4),
        "test_rows": int(len(X_test)),
    }, X_test.head())


def _joblib_bytes(trained: Trained) -> bytes:
    import joblib

    buffer = io.BytesIO()
    joblib.dump(trained.estimator, buffer)
    return buffer.getvalue()


def _onnx_bytes(trained: Trained) -> bytes:
    from skl2onnx import to_onnx

    # Float32 input of the training width; the graph keeps the class labels.
    sample = trained.X_sample.to_numpy().astype("float32")
    return to_onnx(trained.estimator, sample, target_opset=17).SerializeToString()


def _iris():
    from sklearn.datasets import load_iris

    return load_iris


def _wine():
    from sklearn.datasets import load_wine

    return load_wine


def _breast_cancer():
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer


def _diabetes():
    from sklearn.datasets import load_diabetes

    return load_diabetes


@dataclass
class DemoModel:
    name: str
    description: str
    type: str
    department: str
    region: str
    tags: list[str]
    train: Callable[[], Trained]
    version: str = "1.0.0"
    framework: str = "scikit-learn"
    file_format: str = "joblib"  # or "onnx"
    extra_params: dict[str, Any] = field(default_factory=dict)

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}.{self.file_format}"

    def file_bytes(self, trained: Trained) -> bytes:
        return _onnx_bytes(trained) if self.file_format == "onnx" else _joblib_bytes(trained)


def demo_models() -> list[DemoModel]:
    from sklearn.cluster import KMeans
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return [
        DemoModel(
            "classification-especes-iris",
            "Régression logistique qui reconnaît l'espèce d'une fleur d'iris (setosa, "
            "versicolor, virginica) à partir de la longueur et de la largeur des sépales et "
            "des pétales. Modèle de démonstration, entraîné sur le jeu iris de scikit-learn.",
            "classification", "Marketing", "Europe", ["démo", "iris", "multiclasse"],
            lambda: _classifier(_iris(), LogisticRegression(max_iter=500)),
        ),
        DemoModel(
            "origine-vins-foret-aleatoire",
            "Forêt aléatoire qui attribue un vin à l'un des trois cultivars d'origine à partir "
            "de 13 mesures chimiques (alcool, acide malique, flavonoïdes…). Sert au contrôle "
            "qualité des lots reçus.",
            "classification", "Opérations", "Asie", ["démo", "vin", "qualité"],
            lambda: _classifier(_wine(), RandomForestClassifier(n_estimators=100,
                                                                random_state=SEED)),
        ),
        DemoModel(
            "diagnostic-tumeurs-gradient-boosting",
            "Gradient boosting qui classe une tumeur du sein comme maligne ou bénigne à partir "
            "de 30 caractéristiques d'imagerie. Exemple de modèle binaire avec probabilités.",
            "classification", "Finance", "Amérique du Nord", ["démo", "binaire", "santé"],
            lambda: _classifier(_breast_cancer(), GradientBoostingClassifier(random_state=SEED)),
        ),
        DemoModel(
            "progression-diabete-ridge",
            "Régression ridge qui estime la progression du diabète à un an à partir de "
            "l'âge, du sexe, de l'IMC, de la tension et de six mesures sanguines.",
            "regression", "RH", "Europe", ["démo", "régression", "santé"],
            lambda: _regressor(_diabetes(), Ridge(alpha=1.0)),
        ),
        DemoModel(
            "progression-diabete-ridge",
            "Régression ridge qui estime la progression du diabète à un an. Version 1.1.0 : "
            "régularisation plus faible (alpha = 0,1), meilleur R² sur l'échantillon de test.",
            "regression", "RH", "Europe", ["démo", "régression", "santé"],
            lambda: _regressor(_diabetes(), Ridge(alpha=0.1)),
            version="1.1.0",
        ),
        DemoModel(
            "segments-iris-kmeans",
            "K-means à trois groupes sur les mesures des fleurs d'iris : exemple de "
            "segmentation non supervisée (la prédiction est le numéro du groupe).",
            "clustering", "Marketing", "Amérique du Nord", ["démo", "segmentation", "iris"],
            lambda: _clusterer(_iris(), KMeans(n_clusters=3, n_init=10, random_state=SEED)),
        ),
        DemoModel(
            "origine-vins-onnx",
            "Régression logistique (avec standardisation) qui attribue un vin à son cultivar, "
            "exportée au format ONNX avec skl2onnx pour être servie sans scikit-learn.",
            "classification", "Opérations", "Europe", ["démo", "vin", "onnx"],
            lambda: _classifier(_wine(), make_pipeline(StandardScaler(),
                                                       LogisticRegression(max_iter=1000))),
            framework="onnx", file_format="onnx",
        ),
    ]


# -- through the API --------------------------------------------------------------------


class Api:
    def __init__(self, base_url: str, token: str):
        self.base = f"{base_url.rstrip('/')}/api/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, expected: int = 200, **kwargs) -> Any:
        response = self.session.request(method, self.base + path, timeout=120, **kwargs)
        if response.status_code != expected:
            raise RuntimeError(f"{method} {path}: HTTP {response.status_code} "
                               f"{response.text[:500]}")
        return response.json() if response.content else None


def _deployer_exists() -> bool:
    return (ROOT / "services" / "deployer" / "service.py").exists()


def _runner_exists() -> bool:
    return ((ROOT / "services" / "runner" / "service.py").exists()
            and (ROOT / "services" / "gateway" / "blueprints" / "executions.py").exists())


def seed(base_url: str, issuer: str, log: Callable[[str], None] = print) -> list[dict]:
    """Create the demo models, two inactive deployments and two runs, unless models exist.

    Returns the models created (empty when skipped).
    """
    api = Api(base_url, get_token(issuer, *SEED_USER))
    if api.call("GET", "/models", params={"per_page": 1})["total"] > 0:
        log("seed: the platform already has models; demo data not added again")
        return []
    created = []
    for demo in demo_models():
        trained = demo.train()
        metadata = {
            "name": demo.name, "description": demo.description, "version": demo.version,
            "type": demo.type, "framework": demo.framework, "department": demo.department,
            "region": demo.region, "tags": demo.tags,
            "parameters": {**_plain_params(_final_step(trained.estimator)),
                           **demo.extra_params},
            "metrics": trained.metrics,
        }
        content_type = "application/octet-stream"
        model = api.call("POST", "/models", expected=201, files={
            "metadata": (None, json.dumps(metadata), "application/json"),
            "file": (demo.filename, demo.file_bytes(trained), content_type),
        })
        created.append(model)
        log(f"seed: model {demo.name} {demo.version} ({demo.department}, {demo.region}) "
            f"-> {model.get('status')}, metrics {trained.metrics}")
    by_name = {model["name"]: model for model in created}  # the newest version wins
    if _deployer_exists():
        for name, dep_name, schedule, description in (
            ("classification-especes-iris", "especes-iris-quotidien", "0 6 * * 1-5",
             "Classement quotidien des nouvelles fleurs, les jours ouvrés à 6 h (Paris)."),
            ("origine-vins-foret-aleatoire", "controle-lots-vins-hebdo", "30 2 * * 1",
             "Contrôle hebdomadaire des lots de vin reçus, le lundi à 2 h 30 (Paris)."),
        ):
            deployment = api.call("POST", "/deployments", expected=201, json={
                "name": dep_name, "description": description, "model_id": by_name[name]["id"],
                "parameters": {}, "schedule": schedule, "timezone": "Europe/Paris",
            })
            log(f"seed: deployment {dep_name} -> {deployment.get('status')}")
    if _runner_exists():
        # Two manual runs on rows of the datasets, so the Exécutions page and the
        # dashboard have something to show on a new platform.
        for name, loader in (("classification-especes-iris", _iris()),
                             ("progression-diabete-ridge", _diabetes())):
            X = loader(return_X_y=True, as_frame=True)[0]
            rows = X.sample(20, random_state=SEED).to_dict(orient="records")
            execution = api.call("POST", f"/models/{by_name[name]['id']}/executions",
                                 expected=201, json={"parameters": {}, "input": {"rows": rows}})
            log(f"seed: execution of {name} on {len(rows)} rows -> {execution.get('status')}")
    return created


def _final_step(estimator):
    """The last step of a pipeline (its hyper-parameters are the interesting ones)."""
    steps = getattr(estimator, "steps", None)
    return steps[-1][1] if steps else estimator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Create the demo models through the API.")
    parser.add_argument("--base-url", default=f"http://localhost:{setting('GATEWAY_PORT')}")
    parser.add_argument("--issuer", default=setting("OIDC_ISSUER"))
    args = parser.parse_args(argv)
    seed(args.base_url, args.issuer)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
