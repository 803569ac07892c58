"""The vlm oracle's endpoint is tried when a command starts (hero_bench/oracles/vlm_reach.py): a server that is
down, a mistyped URL, no judge at all or an endpoint without a model name is refused in a second, before torch
loads and a batch is sampled, while a listening server with a model name, or a local model folder (no endpoint),
passes."""

from __future__ import annotations

import socket

import pytest

from hero_bench.errors import HeroBenchError
from hero_bench.oracles.vlm_reach import check_vlm_reachable, endpoint_url

ENDPOINT_VARIABLES = ("HERO_VLM_BASE_URL", "OPENAI_BASE_URL", "HERO_VLM_MODEL")


@pytest.fixture
def no_endpoint_in_env(monkeypatch):
    for name in ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _dead_port() -> int:
    """A port nothing listens on once the socket is closed: a connection to it is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_listening_endpoint_passes_and_a_closed_port_is_refused(no_endpoint_in_env, monkeypatch):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}/v1"
        check_vlm_reachable({"base_url": url, "model": "qwen2-vl"}, "--judge vlm")
        with pytest.raises(HeroBenchError, match=rf"^--judge vlm: no model name for the VLM endpoint {url}: set "):
            check_vlm_reachable({"base_url": url}, "--judge vlm")
        monkeypatch.setenv("HERO_VLM_MODEL", "qwen2-vl")  # or the environment names it
        check_vlm_reachable({"base_url": url}, "--judge vlm")
    dead = f"http://127.0.0.1:{_dead_port()}/v1"
    with pytest.raises(HeroBenchError, match=rf"^--judge vlm: cannot reach the VLM endpoint {dead} \(Connection "
                       r"refused\): start the server"):
        check_vlm_reachable({"base_url": dead}, "--judge vlm")


def test_the_environment_names_the_endpoint_unless_an_option_does(monkeypatch, no_endpoint_in_env):
    dead = f"http://127.0.0.1:{_dead_port()}/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", dead)
    assert endpoint_url({}) == dead
    with pytest.raises(HeroBenchError, match="cannot reach"):
        check_vlm_reachable({}, "--oracle vlm")
    monkeypatch.setenv("HERO_VLM_BASE_URL", "http://127.0.0.1:1/v1")  # HERO_VLM_* before OPENAI_*
    assert endpoint_url({}) == "http://127.0.0.1:1/v1"
    assert endpoint_url({"base_url": dead}) == dead


@pytest.mark.parametrize("url", ["htp:/x", "127.0.0.1:8000/v1", "http://:8000/v1", "http://127.0.0.1:port/v1"])
def test_what_is_not_an_http_url_with_a_host_is_refused(url, no_endpoint_in_env):
    with pytest.raises(HeroBenchError, match="is not an http\\(s\\) URL with a host"):
        check_vlm_reachable({"base_url": url}, "--oracle vlm")


def test_a_local_model_folder_has_no_endpoint_to_try(no_endpoint_in_env, tmp_path):
    check_vlm_reachable({"model": str(tmp_path)}, "--judge vlm")  # its folder is checked when it loads
    assert endpoint_url({"model": str(tmp_path)}) is None


def test_no_endpoint_and_no_model_folder_is_refused_at_once(no_endpoint_in_env):
    with pytest.raises(HeroBenchError, match=r"^--oracle vlm: the vlm oracle needs a judge: set HERO_VLM_BASE_URL"):
        check_vlm_reachable({}, "--oracle vlm")
