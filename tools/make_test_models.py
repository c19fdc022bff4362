#!/usr/bin/env python3
"""Writes the tiny hand-built ONNX models the test suite uses for error paths.

  /usr/bin/python3 tools/make_test_models.py -o tests/data
"""
import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def unsupported_op_model():
    # Conv followed by Det: a valid model whose second op teeinfer does not implement.
    w = numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Det", ["c"], ["y"], name="det_node")]
    g = helper.make_graph(nodes, "unsupported", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 8, 8])], [w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def tiny_sealed_model():
    # conv 2->4 3x3 + relu + flatten + gemm 64->3: small enough for exhaustive tamper tests.
    rng = np.random.default_rng(5)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 2, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b"),
             numpy_helper.from_array(rng.standard_normal((3, 64)).astype(np.float32), "fc_w"),
             numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "fc_b")]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Flatten", ["r"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], name="fc", transB=1)]
    g = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def dynamic_ocr_model():
    # An OCR-style CNN taking any batch, height and width: conv+BN+relu, max pool, conv+relu,
    # global average pool, then a Reshape whose target is computed from Shape(x) (the
    # subgraph exporters emit for a dynamic batch), and a classifier.
    rng = np.random.default_rng(11)
    f32 = np.float32
    inits = [numpy_helper.from_array(rng.standard_normal((8, 1, 3, 3)).astype(f32) * 0.5, "w1"),
             numpy_helper.from_array(rng.uniform(0.5, 1.5, 8).astype(f32), "bn_scale"),
             numpy_helper.from_array(rng.standard_normal(8).astype(f32) * 0.1, "bn_bias"),
             numpy_helper.from_array(rng.standard_normal(8).astype(f32) * 0.1, "bn_mean"),
             numpy_helper.from_array(rng.uniform(0.5, 1.5, 8).astype(f32), "bn_var"),
             numpy_helper.from_array(rng.standard_normal((16, 8, 3, 3)).astype(f32) * 0.3, "w2"),
             numpy_helper.from_array(rng.standard_normal(16).astype(f32) * 0.1, "b2"),
             numpy_helper.from_array(rng.standard_normal((4, 16)).astype(f32), "fc_w"),
             numpy_helper.from_array(rng.standard_normal(4).astype(f32), "fc_b"),
             numpy_helper.from_array(np.array([0], np.int64), "zero"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus_one")]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c1", "bn_scale", "bn_bias", "bn_mean", "bn_var"], ["n1"],
                              name="bn1"),
             helper.make_node("Relu", ["n1"], ["r1"], name="relu1"),
             helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
             helper.make_node("GlobalAveragePool", ["r2"], ["g"], name="gap"),
             helper.make_node("Shape", ["x"], ["x_shape"], name="shape"),
             helper.make_node("Gather", ["x_shape", "zero"], ["batch"], name="batch", axis=0),
             helper.make_node("Concat", ["batch", "minus_one"], ["flat_shape"], name="flat_shape", axis=0),
             helper.make_node("Reshape", ["g", "flat_shape"], ["flat"], name="flatten"),
             helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], name="fc", transB=1)]
    g = helper.make_graph(nodes, "dynamic_ocr",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, "H", "W"])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 4])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def nhwc_model():
    # A channels-last (TensorFlow-style) classifier of 28x28 grey images: the input is
    # {1, 28, 28, 1} and a Transpose makes it NCHW for the convolution.
    rng = np.random.default_rng(12)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 1, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal((3, 4 * 14 * 14)).astype(np.float32) * 0.05, "fc_w")]
    nodes = [helper.make_node("Transpose", ["x"], ["x_nchw"], name="to_nchw", perm=[0, 3, 1, 2]),
             helper.make_node("Conv", ["x_nchw", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "fc_w"], ["y"], name="fc", transB=1)]
    g = helper.make_graph(nodes, "nhwc", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 28, 28, 1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def stateful_three_input_model():
    # A voice-activity-detector-shaped model: audio features and a recurrent state (float
    # tensors with a dynamic batch) and the sample rate (an int64 scalar, cast to float);
    # two outputs, the speech probability and the next state.
    rng = np.random.default_rng(13)
    f32 = np.float32
    inits = [numpy_helper.from_array(rng.standard_normal((16, 80)).astype(f32) * 0.2, "w1"),
             numpy_helper.from_array(rng.standard_normal(16).astype(f32) * 0.1, "b1"),
             numpy_helper.from_array(np.array(1.0 / 16000, f32), "per_hz"),
             numpy_helper.from_array(rng.standard_normal((2, 16)).astype(f32), "w2"),
             numpy_helper.from_array(rng.standard_normal(2).astype(f32) * 0.1, "b2")]
    nodes = [helper.make_node("Concat", ["audio", "state"], ["h"], name="join", axis=1),
             helper.make_node("Gemm", ["h", "w1", "b1"], ["z"], name="cell", transB=1),
             helper.make_node("Cast", ["sr"], ["sr_f"], name="sr_to_float", to=TensorProto.FLOAT),
             helper.make_node("Mul", ["sr_f", "per_hz"], ["sr_scaled"], name="sr_scale"),
             helper.make_node("Add", ["z", "sr_scaled"], ["z_sr"], name="add_sr"),
             helper.make_node("Sigmoid", ["z_sr"], ["state_out"], name="next_state"),
             helper.make_node("Gemm", ["state_out", "w2", "b2"], ["logits"], name="head", transB=1),
             helper.make_node("Sigmoid", ["logits"], ["prob"], name="prob")]
    g = helper.make_graph(nodes, "stateful_three_input",
                          [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["N", 64]),
                           helper.make_tensor_value_info("state", TensorProto.FLOAT, ["N", 16]),
                           helper.make_tensor_value_info("sr", TensorProto.INT64, [])],
                          [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", 2]),
                           helper.make_tensor_value_info("state_out", TensorProto.FLOAT, ["N", 16])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def stateful_reference(model, out_dir):
    # Inputs for a batch of 3 and the outputs computed here with numpy from the model's own
    # initializers (an independent implementation of the same graph).
    w = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    rng = np.random.default_rng(14)
    audio = rng.standard_normal((3, 64)).astype(np.float32)
    state = rng.uniform(0, 1, (3, 16)).astype(np.float32)
    sr = np.array(16000, np.int64)
    h = np.concatenate([audio, state], 1).astype(np.float64)
    z = h @ w["w1"].T.astype(np.float64) + w["b1"] + float(sr) * float(w["per_hz"])
    state_out = 1 / (1 + np.exp(-z))
    prob = 1 / (1 + np.exp(-(state_out @ w["w2"].T.astype(np.float64) + w["b2"])))
    np.save(os.path.join(out_dir, "stateful_audio.npy"), audio)
    np.save(os.path.join(out_dir, "stateful_state.npy"), state)
    np.save(os.path.join(out_dir, "stateful_sr.npy"), sr)
    np.save(os.path.join(out_dir, "stateful_expected_prob.npy"), prob.astype(np.float32))
    np.save(os.path.join(out_dir, "stateful_expected_state_out.npy"), state_out.astype(np.float32))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--out-dir", default="tests/data")
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    m = unsupported_op_model()
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(args.out_dir, "unsupported_op.onnx"))
    np.save(os.path.join(args.out_dir, "x_1x1x8x8.npy"), np.zeros((1, 1, 8, 8), np.float32))
    m = tiny_sealed_model()
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(args.out_dir, "tiny_sealed.onnx"))
    for name, make in (("dynamic_ocr", dynamic_ocr_model), ("nhwc_grey", nhwc_model),
                       ("stateful_three_input", stateful_three_input_model)):
        m = make()
        onnx.checker.check_model(m)
        onnx.save(m, os.path.join(args.out_dir, name + ".onnx"))
    stateful_reference(stateful_three_input_model(), args.out_dir)


if __name__ == "__main__":
    main()
