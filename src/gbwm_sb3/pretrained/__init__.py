"""One policy pretrained on many clients: the zero-shot benchmark suite and its runner."""
