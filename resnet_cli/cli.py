"""The ``resnet`` command: Click wiring only; the work happens in importable modules.

MXNet is imported inside command bodies, never at module level, so ``--help`` is fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import click

from resnet_cli import __version__, process
from resnet_cli.decode import CLOSE_CALL, RESIZE_MODES
from resnet_cli.errors import ExitCode, OutputError, ResnetError, exit_codes_help
from resnet_cli.escape import printable
from resnet_cli.output import FORMATS
from resnet_cli.registry import BUNDLED_MODEL, DEFAULT_MODEL, canonical_name

if TYPE_CHECKING:
    from resnet_cli.classifier import Classifier
    from resnet_cli.records import Record, Source

EXIT_CODES_HELP = exit_codes_help()
DEFAULT_BATCH_SIZE = 16  # resnet_cli.api.DEFAULT_BATCH_SIZE, without importing the engine
DEFAULT_CHUNK_SIZE = 64  # resnet_cli.cluster.DEFAULT_CHUNK_SIZE, without importing Dask


class ResnetGroup(click.Group):
    """Turns ResnetError, Ctrl-C and a closed stdout into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ResnetError as exc:
            if isinstance(exc, OutputError):
                process.discard_stdout()  # the final flush would fail again
            process.say(f"Error: {printable(str(exc))}")
            ctx.exit(exc.exit_code)
        except BrokenPipeError:
            # The reader went away (| head): silence the final flush and stop quietly.
            process.discard_stdout()
            ctx.exit(ExitCode.BROKEN_PIPE)
        except BaseException as exc:  # Ctrl-C, or SIGTERM once process.main runs, or an
            # error a library's cleanup raised while they unwound it
            if (interrupt := process.interrupt_behind(exc)) is None:
                raise
            process.say(process.interrupt_message(interrupt))
            ctx.exit(process.signal_exit_code(interrupt))


@click.group(cls=ResnetGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="resnet")
def cli() -> None:
    """Classify images with ImageNet models (ResNet and the Gluon model zoo) on MXNet."""


ENGINE_CHOICES = ("mxnet", "onnxruntime", "openvino", "auto")


def engine_option(f: Any) -> Any:
    f = click.option("--precision", type=click.Choice(("fp32", "int8")), default=None,
                     help="int8: the engine's own int8 model from the model dir (resnet "
                          "build --format onnx --int8) [default: fp32; with auto: either].")(f)
    return click.option("--engine", type=click.Choice(ENGINE_CHOICES), default=None,
                        help="What runs the network; auto: the fastest here, measured once "
                             "and cached [default: mxnet, or an installed ONNX engine for a "
                             "model dir holding only ONNX].")(f)


def model_options(f: Any) -> Any:
    f = click.option("--weights", type=click.Path(dir_okay=False),
                     help="Gluon .params file to load instead of the cached weights.")(f)
    f = click.option("--model-dir", type=click.Path(file_okay=False),
                     help="A model directory written by 'resnet build'.")(f)
    f = click.option("-m", "--model", default=DEFAULT_MODEL, show_default=True,
                     help=f"Model name (resnet18_v1, resnet34_v1, any Gluon zoo classifier). "
                          f"{BUNDLED_MODEL} ships with the tool and works offline.")(f)
    return f


def resize_option(f: Any) -> Any:
    return click.option(
        "--resize", "resize_mode", type=click.Choice(RESIZE_MODES), default=None,
        help=f"fast: photos over 4 MP decoded shrunk (JPEG DCT scaling, box reduce), again "
             f"at full size when the top two classes are under {CLOSE_CALL} apart; draft: shrunk, "
             "never again (fastest); exact: every image at full size, the reference "
             "[default: the model dir's setting, else fast].")(f)


def engine_options(f: Any) -> Any:
    f = click.option("--chunk-size", type=click.IntRange(1), default=DEFAULT_CHUNK_SIZE,
                     show_default=True, help="With --scheduler: inputs per task on a worker.")(f)
    f = click.option("--scheduler", metavar="ADDRESS", default=None,
                     help="Classify on this Dask cluster (tcp://host:8786) [default: Dask's "
                          "DASK_SCHEDULER_ADDRESS or config, else on this machine].")(f)
    f = resize_option(f)
    f = click.option("-q", "--quiet", is_flag=True, help="No progress bar.")(f)
    f = click.option("-0", "--null", is_flag=True,
                     help="Paths on stdin are NUL-separated (find -print0).")(f)
    f = click.option("--glob", "pattern", default=None,
                     help="File-name pattern for folders [default: image extensions].")(f)
    f = click.option("--workers", type=click.IntRange(1), default=None,
                     help="Decoding threads [default: available cores].")(f)
    f = click.option("-b", "--batch-size", type=click.IntRange(1), default=DEFAULT_BATCH_SIZE,
                     show_default=True, help="Images per forward pass.")(f)
    f = click.argument("inputs", nargs=-1, required=True)(f)
    return f


def load_classifier(model: str, weights: str | None, model_dir: str | None,
                    quiet: bool = False, fuse: bool = True, resize_mode: Any = None,
                    engine: str | None = None, precision: str | None = None,
                    batch_size: int = DEFAULT_BATCH_SIZE) -> Classifier:
    """``resnet_cli.load`` with download progress and messages on stderr."""
    from resnet_cli import api

    if model_dir is not None:
        reject_with_model_dir(model_dir, weights)
    return api.load(model, weights, model_dir, fuse=fuse, resize=resize_mode, engine=engine,
                    precision=precision, batch_size=batch_size,
                    progress=not quiet and sys.stderr.isatty(), notify=stderr_notifier(quiet))


def reject_with_model_dir(model_dir: str, weights: str | None = None) -> None:
    """--model-dir names the model and its weights: -m or --weights beside it is a mistake."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    given = [flag for flag, present in (
        ("-m/--model", ctx.get_parameter_source("model") is not ParameterSource.DEFAULT),
        ("--weights", weights is not None)) if present]
    if given:
        raise click.UsageError(f"--model-dir {model_dir} already names the model and its "
                               f"weights: drop {' and '.join(given)}")


Backend = Callable[["Iterable[Source]", int, Any], "Iterator[Record]"]  # sources, k, report


def open_backend(model: str, weights: str | None, model_dir: str | None, quiet: bool,
                 scheduler: str | None, chunk_size: int, batch_size: int,
                 workers: int | None, report_dir: str | None, resize_mode: Any = None,
                 engine: str | None = None, precision: str | None = None
                 ) -> tuple[str, Backend]:
    """The model's name and what turns sources into records: this machine (on ``engine``),
    or the Dask cluster named by ``--scheduler`` or Dask's own configuration (MXNet)."""
    from resnet_cli import cluster

    address = cluster.address(scheduler)
    if address:
        if report_dir is not None:  # its thumbnails come from decoding on this machine
            raise click.UsageError("--report works on this machine only, not with a scheduler")
        if engine not in (None, "mxnet") or precision == "int8":  # workers load MXNet fp32
            given = f"--engine {engine}" if engine not in (None, "mxnet") else "--precision int8"
            raise click.UsageError(f"{given} works on this machine only, "
                                   "not with a scheduler")
        ref, blob = cluster.model_files(model, weights, model_dir, stderr_notifier(quiet))
        return ref.name, lambda sources, k, _report: cluster.classify(
            address, sources, ref, blob, batch_size, k, chunk_size, resize_mode)
    from resnet_cli import api

    classifier = load_classifier(model, weights, model_dir, quiet, resize_mode=resize_mode,
                                 engine=engine, precision=precision, batch_size=batch_size)

    def local(sources: Iterable[Source], k: int, report: Any) -> Iterator[Record]:
        preprocess = report.thumbnails(classifier.preprocess) if report is not None else None
        return api.classify(sources, classifier=classifier, k=k, batch_size=batch_size,
                            workers=workers, preprocess=preprocess)
    return classifier.name, local


def run_records(inputs: tuple[str, ...], backend: Backend, pattern: str | None, null: bool,
                quiet: bool, topk: int, console: Any = None, report: Any = None
                ) -> Iterator[Record]:
    """The arguments' records (``-``: paths on stdin) from ``backend``, with a progress bar
    on a terminal: drawn on ``console`` when the results go to that terminal, below them.
    ``report``: an HTML report that gets each record, and a thumbnail from each decode."""
    from resnet_cli import progress
    from resnet_cli.inputs import expand, stdin_hint

    stdin = sys.stdin.buffer if "-" in inputs else None
    show = not quiet and sys.stderr.isatty()
    if stdin is not None and sys.stdin.isatty() and not quiet:
        click.echo(stdin_hint(null), err=True)
    sources = expand(inputs, pattern, stdin, null)
    total = None
    if show and stdin is None:  # list the inputs first so the bar can show an ETA
        sources = list(sources)
        total = len(sources)
    # (paths streaming in on stdin are not waited for: that bar counts without an ETA)
    records = backend(sources, topk, report)
    if report is not None:
        records = report.observe(records)
    yield from progress.track(records, total, console) if show else records


def report_option(f: Any) -> Any:
    return click.option("--report", "report_dir", type=click.Path(file_okay=False),
                        help="Also write an HTML report to this folder (index.html, "
                             "thumbnails; works offline). Needs the [report] extra.")(f)


def open_report(report_dir: str | None, command: str, model: str, labels: Any = None) -> Any:
    """The report being written to ``report_dir``, or None without --report."""
    if report_dir is None:
        return None
    from resnet_cli.report import Report

    return Report(report_dir, command, model, labels)


def report_done(report: Any, quiet: bool) -> None:
    if report is not None and not quiet:
        click.echo(f"report: {report.index}", err=True)


def split_formats(value: str) -> tuple[str, ...]:
    """``mxnet,onnx`` -> ("mxnet", "onnx"), in the documented order, each once."""
    names = {part.strip() for part in value.split(",") if part.strip()}
    unknown = names - {"mxnet", "onnx"}
    if unknown or not names:
        raise click.BadParameter(f"{value!r}: choose mxnet, onnx or mxnet,onnx")
    return tuple(fmt for fmt in ("mxnet", "onnx") if fmt in names)


def stderr_notifier(quiet: bool = False) -> Callable[[str], None]:
    """Messages about fetching weights go to stderr, never into the records on stdout."""
    return (lambda _message: None) if quiet else (lambda message: click.echo(message, err=True))


@cli.command(name="predict", epilog=EXIT_CODES_HELP)
@model_options
@engine_option
@click.option("-k", "--topk", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="How many classes to show per image.")
@click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), default="table",
              show_default=True,
              help="table: rich on a terminal, aligned text in a pipe; json; jsonl; csv; tsv.")
@report_option
@engine_options
def predict_command(inputs: tuple[str, ...], model: str, weights: str | None,
                    model_dir: str | None, engine: str | None, precision: str | None,
                    topk: int, fmt: str,
                    report_dir: str | None, batch_size: int, workers: int | None,
                    pattern: str | None, null: bool, quiet: bool, scheduler: str | None,
                    chunk_size: int, resize_mode: str | None) -> None:
    """Print the top-k ImageNet classes of each image.

    INPUTS are image files, folders (walked recursively, sorted) or - to read paths from
    stdin, one per line. Every input yields exactly one record.
    """
    from resnet_cli.output import make_writer

    name, backend = open_backend(model, weights, model_dir, quiet, scheduler, chunk_size,
                                 batch_size, workers, report_dir, resize_mode, engine,
                                 precision)
    report = open_report(report_dir, "predict", name)
    stdout = sys.stdout
    writer = make_writer(fmt, stdout, topk, terminal=stdout.isatty())
    failed = False
    try:
        for record in run_records(inputs, backend, pattern, null, quiet, topk,
                                  getattr(writer, "console", None), report):
            failed |= record.error is not None
            writer.write(record)
    finally:
        writer.close()
    report_done(report, quiet)
    sys.exit(ExitCode.SOME_FAILED if failed else ExitCode.OK)


@cli.command(name="eval", epilog=EXIT_CODES_HELP)
@model_options
@engine_option
@click.option("-f", "--format", "fmt", type=click.Choice(("table", "json")), default="table",
              show_default=True, help="json adds per-class results and the failed files.")
@report_option
@engine_options
def eval_command(inputs: tuple[str, ...], model: str, weights: str | None,
                 model_dir: str | None, engine: str | None, precision: str | None, fmt: str,
                 report_dir: str | None, batch_size: int, workers: int | None,
                 pattern: str | None, null: bool, quiet: bool, scheduler: str | None,
                 chunk_size: int, resize_mode: str | None) -> None:
    """Top-1 and top-5 accuracy on labelled images.

    A file's class is read from its name (starting with a WordNet id, as in
    n01440764_tench.JPEG) or from its folder (named by WordNet id or class name).
    """
    import json

    from resnet_cli.classes import imagenet_classes
    from resnet_cli.evaluation import Labeller, evaluate, require_scored
    from resnet_cli.report import Labels

    name, backend = open_backend(model, weights, model_dir, quiet, scheduler, chunk_size,
                                 batch_size, workers, report_dir, resize_mode, engine,
                                 precision)
    classes = imagenet_classes()
    labeller = Labeller(classes)
    html = open_report(report_dir, "eval", name, Labels(labeller, classes))
    records = run_records(inputs, backend, pattern, null, quiet, 5, report=html)
    report = evaluate(records, labeller, classes, name)
    report_done(html, quiet)
    require_scored(report)
    if fmt == "json":
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        for path, error in report.errors:
            click.echo(f"{printable(path)}: error: {printable(error)}", err=True)
        click.echo(report.text())
    sys.exit(ExitCode.SOME_FAILED if report.errors else ExitCode.OK)


@cli.command(name="explain", epilog=EXIT_CODES_HELP)
@model_options
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("-k", "--topk", type=click.IntRange(1, 20), default=3, show_default=True,
              help="Explain the model's top-k classes.")
@click.option("-c", "--class", "wanted", multiple=True, metavar="NAME|INDEX",
              help="Explain this class instead (index, WordNet id or name); repeatable.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="PNG to write [default: IMAGE_NAME.gradcam.png in the current folder].")
@click.option("-f", "--format", "fmt", type=click.Choice(("text", "json")), default="text",
              show_default=True, help="json adds each heatmap's peak and centre share.")
def explain_command(image: str, model: str, weights: str | None, model_dir: str | None,
                  topk: int, wanted: tuple[str, ...], output: str | None, fmt: str) -> None:
    """Grad-CAM: where in IMAGE the evidence for each class lies, drawn as one PNG.

    Panels: the photo as the model saw it (resized, cropped), then one heatmap overlay
    per class with its label and probability. Needs an fp32 model (not an int8 dir).
    """
    import json

    from resnet_cli import explain as ex
    from resnet_cli.errors import InputError

    explainable = ex.from_dir(model_dir) if model_dir else ex.from_model(
        model, weights, progress=sys.stderr.isatty(), notify=stderr_notifier())
    classes = [ex.resolve_class(name, explainable.classes) for name in wanted]
    try:
        result = ex.explain(image, explainable, topk, classes)
    except InputError as exc:
        click.echo(f"Error: {printable(image)}: {printable(str(exc))}", err=True)
        sys.exit(ExitCode.SOME_FAILED)
    out = output or str(ex.default_output(image))
    ex.render(result).save(out, format="PNG")
    if fmt == "json":
        click.echo(json.dumps(result.as_dict(out), indent=2))
    else:
        click.echo("\n".join(ex.summary_lines(result, out)))


@cli.group(name="weights")
def weights_group() -> None:
    """Fetch, import, locate and verify model weights.

    Weights are cached in $RESNET_HOME (default: ~/.cache/resnet). Sources: the Gluon
    model zoo, then torchvision's ResNet-18/34 files converted to the Gluon layout.
    RESNET_MIRROR=URL fetches the same file names from a mirror instead; RESNET_TIMEOUT
    sets the network timeout in seconds (default 30).
    """


@weights_group.command(name="list")
@click.option("-f", "--format", "fmt", type=click.Choice(("table", "json")), default="table",
              show_default=True)
def weights_list(fmt: str) -> None:
    """Every supported model: source, checksum, size, cached or not, cache path."""
    import json

    from resnet_cli.registry import names
    from resnet_cli.weights.cache import status

    rows = [status(name) for name in names()]
    if fmt == "json":
        click.echo(json.dumps([row.as_dict() for row in rows], indent=2))
    else:
        from resnet_cli.render import weights_table

        weights_table(rows, sys.stdout)


@weights_group.command(name="fetch")
@click.argument("model")
@click.option("--force", is_flag=True, help="Download again even if cached and valid.")
def weights_fetch(model: str, force: bool) -> None:
    """Download, verify and cache MODEL's weights."""
    from resnet_cli.weights.fetch import fetch

    click.echo(fetch(model, force=force, progress=sys.stderr.isatty(),
                     notify=stderr_notifier()))


@weights_group.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("-m", "--model", required=True, help="Which model these weights are for.")
def weights_import(file: str, model: str) -> None:
    """Cache a local .params, torchvision .pth or .safetensors as MODEL's weights.

    .pth files are read without torch and without running any code from the file.
    """
    from pathlib import Path

    from resnet_cli.weights.fetch import import_file

    click.echo(import_file(Path(file), model, notify=stderr_notifier()))


@weights_group.command(name="path")
@click.argument("model")
def weights_path(model: str) -> None:
    """Print where MODEL's weights are (exit 1 if they are not there yet)."""
    from resnet_cli.weights.cache import cached_path
    from resnet_cli.weights.catalog import bundled_path

    path = bundled_path(model) or cached_path(model)
    click.echo(path)
    sys.exit(ExitCode.OK if path.is_file() else ExitCode.SOME_FAILED)


@weights_group.command(name="verify")
@click.argument("model", required=False)
def weights_verify(model: str | None) -> None:
    """Re-hash cached weights against their records (all cached models by default)."""
    from resnet_cli.registry import names
    from resnet_cli.weights.cache import State, cache_dir, cached_path, verify
    from resnet_cli.weights.catalog import bundled_path

    models = [model] if model else [m for m in names()
                                    if bundled_path(m) or cached_path(m).is_file()]
    failed = False
    for name in models:
        found = verify(name)
        ok = found.state is State.VALID
        failed |= not ok
        verdict = "OK" if ok else f"FAILED: {found.problem or found.state.value}"
        click.echo(f"{canonical_name(name)}: {verdict}")
    if not models:
        click.echo(f"nothing cached in {cache_dir()}")
    sys.exit(ExitCode.SOME_FAILED if failed else ExitCode.OK)


@cli.command(name="summary")
@click.option("-m", "--model", default=DEFAULT_MODEL, show_default=True, help="Model name.")
@click.option("--model-dir", type=click.Path(file_okay=False),
              help="Summarize the architecture of a directory written by 'resnet build'.")
@click.option("--classes", type=click.IntRange(1), default=1000, show_default=True)
@click.option("--input-size", type=click.IntRange(32), default=None,
              help="Square input side [default: the model's crop, 224 for most].")
@click.option("--max-depth", type=click.IntRange(0), default=None,
              help="Show nesting down to this level only (totals are unchanged).")
@click.option("-f", "--format", "fmt", type=click.Choice(("table", "json")), default="table",
              show_default=True)
def summary_command(model: str, model_dir: str | None, classes: int, input_size: int | None,
                    max_depth: int | None, fmt: str) -> None:
    """Show the network layer by layer: type, output shape, parameters, MACs.

    Needs no weights and never downloads anything.
    """
    import json
    from pathlib import Path

    from resnet_cli.summary import summarize_model

    if model_dir is not None:
        reject_with_model_dir(model_dir)
    result = summarize_model(model, classes, input_size, max_depth,
                             Path(model_dir) if model_dir is not None else None)
    if fmt == "json":
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        from resnet_cli.render import summary_table

        summary_table(result, sys.stdout)


@cli.command(name="build")
@click.option("--depth", "resnet_depth", type=click.Choice(["18", "34"]), default=None,
              help="Build resnet18_v1 / resnet34_v1 from the project's own blocks.")
@click.option("-m", "--model", default=None,
              help="Or any model name (e.g. the bundled squeezenet1.1).")
@click.option("--classes", type=click.IntRange(1), default=1000, show_default=True,
              help="Classifier size; other than 1000, the classifier starts fresh.")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False),
              help="Gluon .params file to load.")
@click.option("--pretrained", is_flag=True,
              help="Load the cached, bundled or downloadable ImageNet weights.")
@click.option("--random-init", is_flag=True,
              help="No weights: random parameters (every probability about 1/classes).")
@click.option("--int8", is_flag=True, help="Quantize to int8 (oneDNN), calibrated on images.")
@click.option("--calibrate", type=click.Path(exists=True, file_okay=False),
              help="Folder of real images for int8 calibration.")
@click.option("--validate", type=click.Path(exists=True, file_okay=False),
              help="Labelled images the int8 models are checked on (refused if top-1 "
                   "drops more than a point) [default: the calibration images].")
@click.option("--calibration-images", type=click.IntRange(1), default=1000,
              show_default=True, help="At most this many calibration images.")
@click.option("--resize", "resize_mode", type=click.Choice(RESIZE_MODES), default="fast",
              show_default=True,
              help="Decoding recorded in metadata.json for predict/eval (exact: full size).")
@click.option("--format", "formats", default="mxnet", show_default=True,
              callback=lambda _ctx, _param, value: split_formats(value),
              help="mxnet, onnx or mxnet,onnx: the network files to write.")
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False),
              help="Directory to write.")
@click.option("--force", is_flag=True, help="Overwrite --out if it already holds files.")
def build_command(resnet_depth: str | None, model: str | None, classes: int,
                  weights: str | None, pretrained: bool, random_init: bool, int8: bool,
                  calibrate: str | None, validate: str | None, calibration_images: int,
                  formats: tuple[str, ...], out: str, force: bool, resize_mode: Any) -> None:
    """Build a network, load weights and export a self-contained model directory.

    The directory holds the MXNet symbol and params and/or the ONNX model, labels,
    metadata and SHA256SUMS; 'resnet predict --model-dir DIR' uses it.
    """
    from pathlib import Path

    from resnet_cli.build import build_dir, check_out
    from resnet_cli.weights.fetch import locate

    if (resnet_depth is None) == (model is None):
        raise click.UsageError("give exactly one of --depth and --model")
    if int8 and not calibrate:
        raise click.UsageError("--int8 needs --calibrate IMAGES_DIR")
    if (weights is not None) + pretrained + random_init != 1:
        raise click.UsageError("give exactly one of --pretrained, --weights FILE and "
                               "--random-init (untrained: every probability about 1/classes)")
    name = canonical_name(model or f"resnet{resnet_depth}_v1")
    check_out(Path(out), force)
    source = Path(weights) if weights else (
        locate(name, progress=sys.stderr.isatty(), notify=stderr_notifier())
        if pretrained else None)
    calibration = Path(calibrate) if int8 else None
    if validate and not int8:
        raise click.UsageError("--validate checks int8 models: use it with --int8")
    result = build_dir(name, classes, source, Path(out), calibration,
                       calibration_images, stderr_notifier(), resize_mode, formats,
                       Path(validate) if validate else None)
    if source is not None and result.fresh:
        click.echo(f"freshly initialised (not in the weights): {', '.join(result.fresh)}",
                   err=True)
    if (checked := result.calibration) is not None:
        click.echo(f"int8 top-1 agreement with fp32 on {checked['checked_on']} "
                   f"{'--validate' if validate else 'calibration'} images: "
                   f"{100 * checked['top1_agreement']:.1f}%, top-1 "
                   f"{100 * checked['top1_accuracy']:.1f}% (fp32 "
                   f"{100 * checked['fp32_top1_accuracy']:.1f}%)")
    for engine_result in result.engines_int8:
        click.echo(engine_result.text())
    click.echo(str(result.path))


@cli.command(name="bench")
@model_options
@engine_option
@click.option("-b", "--batch-size", type=click.IntRange(1), default=DEFAULT_BATCH_SIZE,
              show_default=True)
@click.option("--images", type=click.Path(exists=True, file_okay=False),
              help="Also measure end-to-end throughput on this folder.")
@click.option("--repeats", type=click.IntRange(1), default=5, show_default=True)
@click.option("--workers", type=click.IntRange(1), default=None,
              help="Decoding threads for --images [default: available cores].")
@click.option("--plain", is_flag=True, help="Skip oneDNN fusion (the reference fp32 path).")
@resize_option
def bench_command(model: str, weights: str | None, model_dir: str | None, engine: str | None,
                  precision: str | None, batch_size: int, images: str | None, repeats: int,
                  workers: int | None, plain: bool, resize_mode: str | None) -> None:
    """Images per second: model only (warm-up excluded, median of repeats), and with
    --images, end to end from files to records."""
    from pathlib import Path

    from resnet_cli import bench, settings

    classifier = load_classifier(model, weights, model_dir, fuse=not plain,
                                 resize_mode=resize_mode, engine=engine,
                                 precision=precision, batch_size=batch_size)
    cores = settings.current().cores
    click.echo(f"{classifier.name}, batch {batch_size}, OMP threads "
               f"{settings.current().threads}, {cores} cores, "
               f"engine {classifier.engine} {classifier.precision}")
    if classifier.choice is not None:
        click.echo(classifier.choice.why())
    folder = Path(images) if images else None
    runs = {"model-only": bench.model_only(classifier,
                                           bench.batch_of(classifier, batch_size, folder))}
    if folder is not None:
        runs["end-to-end"] = bench.end_to_end(classifier, bench.image_paths(folder),
                                              batch_size, workers or cores)
    results = bench.paired(runs, repeats)
    for m in results:
        runs = " ".join(f"{r:.1f}" for r in m.images_per_second)
        click.echo(f"{m.label:<11} {m.median:8.1f} images/s  (median; runs {runs})")
    if len(results) == 2:
        click.echo(f"ratio end-to-end / model-only: {results[1].median / results[0].median:.3f}")
    click.echo(f"on 2 MB pages: {bench.on_huge_pages() / 2**20:.0f} MiB of this process's memory")


def main() -> None:
    """The console entry point (kept for ``resnet_cli.cli:main`` users)."""
    process.main()
