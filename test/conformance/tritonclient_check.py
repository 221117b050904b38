"""Drives a running modelship-server with NVIDIA's own tritonclient.http, as users' code would.

Usage: tritonclient_check.py MULTI_URL BYTES_URL
MULTI_URL (host:port) serves the zoo's model 'multi' (features FP32 [-1,4], ids INT64 [-1,3] ->
scaled = 2*features+1, shifted = ids+10, total = sum(features)); BYTES_URL serves 'strings', an identity
model over BYTES [-1,2]. Raises (non-zero exit) on any mismatch; prints one line per check passed.
"""
import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

multi_url, bytes_url = sys.argv[1], sys.argv[2]
multi, strings = "multi", "strings"


def check(name, condition):
    if not condition:
        raise AssertionError(name)
    print(f"ok {name}", flush=True)


def main():
    client = httpclient.InferenceServerClient(url=multi_url)
    check("server live", client.is_server_live())
    check("server ready", client.is_server_ready())
    check("model ready", client.is_model_ready(multi))
    check("server metadata", client.get_server_metadata()["name"] == "modelship-server")
    meta = client.get_model_metadata(multi)
    check("model metadata inputs", [i["name"] for i in meta["inputs"]] == ["features", "ids"])
    config = client.get_model_config(multi)
    check("model config max_batch_size", config["max_batch_size"] > 0)

    features = np.array([[0.5, 1.0, 1.5, 2.0], [-1.0, -2.0, -3.0, -4.0]], dtype=np.float32)
    ids = np.array([[1, 2, 3], [-4, 5, 2**40]], dtype=np.int64)
    inputs = [httpclient.InferInput("features", list(features.shape), "FP32"),
              httpclient.InferInput("ids", list(ids.shape), "INT64")]
    inputs[0].set_data_from_numpy(features)  # binary_data=True: the binary tensor extension
    inputs[1].set_data_from_numpy(ids)
    outputs = [httpclient.InferRequestedOutput("scaled", binary_data=True),
               httpclient.InferRequestedOutput("shifted", binary_data=True),
               httpclient.InferRequestedOutput("total", binary_data=False)]
    result = client.infer(multi, inputs, outputs=outputs, request_id="tc-1")
    check("binary FP32 output", np.array_equal(result.as_numpy("scaled"), features * 2 + 1))
    check("binary INT64 output", np.array_equal(result.as_numpy("shifted"), ids + 10))
    check("JSON output beside binary ones", np.allclose(result.as_numpy("total"), features.sum(axis=1, keepdims=True)))
    check("request id echoed", result.get_response()["id"] == "tc-1")

    inputs_json = [httpclient.InferInput("features", list(features.shape), "FP32"),
                   httpclient.InferInput("ids", list(ids.shape), "INT64")]
    inputs_json[0].set_data_from_numpy(features, binary_data=False)
    inputs_json[1].set_data_from_numpy(ids, binary_data=False)
    result = client.infer(multi, inputs_json, priority=1, timeout=5_000_000)
    check("JSON inputs, all outputs", np.array_equal(result.as_numpy("scaled"), features * 2 + 1))

    words = np.array([["héllo".encode(), b""], [b"\x01\x02", "☃".encode()]], dtype=np.object_)
    string_input = httpclient.InferInput("x", list(words.shape), "BYTES")
    string_input.set_data_from_numpy(words)
    string_client = httpclient.InferenceServerClient(url=bytes_url)
    result = string_client.infer(strings, [string_input], outputs=[httpclient.InferRequestedOutput("y", binary_data=True)])
    nul = httpclient.InferInput("x", [1, 2], "BYTES")
    nul.set_data_from_numpy(np.array([[b"a\x00b", b"c"]], dtype=np.object_))
    try:
        string_client.infer(strings, [nul])
        raise AssertionError("a NUL byte was accepted")
    except InferenceServerException as error:
        check("NUL bytes refused, not truncated", "contains a NUL byte" in error.message())
    string_client.close()
    check("binary BYTES round trip", result.as_numpy("y").tolist() == words.tolist())

    bad = httpclient.InferInput("pixels", [1, 4], "FP32")
    bad.set_data_from_numpy(np.zeros((1, 4), dtype=np.float32))
    try:
        client.infer(multi, [bad])
        raise AssertionError("a bad input was accepted")
    except InferenceServerException as error:
        check("error message reaches the client", "unknown input 'pixels'" in error.message())

    stats = client.get_inference_statistics(multi)
    check("statistics", stats["model_stats"][0]["inference_count"] >= 4)
    client.close()


main()
