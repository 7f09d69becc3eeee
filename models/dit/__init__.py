"""The reference video Diffusion Transformer: model, training, sampling, adapter."""
