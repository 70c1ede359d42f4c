# The same training step as bench/train/step.mjs in PyTorch on the CPU (float32): a llama decoder
# (RMSNorm, adjacent-pair RoPE, causal attention, SwiGLU, tied embeddings), cross-entropy over the
# vocabulary, gradient clipping at 1 and AdamW, the config's batch x 128 tokens, at the given thread count.
# Medians of wall and process CPU time per step.
#   python3 bench/train/torch_step.py --config bundled|first|5m --threads 1 [--steps N]
import argparse, json, math, time, torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {
    'bundled': dict(V=1024, D=128, L=4, H=4, FF=384, T=128, B=16),
    'first': dict(V=1024, D=64, L=4, H=2, FF=192, T=128, B=8),
    '5m': dict(V=1024, D=256, L=6, H=4, FF=704, T=128, B=8),
}

class Block(nn.Module):
    def __init__(s, D, H, FF):
        super().__init__()
        s.H = H
        s.register_buffer('mask', torch.ones(1024, 1024, dtype=torch.bool).triu(1), persistent=False)
        s.g1, s.g2 = nn.Parameter(torch.ones(D)), nn.Parameter(torch.ones(D))
        s.q, s.k, s.v, s.o = (nn.Linear(D, D, bias=False) for _ in range(4))
        s.gate, s.up = nn.Linear(D, FF, bias=False), nn.Linear(D, FF, bias=False)
        s.down = nn.Linear(FF, D, bias=False)

    def forward(s, x, cos, sin):
        B, T, D = x.shape
        hd = D // s.H
        def norm(x, g): return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * g
        def rope(t):
            a, b = t[..., 0::2], t[..., 1::2]
            return torch.stack((a * cos - b * sin, a * sin + b * cos), -1).flatten(-2)
        h = norm(x, s.g1)
        q = rope(s.q(h).view(B, T, s.H, hd).transpose(1, 2))
        k = rope(s.k(h).view(B, T, s.H, hd).transpose(1, 2))
        v = s.v(h).view(B, T, s.H, hd).transpose(1, 2)
        # torch 1.13 (Debian) has no scaled_dot_product_attention: the causal softmax written out
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        att = att.masked_fill(s.mask[:T, :T], float('-inf')).softmax(-1)
        a = att @ v
        x = x + s.o(a.transpose(1, 2).reshape(B, T, D))
        h = norm(x, s.g2)
        return x + s.down(F.silu(s.gate(h)) * s.up(h))

class Model(nn.Module):
    def __init__(s, V, D, L, H, FF, T):
        super().__init__()
        s.emb = nn.Embedding(V, D)
        s.blocks = nn.ModuleList(Block(D, H, FF) for _ in range(L))
        s.gf = nn.Parameter(torch.ones(D))
        hd = D // H
        inv = 10000.0 ** (-torch.arange(0, hd, 2).float() / hd)
        ang = torch.arange(T).float()[:, None] * inv[None, :]
        s.register_buffer('cos', ang.cos()); s.register_buffer('sin', ang.sin())
        for p in s.parameters():
            if p.dim() == 2: nn.init.normal_(p, std=0.02)

    def forward(s, ids):
        x = s.emb(ids)
        for b in s.blocks: x = b(x, s.cos, s.sin)
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * s.gf
        return x @ s.emb.weight.T

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--config', default='bundled'); ap.add_argument('--threads', type=int, default=1); ap.add_argument('--steps', type=int, default=6)
    a = ap.parse_args()
    torch.set_num_threads(a.threads); torch.manual_seed(0)
    c = CONFIGS[a.config]
    m = Model(c['V'], c['D'], c['L'], c['H'], c['FF'], c['T'])
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
    walls, cpus = [], []
    for s in range(a.steps + 1):
        ids = torch.randint(0, c['V'], (c['B'], c['T'] + 1))
        w0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        logits = m(ids[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, c['V']), ids[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        if s > 0: walls.append(time.perf_counter() - w0); cpus.append(time.process_time() - c0)
    tok = c['B'] * c['T']
    wall, cpu = sorted(walls)[len(walls) // 2], sorted(cpus)[len(cpus) // 2]
    n = sum(p.numel() for p in m.parameters())
    print(json.dumps(dict(config=a.config, params=n, kernels=f'torch {torch.__version__}, {a.threads} thread(s)', batch=c['B'], seq=c['T'], steps=a.steps,
                          wallMs=round(wall * 1000, 1), cpuMs=round(cpu * 1000, 1), tokPerSecWall=round(tok / wall), tokPerSecCpu=round(tok / cpu))))

main()
