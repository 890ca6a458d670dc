"""KServe's Python ``ModelServer`` around the same estimator, as KServe's own sklearn server
serves it: a ``kserve.Model`` that loads it with joblib and predicts ``np.array(instances)``.

Run with the python of the cached KServe virtualenv (``peers.kserve_python()``):
``python kserve_server.py --model_dir DIR --model_name NAME --http_port PORT --workers 2``.
"""
import argparse
import os

import joblib
import kserve
import uvicorn
from kserve.protocol.rest.multiprocess import server as _multiprocess
from kserve.utils.utils import get_predict_input, get_predict_response


class _Loopback(uvicorn.Config):
    """KServe binds 0.0.0.0; the benchmark serves 127.0.0.1 only, like every other server here."""

    def __init__(self, *args, **kwargs):
        kwargs["host"] = "127.0.0.1"
        super().__init__(*args, **kwargs)


uvicorn.Config = _Loopback  # read by kserve.protocol.rest.server when it builds its config

# KServe's supervisor pings each worker every 0.5 s and kills one that has not answered within
# 5 s. A worker is a spawned interpreter that answers only once it has imported kserve, which
# takes longer than that on a loaded machine: the workers were killed and restarted forever and
# the peer never served. A longer wait changes nothing once they answer (a ping every 0.5 s).
WORKER_PING_TIMEOUT = 120.0
_is_alive = _multiprocess.RESTServerProcess.is_alive
_multiprocess.RESTServerProcess.is_alive = lambda self, timeout=WORKER_PING_TIMEOUT: _is_alive(self, timeout)

parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
parser.add_argument("--model_dir", required=True)
args, _ = parser.parse_known_args()


class SKLearnModel(kserve.Model):  # sklearnserver's model, without its storage download
    def __init__(self, name: str, model_dir: str):
        super().__init__(name)
        self.model_dir = model_dir
        self.load()

    def load(self) -> bool:
        self._model = joblib.load(os.path.join(self.model_dir, "model.joblib"))
        self.ready = True
        return self.ready

    def predict(self, payload, headers=None):
        instances = get_predict_input(payload)
        return get_predict_response(payload, self._model.predict(instances), self.name)


if __name__ == "__main__":
    kserve.ModelServer().start([SKLearnModel(args.model_name, args.model_dir)])
