"""The model registry: every spec builds, and what it copies from MXNet matches MXNet."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from resnet_cli import registry
from resnet_cli.errors import ResnetError
from resnet_cli.runtime import mxnet

mx = mxnet()


def mxnet_zoo_names() -> set[str]:
    """The names ``model_zoo.vision.get_model`` accepts, as its refusal lists them."""
    with pytest.raises(ValueError, match="not supported") as refused:
        mx.gluon.model_zoo.vision.get_model("no-such-model")
    return {line.strip() for line in str(refused.value).splitlines()[1:] if line.strip()}


def test_registered_names_are_mxnets_zoo():
    assert set(registry.MODELS) == mxnet_zoo_names()


def test_published_checksums_are_mxnets():
    from mxnet.gluon.model_zoo import model_store

    for spec in registry.MODELS.values():
        zoo = [s for s in spec.sources if s.kind == "gluon-zoo"]
        assert [s.checksum for s in zoo] == [model_store._model_sha1[spec.name]], spec.name


@pytest.mark.parametrize("name", registry.names())
def test_every_registered_model_builds_for_its_input_size(name):
    """Shapes are inferred on the symbolic graph: no weights are allocated or run."""
    spec = registry.get(name)
    graph = spec.build(classes=1000)(mx.sym.var("data"))
    args, (out,), _aux = graph.infer_shape(data=(1, 3, spec.crop, spec.crop))
    assert out == (1, 1000)
    # Every model states its parameter count: every argument but the data is trainable.
    assert sum(int(np.prod(shape)) for shape in args[1:]) == spec.parameters


def test_aliases_and_unknown_names():
    assert registry.get("resnet18").name == "resnet18_v1"
    assert registry.get("squeezenet").bundled == "squeezenet1.1.params"
    assert registry.canonical_name("resnet7") == "resnet7"
    with pytest.raises(ResnetError, match=r"unknown model 'resnet7'; did you mean resnet18\? "
                                          r"known: resnet18_v1, "):
        registry.get("resnet7")


def test_specs_pickle_for_worker_processes():
    spec = registry.get("resnet34_v1")
    assert pickle.loads(pickle.dumps(spec)) == spec
