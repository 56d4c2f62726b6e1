"""A lecture hall's addresses stay on this computer and never ask a resolver (simulator/web/hall.py):
"localhost." (with the root's dot, a name the machine's resolver is asked for) is refused; the name
"localhost" is used as 127.0.0.1, so connecting to the queue or the mail process looks nothing up."""
from __future__ import annotations

import socket

import pytest

from simulator.web import hall


@pytest.mark.parametrize("url", ["redis://localhost.:6379/0", "redis://LOCALHOST.:6379/0", "redis://mail.localhost:6379/0"])
def test_a_queue_named_with_a_trailing_dot_or_another_name_is_refused(url):
    with pytest.raises(hall.HallError):
        hall.check_queue_url(url)


@pytest.mark.parametrize("url", ["http://localhost.:8580/", "http://localhost.:8580"])
def test_a_main_process_named_with_a_trailing_dot_is_refused(url):
    with pytest.raises(hall.HallError):
        hall.check_main_url(url)


@pytest.mark.parametrize("url, used", [
    ("redis://localhost:6379/0", "redis://127.0.0.1:6379/0"),
    ("redis://:secret@LocalHost:6380/2", "redis://:secret@127.0.0.1:6380/2"),
    ("redis://localhost/0", "redis://127.0.0.1/0"),
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("redis://[::1]:6379/0", "redis://[::1]:6379/0"),
    ("unix:///run/redis.sock", "unix:///run/redis.sock"),
])
def test_localhost_is_used_as_its_address(url, used):
    assert hall.check_queue_url(url) == used


def test_the_main_process_is_reached_by_address():
    assert hall.check_main_url("http://localhost:8580/") == "http://127.0.0.1:8580/"
    upstream = hall.Upstream("http://localhost:8580/", "token")
    assert (upstream.host, upstream.port, upstream.netloc) == ("127.0.0.1", 8580, "127.0.0.1:8580")


def test_pinging_a_queue_called_localhost_looks_nothing_up(monkeypatch):
    """Nothing listens on the port: the ping fails, and the only address asked for is 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]                # free again when the block ends
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        asked.append(host)
        return real(host, *args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(hall.HallError):
        hall.ping_queue(f"redis://localhost:{port}/0", timeout=1.0)
    assert asked and set(asked) == {"127.0.0.1"}
    with pytest.raises(hall.HallError):
        hall.ping_queue("redis://localhost.:6379/0")
