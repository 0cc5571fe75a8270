"""EDM's SongUNet (DDPM++ / NCSN++) and its preconditioners, re-implemented compactly for the benchmarks.

The reference for the side-by-side benchmarks (bench/songunet_step.sh, bench/objective_step.sh): the same network
as EDM's training/networks.py (Karras et al. 2022) with the same module tree, parameter names, shapes,
initialisation and op sequence, including EDM's in-place adds and its AttentionOp (a custom autograd Function that
computes softmax(QᵀK/√c) in float32). EDM itself is not installed here, so the architecture is written out again;
bench/songunet_step.py checks it against cm4j's state dict and outputs, and against EDM's own output in the
upstream fixture cm-core/src/test/resources/reference/songunet-ddpmpp-small.safetensors.

Extensions used by the objective benchmark, mirroring cm4j (cm-core, dev.cm4j.nn.SongUNet and dev.cm4j.precond):
- s_embedding=True adds CTM's second time input: map_layer0_s/map_layer1_s and a zero-initialised affine_s per
  block, whose output is added to the block's affine(emb) conditioning (docs/algorithms/ctm.md §1.2);
- attention_op=False computes the attention weights with plain einsum + softmax (autograd's own backward), as cm4j
  does; forward-mode AD (sCM's JVP) needs this, since EDM's AttentionOp defines no jvp;
- TrigFlowPrecond, CTMPrecond and AdaptiveWeight, written as cm4j computes them.
"""
import math

import torch
from torch.nn.functional import silu


def draw_weight(shape, mode, fan_in, fan_out):
    """EDM's weight_init: a float32 tensor drawn from the default generator."""
    if mode == "xavier_uniform":
        return math.sqrt(6 / (fan_in + fan_out)) * (torch.rand(*shape) * 2 - 1)
    if mode == "xavier_normal":
        return math.sqrt(2 / (fan_in + fan_out)) * torch.randn(*shape)
    if mode == "kaiming_uniform":
        return math.sqrt(3 / fan_in) * (torch.rand(*shape) * 2 - 1)
    if mode == "kaiming_normal":
        return math.sqrt(1 / fan_in) * torch.randn(*shape)
    raise ValueError(f"unknown init mode {mode!r}")


class Linear(torch.nn.Module):
    def __init__(self, in_features, out_features, bias=True, init_mode="kaiming_normal", init_weight=1, init_bias=0):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        fans = (in_features, out_features)
        self.weight = torch.nn.Parameter(draw_weight([out_features, in_features], init_mode, *fans) * init_weight)
        self.bias = torch.nn.Parameter(draw_weight([out_features], init_mode, *fans) * init_bias) if bias else None

    def forward(self, x):
        y = x @ self.weight.to(x.dtype).t()
        return y if self.bias is None else y.add_(self.bias.to(x.dtype))


class Conv2d(torch.nn.Module):
    """Convolution with optional FIR up/down-sampling; kernel 0 is a pure resampling layer."""

    def __init__(self, in_channels, out_channels, kernel, bias=True, up=False, down=False, resample_filter=(1, 1),
                 fused_resample=False, init_mode="kaiming_normal", init_weight=1, init_bias=0):
        assert not (up and down)
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.up, self.down, self.fused_resample = up, down, fused_resample
        fans = (in_channels * kernel * kernel, out_channels * kernel * kernel)
        self.weight = (torch.nn.Parameter(draw_weight([out_channels, in_channels, kernel, kernel], init_mode, *fans)
                                          * init_weight) if kernel else None)
        self.bias = (torch.nn.Parameter(draw_weight([out_channels], init_mode, *fans) * init_bias)
                     if kernel and bias else None)
        f = torch.as_tensor(list(resample_filter), dtype=torch.float32)
        f = f.ger(f).unsqueeze(0).unsqueeze(1) / f.sum().square()
        self.register_buffer("resample_filter", f if up or down else None)

    def forward(self, x):
        F = torch.nn.functional
        w = None if self.weight is None else self.weight.to(x.dtype)
        f = None if self.resample_filter is None else self.resample_filter.to(x.dtype)
        w_pad = 0 if w is None else w.shape[-1] // 2
        f_pad = 0 if f is None else (f.shape[-1] - 1) // 2
        if self.fused_resample and self.up and w is not None:
            x = F.conv_transpose2d(x, f.mul(4).tile([self.in_channels, 1, 1, 1]), groups=self.in_channels, stride=2,
                                   padding=w_pad + f_pad)
            x = F.conv2d(x, w)
        elif self.fused_resample and self.down and w is not None:
            x = F.conv2d(x, w, padding=w_pad + f_pad)
            x = F.conv2d(x, f.tile([self.out_channels, 1, 1, 1]), groups=self.out_channels, stride=2)
        else:
            if self.up:
                x = F.conv_transpose2d(x, f.mul(4).tile([self.in_channels, 1, 1, 1]), groups=self.in_channels,
                                       stride=2, padding=f_pad)
            if self.down:
                x = F.conv2d(x, f.tile([self.in_channels, 1, 1, 1]), groups=self.in_channels, stride=2,
                             padding=f_pad)
            if w is not None:
                x = F.conv2d(x, w, padding=w_pad)
        if self.bias is not None:
            x = x.add_(self.bias.to(x.dtype).reshape(1, -1, 1, 1))
        return x


class GroupNorm(torch.nn.Module):
    def __init__(self, num_channels, num_groups=32, min_channels_per_group=4, eps=1e-5):
        super().__init__()
        self.num_groups = min(num_groups, num_channels // min_channels_per_group)
        self.eps = eps
        self.weight = torch.nn.Parameter(torch.ones(num_channels))
        self.bias = torch.nn.Parameter(torch.zeros(num_channels))

    def forward(self, x):
        return torch.nn.functional.group_norm(x, self.num_groups, self.weight.to(x.dtype), self.bias.to(x.dtype),
                                              self.eps)


class AttentionWeights(torch.autograd.Function):
    """EDM's AttentionOp: softmax over k of qᵀk/√c in float32, with a hand-written backward."""

    @staticmethod
    def forward(ctx, q, k):
        c = k.shape[1]
        w = torch.einsum("ncq,nck->nqk", q.to(torch.float32), (k / math.sqrt(c)).to(torch.float32))
        w = w.softmax(dim=2).to(q.dtype)
        ctx.save_for_backward(q, k, w)
        return w

    @staticmethod
    def backward(ctx, dw):
        q, k, w = ctx.saved_tensors
        c = k.shape[1]
        db = torch._softmax_backward_data(grad_output=dw.to(torch.float32), output=w.to(torch.float32), dim=2,
                                          input_dtype=torch.float32)
        dq = torch.einsum("nck,nqk->ncq", k.to(torch.float32), db).to(q.dtype) / math.sqrt(c)
        dk = torch.einsum("ncq,nqk->nck", q.to(torch.float32), db).to(k.dtype) / math.sqrt(c)
        return dq, dk


def attention_weights_plain(q, k):
    """The same weights with plain ops (autograd's backward; forward-mode AD works)."""
    return torch.einsum("ncq,nck->nqk", q, k / math.sqrt(k.shape[1])).softmax(dim=2)


class UNetBlock(torch.nn.Module):
    def __init__(self, in_channels, out_channels, emb_channels, up=False, down=False, attention=False,
                 num_heads=None, channels_per_head=64, dropout=0, skip_scale=1, eps=1e-5, resample_filter=(1, 1),
                 resample_proj=False, adaptive_scale=True, init=None, init_zero=None, init_attn=None,
                 attention_op=True):
        super().__init__()
        init = init or {}
        init_zero = init_zero if init_zero is not None else dict(init_weight=0)
        self.in_channels, self.out_channels, self.emb_channels = in_channels, out_channels, emb_channels
        self.num_heads = 0 if not attention else (num_heads if num_heads is not None
                                                  else out_channels // channels_per_head)
        self.dropout, self.skip_scale, self.adaptive_scale = dropout, skip_scale, adaptive_scale
        self.attention_op = attention_op

        self.norm0 = GroupNorm(in_channels, eps=eps)
        self.conv0 = Conv2d(in_channels, out_channels, 3, up=up, down=down, resample_filter=resample_filter, **init)
        self.affine = Linear(emb_channels, out_channels * (2 if adaptive_scale else 1), **init)
        self.norm1 = GroupNorm(out_channels, eps=eps)
        self.conv1 = Conv2d(out_channels, out_channels, 3, **init_zero)
        self.skip = None
        if out_channels != in_channels or up or down:
            kernel = 1 if resample_proj or out_channels != in_channels else 0
            self.skip = Conv2d(in_channels, out_channels, kernel, up=up, down=down, resample_filter=resample_filter,
                               **init)
        if self.num_heads:
            self.norm2 = GroupNorm(out_channels, eps=eps)
            self.qkv = Conv2d(out_channels, out_channels * 3, 1, **(init_attn if init_attn is not None else init))
            self.proj = Conv2d(out_channels, out_channels, 1, **init_zero)
        self.affine_s = None

    def add_s_projection(self):
        """CTM's affine_s (zero weights and bias), as cm4j's UNetBlock.addSProjection."""
        self.affine_s = Linear(self.emb_channels, self.affine.out_features, init_mode="xavier_uniform",
                               init_weight=0, init_bias=0)

    def forward(self, x, emb, emb_s=None):
        orig = x
        x = self.conv0(silu(self.norm0(x)))
        cond = self.affine(emb)
        if emb_s is not None:
            cond = cond + self.affine_s(emb_s)
        params = cond.unsqueeze(2).unsqueeze(3).to(x.dtype)
        if self.adaptive_scale:
            scale, shift = params.chunk(chunks=2, dim=1)
            x = silu(torch.addcmul(shift, self.norm1(x), scale + 1))
        else:
            x = silu(self.norm1(x.add_(params)))
        x = self.conv1(torch.nn.functional.dropout(x, p=self.dropout, training=self.training))
        x = x.add_(orig if self.skip is None else self.skip(orig))
        x = x * self.skip_scale
        if self.num_heads:
            n, c = x.shape[0], x.shape[1]
            q, k, v = self.qkv(self.norm2(x)).reshape(n * self.num_heads, c // self.num_heads, 3, -1).unbind(2)
            w = AttentionWeights.apply(q, k) if self.attention_op else attention_weights_plain(q, k)
            a = torch.einsum("nqk,nck->ncq", w, v)
            x = self.proj(a.reshape(*x.shape)).add_(x)
            x = x * self.skip_scale
        return x


class PositionalEmbedding(torch.nn.Module):
    def __init__(self, num_channels, max_positions=10000, endpoint=False):
        super().__init__()
        self.num_channels, self.max_positions, self.endpoint = num_channels, max_positions, endpoint

    def forward(self, x):
        half = self.num_channels // 2
        freqs = torch.arange(start=0, end=half, dtype=torch.float32, device=x.device)
        freqs = (1 / self.max_positions) ** (freqs / (half - (1 if self.endpoint else 0)))
        x = x.ger(freqs.to(x.dtype))
        return torch.cat([x.cos(), x.sin()], dim=1)


class FourierEmbedding(torch.nn.Module):
    def __init__(self, num_channels, scale=16):
        super().__init__()
        self.register_buffer("freqs", torch.randn(num_channels // 2) * scale)

    def forward(self, x):
        x = x.ger((2 * math.pi * self.freqs).to(x.dtype))
        return torch.cat([x.cos(), x.sin()], dim=1)


class SongUNet(torch.nn.Module):
    """EDM's SongUNet; constructor arguments as EDM's (plus s_embedding and attention_op, see the module doc)."""

    def __init__(self, img_resolution, in_channels, out_channels, label_dim=0, augment_dim=0, model_channels=128,
                 channel_mult=(1, 2, 2, 2), channel_mult_emb=4, num_blocks=4, attn_resolutions=(16,), dropout=0.10,
                 label_dropout=0, embedding_type="positional", channel_mult_noise=1, encoder_type="standard",
                 decoder_type="standard", resample_filter=(1, 1), s_embedding=False, attention_op=True):
        assert embedding_type in ("fourier", "positional")
        assert encoder_type in ("standard", "skip", "residual")
        assert decoder_type in ("standard", "skip")
        super().__init__()
        self.label_dropout = label_dropout
        emb_channels = model_channels * channel_mult_emb
        noise_channels = model_channels * channel_mult_noise
        init = dict(init_mode="xavier_uniform")
        init_zero = dict(init_mode="xavier_uniform", init_weight=1e-5)
        init_attn = dict(init_mode="xavier_uniform", init_weight=math.sqrt(0.2))
        bk = dict(emb_channels=emb_channels, num_heads=1, dropout=dropout, skip_scale=math.sqrt(0.5), eps=1e-6,
                  resample_filter=resample_filter, resample_proj=True, adaptive_scale=False, init=init,
                  init_zero=init_zero, init_attn=init_attn, attention_op=attention_op)

        # Mapping network.
        self.map_noise = (PositionalEmbedding(noise_channels, endpoint=True) if embedding_type == "positional"
                          else FourierEmbedding(noise_channels))
        self.map_label = Linear(label_dim, noise_channels, **init) if label_dim else None
        self.map_augment = Linear(augment_dim, noise_channels, bias=False, **init) if augment_dim else None
        self.map_layer0 = Linear(noise_channels, emb_channels, **init)
        self.map_layer1 = Linear(emb_channels, emb_channels, **init)

        # Encoder: a 3x3 conv at full resolution, then per level a downsampling block and num_blocks blocks.
        self.enc = torch.nn.ModuleDict()
        cout = caux = in_channels
        for level, mult in enumerate(channel_mult):
            res = img_resolution >> level
            r = f"{res}x{res}"
            if level == 0:
                cin, cout = cout, model_channels
                self.enc[f"{r}_conv"] = Conv2d(cin, cout, 3, **init)
            else:
                self.enc[f"{r}_down"] = UNetBlock(cout, cout, down=True, **bk)
                if encoder_type == "skip":
                    self.enc[f"{r}_aux_down"] = Conv2d(caux, caux, 0, down=True, resample_filter=resample_filter)
                    self.enc[f"{r}_aux_skip"] = Conv2d(caux, cout, 1, **init)
                if encoder_type == "residual":
                    self.enc[f"{r}_aux_residual"] = Conv2d(caux, cout, 3, down=True, resample_filter=resample_filter,
                                                           fused_resample=True, **init)
                    caux = cout
            for idx in range(num_blocks):
                cin, cout = cout, model_channels * mult
                self.enc[f"{r}_block{idx}"] = UNetBlock(cin, cout, attention=res in attn_resolutions, **bk)
        skips = [b.out_channels for name, b in self.enc.items() if "aux" not in name]

        # Decoder: mirrored, concatenating the encoder's activations.
        self.dec = torch.nn.ModuleDict()
        for level, mult in reversed(list(enumerate(channel_mult))):
            res = img_resolution >> level
            r = f"{res}x{res}"
            if level == len(channel_mult) - 1:
                self.dec[f"{r}_in0"] = UNetBlock(cout, cout, attention=True, **bk)
                self.dec[f"{r}_in1"] = UNetBlock(cout, cout, **bk)
            else:
                self.dec[f"{r}_up"] = UNetBlock(cout, cout, up=True, **bk)
            for idx in range(num_blocks + 1):
                cin, cout = cout + skips.pop(), model_channels * mult
                attn = idx == num_blocks and res in attn_resolutions
                self.dec[f"{r}_block{idx}"] = UNetBlock(cin, cout, attention=attn, **bk)
            if decoder_type == "skip" or level == 0:
                if decoder_type == "skip" and level < len(channel_mult) - 1:
                    self.dec[f"{r}_aux_up"] = Conv2d(out_channels, out_channels, 0, up=True,
                                                     resample_filter=resample_filter)
                self.dec[f"{r}_aux_norm"] = GroupNorm(cout, eps=1e-6)
                self.dec[f"{r}_aux_conv"] = Conv2d(cout, out_channels, 3, **init_zero)

        # CTM's s path (created last, as in cm4j, so the EDM parameters draw the same numbers as without it).
        self.map_layer0_s = self.map_layer1_s = None
        if s_embedding:
            self.map_layer0_s = Linear(noise_channels, emb_channels, **init)
            self.map_layer1_s = Linear(emb_channels, emb_channels, **init)
            for part in (self.enc, self.dec):
                for b in part.values():
                    if isinstance(b, UNetBlock):
                        b.add_s_projection()

    def _embed(self, noise_labels, label_term):
        emb = self.map_noise(noise_labels)
        emb = emb.reshape(emb.shape[0], 2, -1).flip(1).reshape(*emb.shape)  # swap sin/cos
        return emb if label_term is None else emb + label_term

    def forward(self, x, noise_labels, class_labels=None, augment_labels=None, s_noise_labels=None):
        label_term = None
        if self.map_label is not None:
            tmp = class_labels
            if self.training and self.label_dropout:
                tmp = tmp * (torch.rand([x.shape[0], 1], device=x.device) >= self.label_dropout).to(tmp.dtype)
            label_term = self.map_label(tmp * math.sqrt(self.map_label.in_features))
        emb = self._embed(noise_labels, label_term)
        if self.map_augment is not None and augment_labels is not None:
            emb = emb + self.map_augment(augment_labels)
        emb = silu(self.map_layer1(silu(self.map_layer0(emb))))
        emb_s = None
        if s_noise_labels is not None:
            emb_s = silu(self.map_layer1_s(silu(self.map_layer0_s(self._embed(s_noise_labels, label_term)))))

        skips = []
        aux = x
        for name, block in self.enc.items():
            if "aux_down" in name:
                aux = block(aux)
            elif "aux_skip" in name:
                x = skips[-1] = x + block(aux)
            elif "aux_residual" in name:
                x = skips[-1] = aux = (x + block(aux)) / math.sqrt(2)
            else:
                x = block(x, emb, emb_s) if isinstance(block, UNetBlock) else block(x)
                skips.append(x)

        aux = tmp = None
        for name, block in self.dec.items():
            if "aux_up" in name:
                aux = block(aux)
            elif "aux_norm" in name:
                tmp = block(x)
            elif "aux_conv" in name:
                tmp = block(silu(tmp))
                aux = tmp if aux is None else tmp + aux
            else:
                if x.shape[1] != block.in_channels:
                    x = torch.cat([x, skips.pop()], dim=1)
                x = block(x, emb, emb_s)
        return aux


def songunet_kwargs(cfg):
    """EDM constructor kwargs from an EDM-style kwargs dict whose "img_channels" sets in and out channels."""
    kw = dict(cfg)
    ch = kw.pop("img_channels", None)
    if ch is not None:
        kw.setdefault("in_channels", ch)
        kw.setdefault("out_channels", ch)
    return kw


# Preconditioners ------------------------------------------------------------------------------------------------

class EDMPrecond(torch.nn.Module):
    """EDM's EDMPrecond (σ_d 0.5, label_dim 0, fp32): D(x, σ) = c_skip·x + c_out·F(c_in·x, ln(σ)/4)."""

    def __init__(self, model, sigma_data=0.5):
        super().__init__()
        self.model, self.sigma_data = model, sigma_data

    def forward(self, x, sigma, class_labels=None):
        x = x.to(torch.float32)
        sigma = sigma.to(torch.float32).reshape(-1, 1, 1, 1)
        sd = self.sigma_data
        c_skip = sd ** 2 / (sigma ** 2 + sd ** 2)
        c_out = sigma * sd / (sigma ** 2 + sd ** 2).sqrt()
        c_in = 1 / (sd ** 2 + sigma ** 2).sqrt()
        c_noise = sigma.log() / 4
        F_x = self.model((c_in * x).to(torch.float32), c_noise.flatten(), class_labels=class_labels)
        return c_skip * x + c_out * F_x.to(torch.float32)


class TrigFlowPrecond(torch.nn.Module):
    """sCM's TrigFlow network with c_noise(t) = t (cm4j's TrigFlowPrecond, TimeLabel.IDENTITY)."""

    def __init__(self, model, sigma_data=0.5):
        super().__init__()
        self.model, self.sigma_data = model, sigma_data

    def raw_f(self, xt, t):
        return self.model(xt / self.sigma_data, t.flatten(), None)


class CTMPrecond(torch.nn.Module):
    """CTM's jump G(x_t, t, s) = (s/t)·x_t + (1 − s/t)·g(x_t, t, s), as cm4j's CTMPrecond."""

    def __init__(self, model, sigma_data=0.5):
        super().__init__()
        self.model, self.sigma_data = model, sigma_data

    def g(self, x, t, s):
        x = x.to(torch.float32)
        tb = t.to(torch.float32).reshape(-1, 1, 1, 1)
        sd2 = self.sigma_data ** 2
        c_in = (tb.square() + sd2).rsqrt()
        c_skip = sd2 / (tb.square() + sd2)
        c_out = tb * self.sigma_data * c_in
        t_noise = t.to(torch.float32).flatten().log() / 4
        s_noise = None if s is None else s.to(torch.float32).flatten().log() / 4
        fx = self.model(c_in * x, t_noise, None, None, s_noise)
        return c_skip * x + c_out * fx.to(torch.float32)

    def jump(self, x, t, s):
        ratio = (s / t).to(torch.float32).reshape(-1, 1, 1, 1)
        gx = self.g(x, t, s if self.model.map_layer0_s is not None else None)
        return ratio * x.to(torch.float32) + (1 - ratio) * gx

    def forward(self, x, sigma):  # D(x, σ) = g(x, σ, σ)
        return self.g(x, sigma, sigma if self.model.map_layer0_s is not None else None)


class AdaptiveWeight(torch.nn.Module):
    """sCM's learned weight w_φ(t): a zero-initialised linear head on a positional embedding (cm4j's)."""

    def __init__(self, channels=128):
        super().__init__()
        self.embedding = PositionalEmbedding(channels, endpoint=True)
        self.linear = Linear(channels, 1, init_mode="xavier_uniform", init_weight=0, init_bias=0)

    def forward(self, t):
        return self.linear(self.embedding(t)).flatten()
