import pytest


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run fastest on one thread, and spinning threads crawl on a busy 2-core machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
