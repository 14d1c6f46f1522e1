"""Test session settings: one PyTorch intra-op thread, as the package's entry points use.

The networks under test are small; more threads only oversubscribe the cores (the
suite runs several times slower on a busy 2-core machine).
"""

from gbwm_sb3.common.threads import configure_torch_threads

configure_torch_threads(1)

# Property-based tests: a bounded profile for the fast suite and a longer one for `-m slow`
# (select it with HYPOTHESIS_PROFILE=long). No deadline: a shared CI core is slow to start.
import os  # noqa: E402

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("fast", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow], derandomize=True)
settings.register_profile("long", max_examples=400, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))
