"""Allow ``python -m resnet_cli``."""

from resnet_cli.process import main

main()
