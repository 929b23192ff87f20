"Shared helpers for the 'it really learns' tests: a separately trained attribute judge and edit measurements."
import time
import torch
from torch import nn
import torch.nn.functional as F
from sagan_nb.faces import FaceTensors, to_float

def judge_net(width: int = 16) -> nn.Module:
    "A small CNN (conv-BN-ReLU ×4, global pool, linear → logit): the attribute judge, independent of any GAN."
    def blk(i, o, s): return [nn.Conv2d(i, o, 3, s, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]
    return nn.Sequential(*blk(3, width, 1), *blk(width, 2 * width, 2), *blk(2 * width, 4 * width, 2),
                         *blk(4 * width, 4 * width, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, 1))

def train_judge(faces: FaceTensors, attribute: str, epochs: int = 10, bs: int = 64, seed: int = 0) -> nn.Module:
    "Train the judge on real (here: synthetic) faces for one attribute; returns it in eval mode."
    torch.manual_seed(seed)
    x, y = to_float(faces.images), faces.attrs[:, faces.attr_index(attribute)]
    net = judge_net()
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=epochs * -(-len(x) // bs))
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), bs):
            j = perm[i:i + bs]
            loss = F.binary_cross_entropy_with_logits(net(x[j]).squeeze(1), y[j])
            opt.zero_grad(); loss.backward(); opt.step(); sched.step()
    return net.eval()

@torch.no_grad()
def judge_accuracy(net: nn.Module, images: torch.Tensor, target: torch.Tensor) -> float:
    "Fraction of float images [-1,1] the judge labels as `target`."
    return ((net(images).squeeze(1) > 0).float() == target).float().mean().item()

@torch.no_grad()
def edit_report(edit_fn, judge: nn.Module, faces: FaceTensors, attribute: str) -> dict:
    """Flip `attribute` on every face with `edit_fn(x, c_target) -> edited` and measure:
    acc (judge says the edit has the target value), acc_unedited (same for the inputs: the floor),
    inside/outside (mean |edit − input| inside / outside the ground-truth region)."""
    col = faces.attr_index(attribute)
    x, c = to_float(faces.images), faces.attrs[:, col]
    y = edit_fn(x, 1 - c).float()
    d = (y - x).abs().mean(1)
    m = faces.masks[:, col]
    return dict(acc=judge_accuracy(judge, y, 1 - c), acc_unedited=judge_accuracy(judge, x, 1 - c),
                inside=d[m].mean().item(), outside=d[~m].mean().item())
