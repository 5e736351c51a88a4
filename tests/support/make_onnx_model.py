#!/usr/bin/python3
"""Writes small ONNX models for Loom's local-model tests, with Debian's python3-onnx (onnx.helper), so
nothing is downloaded. Every model takes a 1x3xHxW float32 image (RGB, values 0..1 after Loom's
preprocessing with scale 1/255, mean 0, std 1) and starts with a global average pool, so what it says
depends only on the image's mean colour:

  colour-logits  classify: logits 10 * (R, G, B) - 5 -> classes red, green, blue (Loom applies softmax)
  colour-probs   classify: the same through a Softmax node (outputs already probabilities)
  embed          embed: the 4-vector (R, G, B, (R + G + B) / 3) of mean channel values
  fixed-colour   classify like colour-logits, but through a dense layer over every pixel, so it runs
                 only at its own SIZE x SIZE (a model with a fixed input size)
  broken         bytes that are not an ONNX protobuf

Opset 11 and IR version 6: OpenCV 4.6's ONNX importer reads them (it warns on newer opsets).
Usage: make_onnx_model.py KIND OUT.onnx [SIZE]   (SIZE: input width and height, default 32)
"""

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def pooled(size):
    """The shared front: input -> GlobalAveragePool -> Flatten, giving [1, 3] mean channel values."""
    inp = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, size, size])
    nodes = [
        helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["means"], axis=1),
    ]
    return inp, nodes


def linear(nodes, weights, bias, out):
    """means [1, 3] x weights [3, K] + bias [K] -> out [1, K] (Gemm, which OpenCV maps to a dense layer).

    The weights are stored transposed (transB=1, as PyTorch exports Linear): OpenCV 4.6's importer
    rejects a Gemm with transB=0 whose weight matrix is not square."""
    inits = [
        numpy_helper.from_array(np.ascontiguousarray(np.asarray(weights, dtype=np.float32).T), "w"),
        numpy_helper.from_array(np.asarray(bias, dtype=np.float32), "b"),
    ]
    nodes.append(helper.make_node("Gemm", ["means", "w", "b"], [out], transB=1))
    return inits


def fixed_size(size):
    """input -> Flatten [1, 3*size*size] -> Gemm whose weights average each channel -> 10 * mean - 5."""
    inp = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, size, size])
    n = size * size
    w = np.zeros((3, 3 * n), dtype=np.float32)
    for c in range(3):
        w[c, c * n:(c + 1) * n] = 10.0 / n
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.full(3, -5.0, dtype=np.float32), "b")]
    nodes = [
        helper.make_node("Flatten", ["image"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "w", "b"], ["scores"], transB=1),
    ]
    out = helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 3])
    return helper.make_graph(nodes, "loom-test-fixed-colour", [inp], [out], initializer=inits)


def model(kind, size):
    if kind == "fixed-colour":
        return finish(fixed_size(size))
    inp, nodes = pooled(size)
    if kind in ("colour-logits", "colour-probs"):
        inits = linear(nodes, 10.0 * np.eye(3), [-5.0, -5.0, -5.0], "logits" if kind == "colour-probs" else "scores")
        if kind == "colour-probs":
            nodes.append(helper.make_node("Softmax", ["logits"], ["scores"], axis=1))
        out = helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 3])
    elif kind == "embed":
        w = np.concatenate([np.eye(3), np.full((3, 1), 1.0 / 3.0)], axis=1)
        inits = linear(nodes, w, [0.0, 0.0, 0.0, 0.0], "embedding")
        out = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, 4])
    else:
        raise SystemExit(f"unknown model kind {kind!r}")
    return finish(helper.make_graph(nodes, f"loom-test-{kind}", [inp], [out], initializer=inits))


def finish(graph):
    m = helper.make_model(graph, producer_name="loom-tests", opset_imports=[helper.make_opsetid("", 11)])
    m.ir_version = 6
    onnx.checker.check_model(m)
    return m


def main():
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    kind, path = sys.argv[1], sys.argv[2]
    size = int(sys.argv[3]) if len(sys.argv) == 4 else 32
    if kind == "broken":
        with open(path, "wb") as f:
            f.write(b"this is not an ONNX model\n" * 4)
        return
    onnx.save(model(kind, size), path)


if __name__ == "__main__":
    main()
