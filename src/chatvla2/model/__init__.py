"""The ChatVLA-2 model: MoE Qwen2-VL backbone and reasoning-following diffusion action head."""
