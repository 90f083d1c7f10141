"""A plain-PyTorch U-Net written from the paper's Figure 1 (Ronneberger et al. 2015), no archdsl code:
the reference of tests/test_unet.py and of the U-Net pair in bench/pairs.py."""

from __future__ import annotations

import torch
from torch import nn


class Double(nn.Module):
    def __init__(self, cin: int, c: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(cin, c, 3), nn.Conv2d(c, c, 3)

    def forward(self, x):
        return torch.relu(self.conv2(torch.relu(self.conv1(x))))


def centre(x, like):
    h, w = like.shape[-2:]
    top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
    return x[..., top:top + h, left:left + w]


class ReferenceUNet(nn.Module):
    """Figure 1, written out by hand: no archdsl code."""

    def __init__(self, classes: int = 2) -> None:
        super().__init__()
        self.d1, self.d2, self.d3, self.d4 = Double(1, 64), Double(64, 128), Double(128, 256), Double(256, 512)
        self.bottom = Double(512, 1024)
        self.up4, self.u4 = nn.ConvTranspose2d(1024, 512, 2, 2), Double(1024, 512)
        self.up3, self.u3 = nn.ConvTranspose2d(512, 256, 2, 2), Double(512, 256)
        self.up2, self.u2 = nn.ConvTranspose2d(256, 128, 2, 2), Double(256, 128)
        self.up1, self.u1 = nn.ConvTranspose2d(128, 64, 2, 2), Double(128, 64)
        self.classifier = nn.Conv2d(64, classes, 1)

    def forward(self, x):
        skips = []
        for down in (self.d1, self.d2, self.d3, self.d4):
            x = down(x)
            skips.append(x)
            x = nn.functional.max_pool2d(x, 2)
        x = self.bottom(x)
        for up, double, skip in zip((self.up4, self.up3, self.up2, self.up1), (self.u4, self.u3, self.u2, self.u1),
                                    reversed(skips)):
            x = up(x)
            x = double(torch.cat([centre(skip, x), x], 1))
        return self.classifier(x)
