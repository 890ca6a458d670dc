"""Turns request instances into what the model's MLflow signature expects.

Column-based signatures get a DataFrame with the signature's column names and dtypes, whether
the request sends rows (lists in signature order) or records (dicts by column name). A signature
of one unnamed column (a model trained on a list of strings, such as a TF-IDF pipeline) gets the
values as a list. Tensor signatures get a numpy array of the declared dtype and shape. Anything
that does not fit raises InvalidInput naming the problem and the expected signature.

JSON has no NaN, no category and no time, and MLflow's signature records a pandas ``category``
column as ``string`` and every time as ``datetime``: what the model was trained with is restored
from the input description logged beside the model (``restore``, see ``flavors.input_description``)
— the exact dtype of each column, the categories of each ``category`` column, and the type of
input (a list or a DataFrame). A ``null`` becomes NaN, as in the DataFrame the model was fitted on.
"""
from __future__ import annotations

from typing import Any

from .errors import InvalidInput

_NUMPY_OF_MLFLOW = {"double": "float64", "float": "float32", "long": "int64", "integer": "int32",
                    "boolean": "bool", "string": "object", "binary": "object", "datetime": "datetime64[ns]"}

_NUMERIC = {"float64", "float32", "int64", "int32"}
# Where the model's MLmodel ``metadata`` keeps what the signature cannot say (written by flavors.py).
METADATA_KEY = "merlin.input"


class InputSignature:
    """The model's input schema, or None-like behaviour when it was logged without one."""

    def __init__(self, schema: Any = None, restore: dict[str, Any] | None = None):
        self.schema = schema
        self.columns: list[str] | None = None
        self.dtypes: dict[str, str] = {}
        self.tensor: tuple[str, tuple] | None = None
        self.unnamed: list[str] | None = None  # the types of the columns of a schema without names
        self._uniform: str | None = None  # the one numeric dtype of every column, if there is one
        self._to_restore: list[str] = []
        # Set by the data plane once the model is known to predict a plain array of the signature's
        # columns exactly as it predicts the DataFrame (see DataPlane.check_ready): building the
        # DataFrame, and the model's checks of it, is most of a one-row request's cost.
        self.array_ok = False
        self._index: Any = None  # the column Index, built once (a list costs a new one per request)
        restore = restore if isinstance(restore, dict) else {}
        self.kind: str | None = restore.get("kind")
        self.exact: dict[str, str] = dict(restore.get("dtypes") or {})
        self.categories: dict[str, dict[str, Any]] = dict(restore.get("categories") or {})
        if schema is None:
            return
        if schema.is_tensor_spec():
            spec = schema.inputs[0]
            self.tensor = (str(spec.type), tuple(spec.shape))
        elif schema.has_input_names():
            self.columns = schema.input_names()
            self.dtypes = {c.name: _NUMPY_OF_MLFLOW.get(getattr(c.type, "name", str(c.type)), "object")
                           for c in schema.inputs}
            kinds = set(self.dtypes.values())
            if len(kinds) == 1 and kinds <= _NUMERIC and not self.categories:
                self._uniform = kinds.pop()
        else:
            self.unnamed = [getattr(c.type, "name", str(c.type)) for c in schema.inputs]
        # Only these columns are looked at again after the signature's conversion: a request to
        # a model of plain numbers pays nothing for the restoring.
        self._to_restore = [c for c in self.columns or [] if c in self.categories or self.dtypes.get(c) == "object"
                            or (_restorable(self.exact.get(c, "")) and self.exact[c] != self.dtypes.get(c))]

    @property
    def may_take_array(self) -> bool:
        """A request's rows can be one numpy array, which a model may be given as it is
        (``array_ok``): every column has one numeric dtype and nothing to restore, or there is no
        signature at all."""
        if self.tensor or self.unnamed or self.kind == "list":
            return False
        return not self.columns or (self._uniform is not None and not self._to_restore)

    def describe(self) -> str:
        if self.columns:
            cols = ", ".join(f"{c}: {self._shown_type(c)}" for c in self.columns)
            return f"{len(self.columns)} columns [{cols}]"
        if self.tensor:
            return f"a tensor of {self.tensor[0]} with shape {list(self.tensor[1])}"
        if self.unnamed and len(self.unnamed) == 1:
            return f"a list of {self.unnamed[0]} values, one per instance"
        if self.unnamed:
            return f"rows of {len(self.unnamed)} values [{', '.join(self.unnamed)}]"
        return "any rows (the model was logged without a signature)"

    def _shown_type(self, column: str) -> str:
        if column in self.categories:
            return f"category of {self.categories[column].get('categories')}"
        return self.exact.get(column) or self.dtypes.get(column, "any")

    def convert(self, instances: Any) -> Any:
        """Rows or records → the model's input (DataFrame, ndarray or list)."""
        if not isinstance(instances, list) or not instances:
            raise InvalidInput(self._expected("instances must be a non-empty list of rows"))
        if self.tensor:
            return self._to_tensor(instances)
        if self.unnamed and len(self.unnamed) == 1 and not any(isinstance(i, (list, dict)) for i in instances):
            return self._values(instances)
        if self.kind == "list" and not self.columns and not self.unnamed:
            return instances  # a model without a signature, given a list: the list, as it was
        if isinstance(instances[0], dict):
            rows = self.rows_of(instances) if self._uniform is not None else None
            if rows is None:
                return self._restored(self._from_records(instances))
            instances = rows
        return self._restored(self._from_rows(instances))

    def convert_array(self, array: Any) -> Any:
        """A 2-D numpy array of a request's numbers (a V2 tensor) → the model's input, as
        ``convert`` would make it from the same rows; None when only the rows' path can say
        (then the caller converts the rows)."""
        if self._uniform is not None and self.may_take_array and array.shape[1] == len(self.columns):
            array = array.astype(self._uniform, copy=False)
            return array if self.array_ok else self._frame(array)
        if self.array_ok and not self.columns and self.may_take_array and array.dtype.kind in "fi":
            return array  # no signature: numbers as numpy reads them
        return None

    def _expected(self, problem: str) -> str:
        return f"{problem}; the model expects {self.describe()}."

    def _values(self, values: list) -> Any:
        """One value per instance, as the model was trained: a list (or a Series) of them."""
        if self.unnamed[0] in ("string", "binary") and not all(isinstance(v, str) for v in values):
            wrong = next(v for v in values if not isinstance(v, str))
            raise InvalidInput(self._expected(f"{wrong!r} is not a string"))
        if self.kind == "series":
            import pandas as pd

            return pd.Series(values)
        return list(values)

    def _from_rows(self, rows: list) -> Any:
        if self._uniform is not None:
            array = self._uniform_array(rows)
            if array is not None:
                return array if self.array_ok else self._frame(array)
        elif self.array_ok and not self.columns:
            array = _numeric_array(rows)  # no signature: numbers as numpy reads them
            if array is not None:
                return array
        return self._diagnosed_rows(rows)

    def _diagnosed_rows(self, rows: list) -> Any:
        """The per-row and per-column path: mixed dtypes, or rows numpy could not convert (it
        names the row or column at fault)."""
        import pandas as pd

        if not all(isinstance(row, list) for row in rows):
            rows = [row if isinstance(row, list) else [row] for row in rows]
        width = len(self.columns) if self.columns else len(rows[0])
        for number, row in enumerate(rows):
            if len(row) != width:
                raise InvalidInput(self._expected(
                    f"row {number} has {len(row)} values, expected {width}"))
        if not self.columns:
            return pd.DataFrame(rows)
        return self._typed(pd.DataFrame(rows, columns=self.columns))

    def _uniform_array(self, rows: list) -> Any:
        """One numpy conversion of every row (most tabular models take a single numeric dtype),
        checked only by its shape. None when the values do not convert or the rows are ragged,
        so the per-row path names the culprit."""
        import numpy as np

        try:
            array = np.asarray(rows, dtype=self._uniform)
        except (ValueError, TypeError):
            return None
        width = len(self.columns)
        if array.ndim == 1 and width == 1:
            return array.reshape(-1, 1)  # one value per instance for a one-column model
        return array if array.ndim == 2 and array.shape[1] == width else None

    def _frame(self, array: Any) -> Any:
        import pandas as pd

        if self._index is None:
            self._index = pd.Index(self.columns)
        return pd.DataFrame(array, columns=self._index, copy=False)

    def rows_of(self, records: list) -> list | None:
        """Records as rows in the signature's column order, or None if one lacks a column or is
        no record (the DataFrame path then says which)."""
        try:
            return [[record[c] for c in self.columns] for record in records]
        except (KeyError, TypeError):
            return None

    def _from_records(self, records: list) -> Any:
        import pandas as pd

        if not all(isinstance(record, dict) for record in records):
            raise InvalidInput(self._expected("mixing rows and records is not supported"))
        frame = pd.DataFrame.from_records(records)
        if self.columns:
            missing = [c for c in self.columns if c not in frame.columns]
            if missing:
                raise InvalidInput(self._expected(f"missing columns {missing}"))
            frame = frame[self.columns]
        return self._typed(frame)

    def _typed(self, frame: Any) -> Any:
        for column, dtype in self.dtypes.items():
            if frame[column].dtype == dtype or dtype == "object":
                continue
            try:
                frame[column] = frame[column].astype(dtype)
            except (ValueError, TypeError) as exc:
                raise InvalidInput(self._expected(
                    f"column {column!r} cannot be read as {dtype} ({exc})")) from None
        return frame

    def _restored(self, frame: Any) -> Any:
        """The columns as the model was trained on them: categories, exact dtypes, NaN for null."""
        import numpy as np
        import pandas as pd

        for column in self._to_restore:
            series = frame[column]
            wanted = self.categories.get(column)
            exact = self.exact.get(column)
            try:
                if wanted is not None:
                    frame[column] = pd.Categorical(series, categories=wanted.get("categories"),
                                                   ordered=bool(wanted.get("ordered")))
                elif exact and exact != str(series.dtype) and _restorable(exact):
                    frame[column] = series.astype(exact)
                elif series.dtype == object and series.isna().any():
                    frame[column] = series.where(series.notna(), np.nan)  # null is NaN, as in pandas
            except (ValueError, TypeError) as exc:
                raise InvalidInput(self._expected(
                    f"column {column!r} cannot be read as {exact or 'category'} ({exc})")) from None
        return frame

    def _to_tensor(self, instances: list) -> Any:
        import numpy as np

        dtype, shape = self.tensor
        try:
            array = np.asarray(instances, dtype=np.dtype(dtype))
        except (ValueError, TypeError) as exc:
            raise InvalidInput(self._expected(f"the instances are not a tensor of {dtype} ({exc})")) from None
        if len(shape) != array.ndim or any(want not in (-1, got) for want, got in zip(shape, array.shape)):
            raise InvalidInput(self._expected(f"the instances have shape {list(array.shape)}"))
        return array


def _numeric_array(rows: list) -> Any:
    """Rows of plain numbers as one 2-D array, or None (other values keep the DataFrame path)."""
    import numpy as np

    try:
        array = np.asarray(rows)
    except (ValueError, TypeError):
        return None
    return array if array.ndim == 2 and array.dtype.kind in "fi" else None


def _restorable(dtype: str) -> bool:
    """Numeric, boolean and time dtypes are restored; strings stay as pandas builds them (its
    ``str`` dtype in pandas 3, ``object`` before) so one model serves under either."""
    return dtype.startswith(("float", "int", "uint", "bool", "datetime64", "timedelta64"))
