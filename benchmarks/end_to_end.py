"""Files to top-5 records: ``resnet predict --engine auto`` vs a typical PyTorch DataLoader
script, ResNet-18, each a fresh process per run, in paired interleaved rounds.

Run:  .venv/bin/python benchmarks/end_to_end.py [--images DIR] [--count 200] [--rounds 3]

(a) ``resnet predict --model-dir DIR --engine auto -f jsonl`` over the folder (DIR built
with ``--format mxnet,onnx``, fp32: auto picks among MXNet, ONNX Runtime and OpenVINO;
its one-off measurement is made before timing, as a user's second run would find it);
(b) the script a PyTorch user writes: a Dataset opening each file with PIL, resize 256
(bilinear), center crop 224, ToTensor + Normalize written out in torch (torchvision's wheel
does not load beside this CPU torch), a DataLoader with 2 workers and batch 32, the same
ResNet-18 layout in eval mode under inference_mode, top-5 JSON lines to /dev/null. Both
networks have random weights: speed does not depend on their values. Every run includes
process start and model load. Printed: medians and resnet's rate / torch's per round.
timm's inference.py is not run: it ships in none of timm's files on PyPI (wheel, sdists),
only in its repository.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from devdata import SAMPLE, first_images, measured

HERE = Path(__file__).resolve().parent

TORCH_SCRIPT = '''
import json, sys
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torch_resnet import randomized

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)

class Files(Dataset):
    def __init__(self, paths):
        self.paths = paths
    def __len__(self):
        return len(self.paths)
    def __getitem__(self, i):
        img = Image.open(self.paths[i]).convert("RGB")
        w, h = img.size
        s = 256 / min(w, h)
        img = img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.BILINEAR)
        w, h = img.size
        left, top = (w - 224) // 2, (h - 224) // 2
        img = img.crop((left, top, left + 224, top + 224))
        x = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
        x = x.view(224, 224, 3).permute(2, 0, 1).float() / 255
        return (x - MEAN) / STD, i

if __name__ == "__main__":
    paths = sys.argv[1:]
    net = randomized().eval()
    out = open("/dev/null", "w")
    loader = DataLoader(Files(paths), batch_size=32, num_workers=2)
    with torch.inference_mode():
        for x, idx in loader:
            p = torch.softmax(net(x), 1)
            top = torch.topk(p, 5)
            for i, v, c in zip(idx.tolist(), top.values.tolist(), top.indices.tolist()):
                out.write(json.dumps({"path": paths[i], "top5": list(zip(c, v))}) + "\\n")
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=SAMPLE)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = first_images(args.images, args.count, Path(tmp) / "images")
        files = sorted(folder.iterdir())
        env = {**os.environ, "RESNET_HOME": str(Path(tmp) / "home"),
               "PYTHONPATH": str(HERE)}
        model = Path(tmp) / "r18"
        resnet = [sys.executable, "-m", "resnet_cli"]
        subprocess.run([*resnet, "build", "-m", "resnet18_v1", "--random-init", "--format",
                        "mxnet,onnx", "-o", str(model)], check=True,
                       stdout=subprocess.DEVNULL, env=env)
        predict = [*resnet, "predict", "--model-dir", str(model), "--engine", "auto",
                   "-f", "jsonl", "-q", str(folder)]
        pick = subprocess.run([*resnet, "bench", "--model-dir", str(model), "--engine",
                               "auto", "--repeats", "1"], check=True, capture_output=True,
                              text=True, env=env).stdout.splitlines()[1]
        script = Path(tmp) / "torch_predict.py"
        script.write_text(TORCH_SCRIPT)
        torch_run = [sys.executable, str(script), *map(str, files)]
        print(f"{len(files)} images from {args.images}; load {os.getloadavg()[0]:.1f}; {pick}")
        rates: dict[str, list[float]] = {"resnet auto": [], "torch DataLoader": []}
        for r in range(args.rounds):
            order = [("resnet auto", predict), ("torch DataLoader", torch_run)]
            for label, command in order[r % 2:] + order[:r % 2]:
                rates[label].append(len(files) / measured(command, env, stderr=None).wall_s)
        ratio = statistics.median(a / b for a, b in zip(*rates.values(), strict=True))
        for label, values in rates.items():
            print(f"{label:<17} {statistics.median(values):7.1f} img/s  "
                  f"(runs {' '.join(f'{v:.1f}' for v in values)})")
        print(f"resnet / torch: x{ratio:.2f} (median of per-round ratios); "
              f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
