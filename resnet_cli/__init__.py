"""resnet: classify images with ImageNet models on MXNet Gluon, from the command line.

The package is importable without MXNet: heavy modules import it lazily through
:func:`resnet_cli.runtime.mxnet`, so ``resnet --help`` stays fast.
"""

__version__ = "0.1.0"
