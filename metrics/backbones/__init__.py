"""Learned feature extractors (CLIP, DINO, RAFT, AMT, I3D, VideoMAE) and their loading."""
