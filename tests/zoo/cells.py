"""The models data scientists train, each written as the notebook cell that trains it.

Each cell runs in the test's IPython shell (its ``__main__``, as a notebook's code does) after
``PRELUDE`` and leaves three names behind: ``model`` (fitted), ``X`` (what it was trained on:
``X[:5]`` is the ``--sample``) and ``R`` (the rows a request sends, with missing values where the
case has them). Functions and classes defined in a cell belong to ``__main__``, as in a notebook.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    name: str
    type: str  # the Merlin model type of `%merlin model <name> --type <type>`
    cell: str


PRELUDE = """
import numpy as np
import pandas as pd
from sklearn.pipeline import make_pipeline

rng = np.random.default_rng(0)
X_num = rng.random((120, 4))
y_cls = (X_num[:, 0] + X_num[:, 1] > 1).astype(int)
y_reg = X_num @ np.array([1.0, 2.0, -1.0, 0.5])
frame = pd.DataFrame({
    "city": rng.choice(["Jakarta", "Bandung", "Surabaya"], 120),
    "plan": rng.choice(["basic", "pro"], 120),
    "age": rng.integers(18, 70, 120),
    "income": rng.normal(50, 15, 120).round(2),
})
y_frame = ((frame["age"] > 40) ^ (frame["plan"] == "pro")).astype(int)
"""

NUMERIC = "X, R = X_num, X_num[5:11]\n"

CASES = [
    Case("decision-tree", "sklearn", """
from sklearn.tree import DecisionTreeClassifier
model = DecisionTreeClassifier(max_depth=4, random_state=0).fit(X_num, y_cls)
""" + NUMERIC),
    Case("random-forest", "sklearn", """
from sklearn.ensemble import RandomForestClassifier
model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X_num, y_cls)
""" + NUMERIC),
    Case("gb-classifier", "sklearn", """
from sklearn.ensemble import GradientBoostingClassifier
model = GradientBoostingClassifier(n_estimators=10, random_state=0).fit(X_num, y_cls)
""" + NUMERIC),
    Case("gb-regressor", "sklearn", """
from sklearn.ensemble import GradientBoostingRegressor
model = GradientBoostingRegressor(n_estimators=10, random_state=0).fit(X_num, y_reg)
""" + NUMERIC),
    Case("hist-gradient-boosting", "sklearn", """
from sklearn.ensemble import HistGradientBoostingClassifier
model = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(X_num, y_cls)
""" + NUMERIC),
    Case("svc-pipeline", "sklearn", """
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
model = make_pipeline(StandardScaler(), SVC()).fit(X_num, y_cls)
""" + NUMERIC),
    Case("column-transformer", "sklearn", """
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder, StandardScaler
model = make_pipeline(
    ColumnTransformer([("strings", OneHotEncoder(handle_unknown="ignore"), ["city", "plan"]),
                       ("numbers", StandardScaler(), ["age", "income"])]),
    LogisticRegression()).fit(frame, y_frame)
X, R = frame, frame.iloc[5:11]
"""),
    Case("imputer-missing-values", "sklearn", """
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder, StandardScaler
holes = frame.assign(age=frame["age"].astype(float))
holes.loc[::7, "income"] = np.nan
holes.loc[2::11, "age"] = np.nan
holes.loc[3::9, "city"] = np.nan
model = make_pipeline(
    ColumnTransformer([
        ("strings", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                  OneHotEncoder(handle_unknown="ignore")), ["city", "plan"]),
        ("numbers", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "income"])]),
    LogisticRegression()).fit(holes, y_frame)
X, R = holes, holes.iloc[0:12]
"""),
    Case("k-nearest-neighbors", "sklearn", """
from sklearn.neighbors import KNeighborsClassifier
model = KNeighborsClassifier(n_neighbors=5).fit(X_num, y_cls)
""" + NUMERIC),
    Case("multi-output-regressor", "sklearn", """
from sklearn.linear_model import Ridge
from sklearn.multioutput import MultiOutputRegressor
model = MultiOutputRegressor(Ridge()).fit(X_num, np.c_[y_reg, -2 * y_reg])
""" + NUMERIC),
    Case("isolation-forest", "sklearn", """
from sklearn.ensemble import IsolationForest
model = IsolationForest(n_estimators=20, random_state=0).fit(X_num)
""" + NUMERIC),
    Case("lightgbm-category", "pyfunc", """
import lightgbm
X = frame.assign(city=frame["city"].astype("category"))[["city", "age", "income"]]
model = lightgbm.LGBMClassifier(n_estimators=20, min_child_samples=5, verbose=-1).fit(X, y_frame)
R = X.iloc[5:11]
"""),
    Case("tfidf-text", "sklearn", """
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
good = ["great product, works well", "love it", "excellent value", "works as promised", "very happy"]
bad = ["terrible, broke in a day", "waste of money", "awful support", "stopped working", "very sad"]
X = [text for pair in zip(good, bad) for text in pair] * 3
y_text = [1, 0] * 15
model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(X, y_text)
R = ["works well, love it", "broke, awful", "a review with words never seen"]
"""),
    Case("float32-input", "sklearn", """
from sklearn.linear_model import Ridge
X = X_num.astype(np.float32)
model = Ridge().fit(X, y_reg.astype(np.float32))
R = X[5:11]
"""),
    Case("datetime-column", "sklearn", """
from sklearn.preprocessing import FunctionTransformer
from sklearn.tree import DecisionTreeClassifier
X = pd.DataFrame({"when": pd.date_range("2024-01-01", periods=120, freq="37h"),
                  "amount": rng.random(120).round(3) * 100})
def calendar(events):
    return np.c_[events["when"].dt.dayofweek, events["when"].dt.hour, events["amount"]]
model = make_pipeline(FunctionTransformer(calendar), DecisionTreeClassifier(random_state=0))
model.fit(X, (X["when"].dt.dayofweek >= 5).astype(int))
R = X.iloc[5:11]
"""),
    Case("xgboost", "xgboost", """
import xgboost
model = xgboost.XGBClassifier(n_estimators=10, max_depth=3).fit(X_num, y_cls)
""" + NUMERIC),
    Case("python-model-frame", "pyfunc", """
import mlflow
class Scorer(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return pd.DataFrame({"total": model_input.sum(axis=1),
                             "band": np.where(model_input["a"] > 0.5, "high", "low")})
model = Scorer()
X = pd.DataFrame(X_num, columns=["a", "b", "c", "d"])
R = X.iloc[5:11]
"""),
    Case("notebook-function", "sklearn", """
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import FunctionTransformer
def log_ratio(values):
    return np.c_[np.log1p(values[:, 0]) - np.log1p(values[:, 1]), values[:, 2:]]
model = make_pipeline(FunctionTransformer(log_ratio), LogisticRegression()).fit(X_num, y_cls)
""" + NUMERIC),
]
