"""ImageNet class names (imagenet1k.tsv), shipped in the wheel as resnet_cli.labels."""
