"""CPU per stage of the model server's hot path, in-process (``time.thread_time``, so other
processes' load matters less than for wall-clock timings).

``python -m benchmarks.stages MODEL_DIR [ROWS]`` prints one line per stage (µs of CPU).
"""
from __future__ import annotations

import json
import sys
import time


def cpu(call, n: int = 2000) -> float:
    call()
    best = float("inf")
    for _ in range(5):
        started = time.thread_time()
        for _ in range(n):
            call()
        best = min(best, (time.thread_time() - started) / n)
    return best * 1e6


def main(argv: list[str]) -> None:
    from sklearn.datasets import load_iris

    from merlin_jupyter.serving import jsoncodec, loader, protocol_v2
    from merlin_jupyter.serving.dataplane import DataPlane

    plane = DataPlane(loader.load(argv[0]), "m")
    plane.check_ready()
    rows = int(argv[1]) if len(argv) > 1 else 1
    body = json.dumps({"instances": load_iris(return_X_y=True)[0][:rows].tolist()}).encode()
    instances = jsoncodec.loads(body)["instances"]
    converted = plane.model.signature.convert(instances)
    answer = {"predictions": plane.predict_instances(instances)}
    rows_of = load_iris(return_X_y=True)[0][:rows]
    v2 = jsoncodec.loads(json.dumps({"inputs": [{"name": "input-0", "shape": list(rows_of.shape),
                                                 "datatype": "FP64", "data": rows_of.ravel().tolist()}]}))
    for name, call in (("JSON decode", lambda: jsoncodec.loads(body)),
                       (f"signature conversion (to {type(converted).__name__})",
                        lambda: plane.model.signature.convert(instances)),
                       (f"model predict ({plane.model.flavor})", lambda: plane.model.predict(converted)),
                       ("V2 tensor → model input (rows path)",
                        lambda: plane.model.signature.convert(protocol_v2.instances_of(plane, v2))),
                       ("V2 tensor → model input (numpy path)",
                        lambda: plane.model.signature.convert_array(protocol_v2._rows_array(v2))),
                       ("JSON encode", lambda: jsoncodec.dumps(answer))):
        print(f"{name}: {cpu(call):.1f} µs")


if __name__ == "__main__":
    main(sys.argv[1:])
