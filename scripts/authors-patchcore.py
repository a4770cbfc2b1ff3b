#!/usr/bin/python3
"""The PatchCore authors' code (amazon-science/patchcore-inspection) on the shared ResNet50-v2, timed as npad's
rows are: the fit's wall time and the scoring's time per test image, on one category in the MVTec layout.

Needs Debian's PyTorch, faiss and friends, and a clone of the authors' repository:

  apt-get install -y python3-torch python3-torchvision python3-faiss python3-sklearn python3-tqdm python3-pil
  git clone https://github.com/amazon-science/patchcore-inspection /tmp/patchcore-inspection
  /usr/bin/python3 scripts/authors-patchcore.py /tmp/patchcore-inspection ../shared/datasets/mvtec_ad/bottle [--coreset 0.1]

Their example configuration: layers 2 and 3, 3×3 patches, 1024-d features, the approximate greedy coreset (128-d
projection, 10 starting points), faiss IndexFlatL2, one nearest neighbour, resize 256 and centre crop 224; batches of
2 (their default). Threads: two (this machine's cores) for torch and faiss. The backbone is the shared GluonCV
ResNet50-v2 (../shared/tools/resnet50v2_torch.py), its stage outputs after the next block's BatchNorm + ReLU, as npad
reads them. Prints one JSON line.
"""
import argparse
import json
import os
import sys
import time
import types

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "shared", "tools"))
from resnet50v2_torch import ResNet50V2Features  # noqa: E402


class StageOutput(nn.Module):
    """A stage's post-activation (the next block's BatchNorm + ReLU): the module the authors' hooks read."""

    def __init__(self, bn):
        super().__init__()
        self.bn = bn

    def forward(self, x):
        return F.relu(self.bn(x))


class HookableResNet50V2(nn.Module):
    """ResNet50V2Features with its stage outputs as modules layer1..layer3, where the authors' aggregator hooks."""

    def __init__(self):
        super().__init__()
        self.net = ResNet50V2Features()
        self.layer1, self.layer2, self.layer3 = (StageOutput(bn) for bn in self.net.post)

    def forward(self, x):
        net = self.net
        x = net.bn_in(x)
        x = F.max_pool2d(F.relu(net.bn1(net.conv0(x))), 3, 2, 1)
        for stage, output in zip(net.stages, (self.layer1, self.layer2, self.layer3)):
            x = stage(x)
            output(x)  # raises the authors' LastLayerToExtractReachedException after the last layer they read
        return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("repo", help="a clone of amazon-science/patchcore-inspection")
    ap.add_argument("category", help="a category folder in the MVTec layout (train/good, test/*, ground_truth/*)")
    ap.add_argument("--coreset", type=float, default=0.1, help="coreset fraction (their percentage; default 0.1)")
    ap.add_argument("--batch-size", type=int, default=2)
    args = ap.parse_args()
    sys.path.insert(0, os.path.join(args.repo, "src"))
    # Their backbones.py imports timm to name backbones by string; the backbone here is passed in, so timm (not in
    # Debian) is never called and an empty module stands in for it.
    sys.modules.setdefault("timm", types.ModuleType("timm"))
    import patchcore.common
    import patchcore.patchcore
    import patchcore.sampler
    from patchcore.datasets.mvtec import DatasetSplit, MVTecDataset
    from sklearn.metrics import roc_auc_score

    torch.set_num_threads(2)
    device = torch.device("cpu")
    source, classname = os.path.split(os.path.abspath(args.category))
    loader = lambda split: torch.utils.data.DataLoader(  # noqa: E731
        MVTecDataset(source, classname, resize=256, imagesize=224, split=split),
        batch_size=args.batch_size, shuffle=False, num_workers=0,
    )
    train, test = loader(DatasetSplit.TRAIN), loader(DatasetSplit.TEST)
    model = patchcore.patchcore.PatchCore(device)
    model.load(
        backbone=HookableResNet50V2(),
        layers_to_extract_from=["layer2", "layer3"],
        device=device,
        input_shape=(3, 224, 224),
        pretrain_embed_dimension=1024,
        target_embed_dimension=1024,
        patchsize=3,
        featuresampler=patchcore.sampler.ApproximateGreedyCoresetSampler(args.coreset, device),
        anomaly_score_num_nn=1,
        nn_method=patchcore.common.FaissNN(False, 2),
    )
    started = time.perf_counter()
    model.fit(train)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    scores, _, labels, _ = model.predict(test)
    score_seconds = time.perf_counter() - started
    print(json.dumps({
        "category": classname,
        "coreset": args.coreset,
        "train_images": len(train.dataset),
        "test_images": len(test.dataset),
        "fit_seconds": round(fit_seconds, 1),
        "ms_per_image": round(1000 * score_seconds / len(test.dataset), 1),
        "image_auroc": round(100 * roc_auc_score(labels, scores), 2),
    }))


if __name__ == "__main__":
    main()
