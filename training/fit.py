"""The training loop: AdamW, one-cycle schedule, synthesized crops mixed with harvested page crops."""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F

from extract.digits import CROP_SIZE, crops_to_blob
from training.net import DigitNet


def _jitter(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Cheap per-batch augmentation: +-1 px shift (in 4 groups), contrast and gamma."""
    n = x.shape[0]
    xp = F.pad(x, (1, 1, 1, 1), mode="replicate")
    parts = []
    for chunk in torch.arange(n).chunk(4):
        dx, dy = torch.randint(0, 3, (2,), generator=g).tolist()
        parts.append(xp[chunk, :, dy:dy + CROP_SIZE, dx:dx + CROP_SIZE])
    x = torch.cat(parts)
    c = torch.empty(n, 1, 1, 1).uniform_(0.8, 1.15, generator=g)
    gam = torch.empty(n, 1, 1, 1).uniform_(0.8, 1.25, generator=g)
    return (x.clamp(0, 1) ** gam * c).clamp(0, 1)


def train_model(d: dict, samples: int, seed: int, label: str, batch: int = 256,
                minutes: float | None = None, pages: dict | None = None, page_frac: float = 0.0,
                init: dict | None = None, max_lr: float = 3e-3, mixup: float = 0.0) -> tuple[DigitNet, int]:
    """AdamW with a one-cycle schedule over ``samples`` samples, or over ``minutes`` of wall time
    (the schedule then follows elapsed time: for busy shared machines). Returns the model and the
    number of samples seen. With ``pages``, a ``page_frac`` share of every batch comes from crops
    harvested from registered generated pages (``scripts/harvest_crops.py``); ``init`` warm-starts
    from a state dict. ``mixup`` > 0 blends each batch with a shuffled copy of itself, the weight
    drawn from Beta(mixup, mixup) (an ablation: measured worse across sources, docs/CONFIDENT_ERRORS.md)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = DigitNet()
    if init is not None:
        model.load_state_dict(init)
    n_page = int(round(batch * page_frac)) if pages is not None else 0
    batch_syn = batch - n_page
    x_all = torch.from_numpy(crops_to_blob(d["x"]))
    y_all = torch.from_numpy(d["y"])
    n = len(y_all)
    if n_page:
        xp_all, yp_all = torch.from_numpy(crops_to_blob(pages["x"])), torch.from_numpy(pages["y"])
        perm_p, pos_p = torch.randperm(len(yp_all), generator=g), 0
    steps = max(1, samples // batch)
    warm = 0.15
    opt = torch.optim.AdamW(model.parameters(), lr=max_lr / 25, weight_decay=5e-4)
    model.train()
    t0 = time.perf_counter()
    perm = torch.randperm(n, generator=g)
    pos = 0
    blend = torch.distributions.Beta(mixup, mixup) if mixup > 0 else None
    run_loss = 0.0
    step = 0
    while True:
        el = time.perf_counter() - t0
        frac = el / (minutes * 60) if minutes else step / steps
        if frac >= 1:
            break
        lr = (max_lr / 25 + (max_lr - max_lr / 25) * frac / warm if frac < warm
              else max_lr * (0.5 * (1 + math.cos(math.pi * (frac - warm) / (1 - warm))) * 0.999 + 0.001))
        for grp in opt.param_groups:
            grp["lr"] = lr
        if pos + batch_syn > n:
            perm, pos = torch.randperm(n, generator=g), 0
        idx = perm[pos:pos + batch_syn]
        pos += batch_syn
        xb, yb = x_all[idx], y_all[idx]
        if n_page:
            if pos_p + n_page > len(yp_all):
                perm_p, pos_p = torch.randperm(len(yp_all), generator=g), 0
            ip = perm_p[pos_p:pos_p + n_page]
            pos_p += n_page
            xb, yb = torch.cat([xb, xp_all[ip]]), torch.cat([yb, yp_all[ip]])
        xb = _jitter(xb, g)
        if blend is not None:
            lam = float(blend.sample())
            lam = max(lam, 1 - lam)
            other = torch.randperm(len(yb), generator=g)
            out = model(lam * xb + (1 - lam) * xb[other])
            loss = lam * F.cross_entropy(out, yb) + (1 - lam) * F.cross_entropy(out, yb[other])
        else:
            loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        run_loss = 0.98 * run_loss + 0.02 * loss.item() if step else loss.item()
        step += 1
        if step % 200 == 0:
            print(f"[{label}] step {step} ({frac:.0%}) loss {run_loss:.4f} lr {lr:.2e} "
                  f"({step * batch / max(el, 1e-6):.0f} samples/s, {el:.0f}s)", flush=True)
    print(f"[{label}] done: {step} steps, {step * batch} samples, {time.perf_counter() - t0:.0f}s", flush=True)
    model.eval()
    return model, step * batch
