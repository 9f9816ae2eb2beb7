"""cnn-small (STTN 2+2) in PyTorch, defined exactly as sttn's preset (src/models/presets.ts),
trained with the official STTN rule, saved as safetensors for `sttn import`.

    pip install torch torchvision safetensors
    python model.py            # writes cnn-small-sttn.safetensors

Layer order and names match sttn's PyTorch mapping (src/safetensors/pytorch.ts): one
nn.Sequential `features`, every layer counted; the STTN pair is `weight1`, `weight2`.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file
from torchvision import datasets, transforms


class SttnKernel(torch.autograd.Function):
    """The official STTN rule, per output channel (n = cin*kh*kw):
    forward  alpha = (sum|W1| + sum|W2|) / (2n),  W = alpha * (sign(W1) + sign(W2))  (torch.sign: sign(0) = 0)
    backward dW_k = g + sign(W_k) * mean_j(sign(W_kj) * g_j)   (g = dL/dW, the same for both kernels)
    """

    @staticmethod
    def forward(ctx, w1, w2):
        b1, b2 = torch.sign(w1), torch.sign(w2)
        n = w1[0].numel()
        alpha = (w1.abs().flatten(1).sum(1) + w2.abs().flatten(1).sum(1)) / (2 * n)
        ctx.save_for_backward(b1, b2)
        return alpha.view(-1, 1, 1, 1) * (b1 + b2)

    @staticmethod
    def backward(ctx, g):
        b1, b2 = ctx.saved_tensors
        grad = lambda b: g + b * (b * g).flatten(1).mean(1).view(-1, 1, 1, 1)
        return grad(b1), grad(b2)


class SttnConv2d(nn.Module):
    """A 3x3 same-padded conv whose kernel is an STTN pair; latents are clamped to [-1, 1] before every forward."""

    def __init__(self, cin, cout):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(cout))
        self.weight1 = nn.Parameter(torch.empty(cout, cin, 3, 3).uniform_(-0.1, 0.1))
        self.weight2 = nn.Parameter(torch.empty(cout, cin, 3, 3).uniform_(-0.1, 0.1))

    def forward(self, x):
        with torch.no_grad():
            self.weight1.clamp_(-1, 1)
            self.weight2.clamp_(-1, 1)
        return F.conv2d(x, SttnKernel.apply(self.weight1, self.weight2), self.bias, padding=1)


class Ternary(torch.autograd.Function):
    """Eq. 14 activations (theta 0.5, x = +-theta -> 0), straight-through within |x| <= 1."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.sign(x) * (x.abs() > 0.5)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x.abs() <= 1)


class TernaryAct(nn.Module):
    def forward(self, x):
        return Ternary.apply(x)


class CnnSmall(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        # sttn's layers, in order (BN momentum: sttn's 0.9 on the running value is PyTorch's 0.1)
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),  # 0  conv2d 32, float
            nn.MaxPool2d(2),                 # 1  maxPool
            nn.BatchNorm2d(32),              # 2  batchNorm
            nn.ReLU(),                       # 3  relu
            nn.BatchNorm2d(32),              # 4  batchNorm
            nn.Sequential(TernaryAct(), SttnConv2d(32, 64)),  # 5  conv2d 64, ternary input, STTN kernel
            nn.MaxPool2d(2),                 # 6  maxPool
            nn.ReLU(),                       # 7  relu
            nn.BatchNorm2d(64),              # 8  batchNorm
            nn.Flatten(),                    # 9  flatten (NCHW order: sttn's import permutes it)
            nn.Linear(7 * 7 * 64, classes),  # 10 dense, float
        )

    def forward(self, x):
        return self.features(x)


def state_dict_for_sttn(model):
    """features.5 is (activation, conv): its conv's tensors go under features.5.* as sttn names them."""
    sd = {}
    for k, v in model.state_dict().items():
        sd[k.replace("features.5.1.", "features.5.")] = v.detach().contiguous()
    return sd


if __name__ == "__main__":
    torch.manual_seed(1)
    train = datasets.MNIST("data", train=True, download=True, transform=transforms.ToTensor())
    loader = torch.utils.data.DataLoader(train, batch_size=64, shuffle=True)
    model = CnnSmall()
    opt = torch.optim.Adam(model.parameters(), lr=0.005, weight_decay=1e-6)
    for epoch in range(2):
        for i, (x, y) in enumerate(loader):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if i % 200 == 0:
                print(f"epoch {epoch} step {i} loss {loss.item():.4f}")
    save_file(state_dict_for_sttn(model), "cnn-small-sttn.safetensors")
    print("wrote cnn-small-sttn.safetensors")
