"""ONNX export and the ONNX Runtime / OpenVINO engines against MXNet fp32, on real photos.

Tests of an optional engine skip when its extra is not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import invoke

import resnet_cli
from resnet_cli import engines, modeldir, onnx_export, registry, settings
from resnet_cli.classifier import Classifier
from resnet_cli.errors import ResnetError
from resnet_cli.preprocess import Preprocessing
from resnet_cli.runtime import mxnet

pytest.importorskip("onnx")
ONNX_ENGINES = [pytest.param(e, marks=pytest.mark.skipif(not engines.installed(e),
                                                         reason=f"{e} not installed"))
                for e in engines.ONNX_ENGINES]


def build_squeezenet(tmp_path_factory, name: str, formats: str) -> Path:
    out = tmp_path_factory.mktemp("models") / name
    result = invoke("build", "-m", "squeezenet1.1", "--pretrained", "--format", formats,
                    "-o", str(out))
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return build_squeezenet(tmp_path_factory, "sq", "mxnet,onnx")


@pytest.fixture(scope="module")
def onnx_only(tmp_path_factory) -> Path:
    return build_squeezenet(tmp_path_factory, "sq-onnx", "onnx")


@pytest.fixture(scope="module")
def reference() -> Classifier:
    """MXNet fp32, the plain (unfused) graph."""
    return resnet_cli.load("squeezenet1.1", fuse=False)


def test_build_writes_onnx_with_checksum_and_opset(built, onnx_only):
    import onnx

    sums = (built / "SHA256SUMS").read_text()
    assert "  model.onnx\n" in sums and "  model-symbol.json\n" in sums
    meta = json.loads((built / "metadata.json").read_text())
    assert meta["formats"] == ["mxnet", "onnx"]
    assert meta["onnx"]["opset"] == onnx_export.OPSET
    model = onnx.load(str(built / "model.onnx"))
    assert model.opset_import[0].version == onnx_export.OPSET
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert not {i.name for i in model.graph.initializer} & {i.name for i in model.graph.input}
    assert sorted(p.name for p in onnx_only.iterdir()) == [
        "SHA256SUMS", "labels.tsv", "metadata.json", "model.onnx"]


def test_damaged_onnx_is_refused(onnx_only, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(onnx_only, copy)
    with (copy / "model.onnx").open("r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    result = invoke("predict", "--model-dir", str(copy), str(Path(__file__).parent / "data"))
    assert result.exit_code == 2
    assert "model.onnx does not match its SHA-256" in result.stderr


@pytest.mark.parametrize("engine", ONNX_ENGINES)
def test_engine_matches_mxnet_fp32_on_photos(engine, built, reference, photos):
    batch = np.stack([Preprocessing()(p) for p in sorted(photos.values())])
    clf = resnet_cli.load(model_dir=built, engine=engine)
    assert clf.engine == engine
    expected, got = reference.probabilities(batch), clf.probabilities(batch)
    assert (np.argsort(-got, axis=1)[:, :5] == np.argsort(-expected, axis=1)[:, :5]).all()
    assert np.abs(got - expected).max() <= 1e-4


@pytest.mark.parametrize("engine", ONNX_ENGINES)
def test_predict_engine_option_prints_the_same_records(engine, built, photos):
    images = [str(photos[n]) for n in ("chelsea", "coffee")]
    mx_records = json.loads(invoke("predict", "--model-dir", str(built), "-f", "json",
                                   *images).stdout)
    result = invoke("predict", "--model-dir", str(built), "--engine", engine, "-f", "json",
                    *images)
    assert result.exit_code == 0, result.output
    for a, b in zip(json.loads(result.stdout), mx_records, strict=True):
        assert [p["index"] for p in a["predictions"]] == [p["index"] for p in b["predictions"]]


@pytest.mark.skipif(not engines.installed("onnxruntime"), reason="onnxruntime not installed")
def test_onnx_only_directory_runs_without_importing_mxnet(onnx_only, photos):
    """Through the CLI and through the Python API, each in a fresh interpreter."""
    check = "print('MXNET_LOADED' if 'mxnet' in sys.modules else 'NO_MXNET', code)\n"
    cli_code = ("import sys\nfrom resnet_cli.cli import cli\n"
                "try:\n    cli(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n")
    out = subprocess.run([sys.executable, "-c", cli_code + check, "predict", "--model-dir",
                          str(onnx_only), "-f", "jsonl", str(photos["coffee"])],
                         capture_output=True, text=True, timeout=120)
    record, status = out.stdout.strip().splitlines()
    assert json.loads(record)["predictions"][0]["label"] == "espresso"
    assert status == "NO_MXNET 0"
    api_code = ("import sys, resnet_cli\nclf = resnet_cli.load(model_dir=sys.argv[1])\n"
                "code = clf.predict([sys.argv[2]])[0][0].label\n")
    out = subprocess.run([sys.executable, "-c", api_code + check, str(onnx_only),
                          str(photos["coffee"])], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "NO_MXNET espresso", out.stderr


def test_mxnet_engine_on_onnx_only_directory_says_what_to_do(onnx_only, photos):
    result = invoke("predict", "--model-dir", str(onnx_only), "--engine", "mxnet",
                    str(photos["coffee"]))
    assert result.exit_code == 2
    assert "holds only ONNX" in result.stderr and "--engine onnxruntime" in result.stderr


@pytest.mark.parametrize("engine", engines.ONNX_ENGINES)
def test_missing_engine_is_one_clear_error(engine, built, photos, monkeypatch):
    monkeypatch.setitem(sys.modules, engine, None)  # as if the extra were not installed
    for command in ("predict", "eval", "bench"):
        args = [command, "--model-dir", str(built), "--engine", engine]
        result = invoke(*args, *([str(photos["coffee"])] if command != "bench" else []))
        assert result.exit_code == 2, result.output
        assert result.stderr.strip() == (f"Error: engine {engine} is not installed: "
                                         f"pip install 'resnet-cli[{engine}]'")


def test_mxnet_directory_without_onnx_names_the_rebuild(tmp_path, photos):
    out = tmp_path / "mx"
    assert invoke("build", "-m", "squeezenet1.1", "--pretrained", "-o", str(out)).exit_code == 0
    with pytest.raises(ResnetError, match="--format mxnet,onnx"):
        resnet_cli.load(model_dir=out, engine="onnxruntime")


def pools():
    """Pooling variants the zoo models use only in large networks (inceptionv3)."""
    nn = mxnet().gluon.nn
    net = nn.HybridSequential()
    net.add(nn.Conv2D(8, 3, strides=2), nn.MaxPool2D(3, 2, ceil_mode=True),
            nn.AvgPool2D(3, 1, padding=1), nn.AvgPool2D(3, 2, padding=1,
                                                       count_include_pad=False),
            nn.Activation("sigmoid"), nn.GlobalMaxPool2D(), nn.Dense(1000))
    return net


def randomized(name: str, crop: int):
    """A zoo network with random weights and BatchNorm statistics, so no layer is a no-op."""
    mx = mxnet()
    mx.random.seed(0)
    net = pools() if name == "pools" else registry.get(name).build(classes=1000)
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 3, crop, crop)))
    for key, param in net.collect_params().items():
        if key.endswith(("running_var", "gamma")):
            param.set_data(mx.nd.random.uniform(0.5, 1.5, shape=param.shape))
        else:
            param.set_data(mx.nd.random.normal(0, 0.05, shape=param.shape))
    return net


@pytest.mark.skipif(not engines.installed("onnxruntime"), reason="onnxruntime not installed")
@pytest.mark.parametrize("name", ["resnet18_v1", "mobilenetv2_0.25", "densenet121",
                                  "resnet18_v2", "pools"])
def test_export_matches_mxnet_across_operators(name, photos):
    """BatchNorm, residual adds, clip (ReLU6), average pools, concatenation, v2 blocks."""
    mx = mxnet()
    resize, crop = registry.get(name).input_size if name != "pools" else (256, 224)
    net = randomized(name, crop)
    batch = np.stack([Preprocessing(resize, crop)(p) for p in photos.values()])
    expected = net(mx.nd.array(batch)).asnumpy()
    got = engines.session("onnxruntime", onnx_export.from_mxnet(net, crop, name)
                          .SerializeToString())(batch)
    assert np.abs(got - expected).max() <= 1e-5 * max(1.0, np.abs(expected).max())
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()


def test_operator_without_mapping_is_named():
    graph = {"nodes": [{"op": "null", "name": "data", "inputs": []},
                       {"op": "LeakyReLU", "name": "leaky0", "attrs": {"act_type": "elu"},
                        "inputs": [[0, 0, 0]]}],
             "heads": [[1, 0, 0]]}
    with pytest.raises(ResnetError, match=r"LeakyReLU \(leaky0\) has no ONNX mapping"):
        onnx_export.convert(json.dumps(graph), {}, 224, "tiny")


@pytest.mark.slow
def test_every_engine_matches_mxnet_fp32_on_imagenet_sample(built, reference, sample_dir):
    """Each image is decoded and run through MXNet once, then through every installed engine
    (batch 64): the same top-5 and probabilities within 1e-4 on all 1,000 images."""
    installed = [e for e in engines.ONNX_ENGINES if engines.installed(e)]
    if not installed:
        pytest.skip("no ONNX engine installed")
    classifiers = {e: resnet_cli.load(model_dir=built, engine=e) for e in installed}
    pre = Preprocessing()
    files = sorted(sample_dir.glob("*.JPEG"))
    assert len(files) == 1000
    worst = dict.fromkeys(installed, 0.0)
    differing: dict[str, list[str]] = {e: [] for e in installed}
    for i in range(0, len(files), 64):
        batch = np.stack([pre(f) for f in files[i:i + 64]])
        expected = reference.probabilities(batch)
        top5 = np.argsort(-expected, axis=1)[:, :5]
        for engine, clf in classifiers.items():
            got = clf.probabilities(batch)
            worst[engine] = max(worst[engine], float(np.abs(got - expected).max()))
            same = (np.argsort(-got, axis=1)[:, :5] == top5).all(axis=1)
            differing[engine] += [files[i + j].name for j in np.flatnonzero(~same)]
    assert differing == {e: [] for e in installed}
    assert all(w <= 1e-4 for w in worst.values()), worst


def test_modeldir_needs_some_network(built, tmp_path):
    import shutil

    copy = tmp_path / "labels-only"
    shutil.copytree(built, copy)
    sums = [line for line in (copy / "SHA256SUMS").read_text().splitlines()
            if not line.endswith(("model.onnx", "model-symbol.json"))]
    (copy / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    with pytest.raises(ResnetError, match="covers no network"):
        modeldir.read_dir(copy)


@pytest.fixture(params=[None, "1"], ids=["default-threads", "OMP_NUM_THREADS=1"])
def threads(request, monkeypatch) -> int | None:
    """No thread count asked for (the runtime's default), or one thread."""
    if request.param is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", request.param)
    settings.reload()
    return request.param and int(request.param)


@pytest.mark.skipif(not engines.installed("onnxruntime"), reason="onnxruntime not installed")
def test_onnxruntime_session_has_a_bare_sessions_options(built, threads):
    """A bare session of ONNX Runtime (what benchmarks/compare.py races) pins one thread per
    core; an explicit thread count would turn that off, so ours sets one only when asked."""
    import onnxruntime

    ours = engines.session("onnxruntime", built / modeldir.ONNX).session.get_session_options()
    bare = onnxruntime.InferenceSession(str(built / modeldir.ONNX),
                                        providers=["CPUExecutionProvider"]).get_session_options()
    fields = ("intra_op_num_threads", "inter_op_num_threads", "execution_mode",
              "graph_optimization_level", "enable_cpu_mem_arena", "enable_mem_pattern",
              "enable_mem_reuse", "use_deterministic_compute")
    expected = {name: getattr(bare, name) for name in fields}
    if threads is not None:
        expected["intra_op_num_threads"] = threads
    assert {name: getattr(ours, name) for name in fields} == expected


@pytest.mark.skipif(not engines.installed("openvino"), reason="openvino not installed")
def test_openvino_compiles_as_a_bare_fp32_compile(built, threads):
    """OpenVINO's CPU defaults (LATENCY: one stream, pinned threads, one per physical core),
    fp32 as in a bare compile with the f32 hint, and a thread count only when asked."""
    import openvino

    ours = engines.session("openvino", built / modeldir.ONNX).compiled
    bare = openvino.Core().compile_model(str(built / modeldir.ONNX), "CPU",
                                         {"INFERENCE_PRECISION_HINT": "f32"})
    names = ("PERFORMANCE_HINT", "NUM_STREAMS", "INFERENCE_NUM_THREADS", "ENABLE_CPU_PINNING",
             "ENABLE_HYPER_THREADING", "SCHEDULING_CORE_TYPE", "INFERENCE_PRECISION_HINT")
    expected = {name: str(bare.get_property(name)) for name in names}
    if threads is not None:
        expected["INFERENCE_NUM_THREADS"] = str(threads)
    assert {name: str(ours.get_property(name)) for name in names} == expected
    assert str(ours.get_property("PERFORMANCE_HINT")) == "LATENCY"


def test_cli_lists_every_engine():
    from resnet_cli.cli import ENGINE_CHOICES

    assert engines.CHOICES == ENGINE_CHOICES


@pytest.mark.parametrize("command", ["predict", "eval"])
def test_onnx_engine_with_scheduler_is_a_usage_error(command, photos):
    """Dask workers load models with MXNet: refused before any connection is tried."""
    result = invoke(command, "--engine", "onnxruntime", "--scheduler", "tcp://127.0.0.1:9",
                    str(photos["coffee"]))
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: --engine onnxruntime works on this machine only, not with a scheduler")
