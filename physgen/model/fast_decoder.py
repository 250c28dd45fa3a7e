"""A thinner decoder for the frame tokenizer's latents: the studio decodes every predicted frame.

The tokenizer's AutoencoderKL decoder spends most of its time at 64 and 128 px, where it keeps 128
and 64 channels: about 76 ms a frame on 2 CPU cores, as long as the world model's own step. This
decoder is the same diffusers `Decoder` with fewer channels at the high resolutions
((16, 32, 64, 128) instead of (32, 64, 128, 128): 37 ms). It reads the same latents, so the tokens,
the encoder and the world model do not change. Its low-resolution layers (post-quant conv, conv_in,
the mid block and the first up block) have the teacher's shapes and start from its weights; the
thinner layers learn from real frames and the world model's predicted latents
(physgen.train.tokenizer with fast_decoder=True).
"""

from __future__ import annotations

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from diffusers.models.autoencoders.vae import Decoder

from physgen.errors import InputError

# Block widths from the highest-resolution level to the latent's: the vae's are (32, 64, 128, 128).
FAST_DECODER_CHANNELS = (16, 32, 64, 128)


class FastDecoder(ModelMixin, ConfigMixin):
    """VAE-space latents (B, C, h, w) (the tokenizer's latents / its scale) -> images (B, 3, H, W) in about [-1, 1]."""

    @register_to_config
    def __init__(self, latent_channels: int = 8, block_out_channels: tuple[int, ...] = FAST_DECODER_CHANNELS,
                 layers_per_block: int = 1, norm_num_groups: int = 16):
        super().__init__()
        if any(c % norm_num_groups for c in block_out_channels):
            raise InputError(f"every channel count of {tuple(block_out_channels)} must be a multiple of norm_num_groups={norm_num_groups}")
        self.post_quant_conv = torch.nn.Conv2d(latent_channels, latent_channels, 1)
        self.decoder = Decoder(
            in_channels=latent_channels,
            out_channels=3,
            up_block_types=("UpDecoderBlock2D",) * len(block_out_channels),
            block_out_channels=tuple(block_out_channels),
            layers_per_block=layers_per_block,
            norm_num_groups=norm_num_groups,
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.post_quant_conv(z))  # (B, 3, H, W)

    @classmethod
    def from_vae(cls, vae, **config) -> FastDecoder:
        """A fast decoder for `vae`'s latents whose layers of the same name and shape start as the vae's."""
        fast = cls(latent_channels=vae.config.latent_channels, **config)
        if len(fast.config.block_out_channels) != len(vae.config.block_out_channels):
            raise InputError("a fast decoder must upsample as often as the vae: give as many block_out_channels")
        teacher = {f"decoder.{k}": v for k, v in vae.decoder.state_dict().items()}
        teacher.update({f"post_quant_conv.{k}": v for k, v in vae.post_quant_conv.state_dict().items()})
        own = fast.state_dict()
        shared = {k: v for k, v in teacher.items() if k in own and own[k].shape == v.shape}
        fast.load_state_dict(shared, strict=False)
        return fast
