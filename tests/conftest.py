"""Test session settings: one PyTorch intra-op thread, as the package's entry points use.

The networks under test are small; more threads only oversubscribe the cores (the
suite runs several times slower on a busy 2-core machine).
"""

from gbwm_sb3.common.threads import configure_torch_threads

configure_torch_threads(1)
