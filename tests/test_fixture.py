"""The fixture a developer's test suite uses (simulator.testing), and app.py as a test suite starts it:
``--api-only`` with every port 0, ``--ports-file``, the token file.  Real sockets on loopback.

This module loads the plugin with ``pytest_plugins`` (options by overriding ``mailflow_options``);
a user's suite that loads it with ``-p simulator.testing`` and uses the marker runs in pytester.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from simulator import nodes

from web_fixtures import wait_until

# The plugin is loaded here, as a user's conftest.py loads it; its module is not imported above
# (pytest must import it first, to rewrite its asserts): the names come from ``lib()``.
pytest_plugins = ["simulator.testing", "pytester"]


def lib():
    import simulator.testing
    return simulator.testing

ROOT = Path(__file__).resolve().parent.parent
PORT_OPTIONS = [f"--{name}-port=0" for name in
                ("mx", "submission", "smtps", "dns", "imap", "imaps", "pop3", "pop3s", "web", "app")]
ONE_DOMAIN = """
name: shop
domains:
  shop.test:
    users: {orders: orders}
    hosts: {smtp.shop.test: {role: msa}, mx.shop.test: {role: mx}}
    mx: [{preference: 10, host: mx.shop.test}]
"""


# -- the fixture ----------------------------------------------------------------------------------------
def test_send_wait_for_raw_attachment_trace_and_clear(mailflow):
    assert mailflow.smtp_port == mailflow.ports["app"]           # an application's port: no AUTH
    sent = mailflow.send("bob@beta.test", "Your invoice", "Please find it attached.\n",
                         attachments=[("invoice.csv", b"item,price\nbook,12\n")])
    found = mailflow.wait_for(subject="invoice")
    assert (found["mailbox"], found["from"]) == ("bob@beta.test", "webmaster@localhost")
    assert found["message_id"] == sent
    raw = mailflow.raw(found["id"])
    assert b"Please find it attached." in raw and raw.startswith(b"Return-Path: <webmaster@localhost>")
    assert mailflow.attachment(found["id"], "invoice.csv") == ("invoice.csv", "text/csv", b"item,price\nbook,12\n")
    assert mailflow.attachment(found["id"], 0).data == b"item,price\nbook,12\n"
    hops = mailflow.trace(found["id"])
    assert hops[-1]["kind"] == "mda.deliver" and hops[-1]["dst"] == nodes.mailbox("bob@beta.test")
    assert mailflow.clear() == 1
    assert mailflow.messages() == []


def test_wait_for_counts_and_times_out_as_a_failed_expectation(mailflow):
    for n in range(3):
        mailflow.send("carol@alpha.test", f"reminder {n}", "hi")
    newest = mailflow.wait_for("subject:reminder", count=3)
    listed = mailflow.messages(to="carol@alpha.test")          # newest first
    assert sorted(m["subject"] for m in listed) == ["reminder 0", "reminder 1", "reminder 2"]
    # "newest" is the last delivered: three messages relayed at once may land in any order (as with
    # Postfix: a relay's connections run in parallel), so it is whichever the list puts first
    assert newest["subject"] == listed[0]["subject"]
    with pytest.raises(lib().MailflowTimeout) as err:
        mailflow.wait_for(subject="never sent", timeout=0.2)
    assert isinstance(err.value, AssertionError) and err.value.status == 408
    with pytest.raises(lib().MailflowError) as bad:
        mailflow.messages('subject:"unclosed')
    assert bad.value.status == 400 and bad.value.message.startswith("q:")


def test_mail_for_the_outside_world_is_caught_whole(mailflow):
    body = "Thank you for your order.\n" * 200
    mailflow.send("customer@example.com", "Order confirmed", body, attachments=[("order.pdf", b"%PDF-1.4\n")])
    found = mailflow.wait_for(to="customer@example.com", subject="order confirmed")
    assert body.encode() in mailflow.message(found["id"])["text"].encode()
    assert mailflow.attachment(found["id"], "order.pdf").data == b"%PDF-1.4\n"


@pytest.mark.parametrize("mailflow_options", [{"keep_messages": 2}])
def test_options_set_retention(mailflow):
    for n in range(3):
        mailflow.send("bob@beta.test", f"n{n}", "x")
        mailflow.wait_for(subject=f"n{n}")
    assert [m["subject"] for m in mailflow.messages()] == ["n2", "n1"]
    assert mailflow.info()["limits"]["keep_messages"] == 2


@pytest.mark.parametrize("mailflow_options", [{"scenario": ONE_DOMAIN, "app_port": False}])
def test_options_choose_the_world_and_without_an_app_port_send_through_submission(mailflow):
    assert list(mailflow.users)[0] == "orders@shop.test" and "app" not in mailflow.ports
    mailflow.send("orders@shop.test", "self", "note to self")          # logged in as the only user
    assert mailflow.wait_for(subject="self")["mailbox"] == "orders@shop.test"


USERS_SUITE = """
import pytest

@pytest.mark.mailflow(keep_messages=1)
def test_signup_mail(mailflow):
    mailflow.send("dana@example.com", "Welcome, Dana", "activate: https://app.example/a/1")
    mailflow.wait_for(subject="welcome, dana", to="dana@example.com")      # sent one after the other
    mailflow.send("dana@example.com", "Welcome again", "second")          # may land in either order
    msg = mailflow.wait_for(subject="welcome again", to="dana@example.com")
    assert [m["subject"] for m in mailflow.messages()] == ["Welcome again"]
    assert b"second" in mailflow.raw(msg["id"])

def test_a_world_of_its_own(mailflow):
    assert mailflow.messages() == []
"""


def test_a_users_suite_with_p_simulator_testing_and_the_marker(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))            # as if Mailflow were installed
    pytester.makepyfile(test_users_suite=USERS_SUITE)
    result = pytester.runpytest_subprocess("-p", "simulator.testing", "-p", "no:cacheprovider",
                                           "--strict-markers")
    result.assert_outcomes(passed=2)


def test_two_worlds_at_once_share_nothing(tmp_path):
    Mailflow = lib().Mailflow
    flows: list = []
    errors: list[BaseException] = []

    def start(n: int) -> None:
        try:
            flows.append(Mailflow.start(data_dir=tmp_path / f"w{n}"))
        except BaseException as exc:            # reported below
            errors.append(exc)
    threads = [threading.Thread(target=start, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    try:
        assert not errors and len(flows) == 2
        first, second = flows
        assert not set(first.ports.values()) & set(second.ports.values())
        assert first.api_url != second.api_url
        first.send("bob@beta.test", "to the first", "1")
        second.send("bob@beta.test", "to the second", "2")
        assert first.wait_for(subject="first")["subject"] == "to the first"
        assert second.wait_for(subject="second")["subject"] == "to the second"
        assert [m["subject"] for m in first.messages()] == ["to the first"]
        assert [m["subject"] for m in second.messages()] == ["to the second"]
        with pytest.raises(lib().MailflowError) as err:
            Mailflow.connect(first.api_url, second.token).messages()
        assert err.value.status == 401
    finally:
        for flow in flows:
            flow.stop()


# -- app.py for a test suite: --api-only, port 0, --ports-file -----------------------------------------
def start_app(tmp: Path, name: str, *extra: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, Path]:
    ports_file = tmp / f"{name}.json"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--api-only", "--fresh", "--data", str(tmp / name),
         "--ports-file", str(ports_file), *PORT_OPTIONS, *extra],
        cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **(env or {})})
    return proc, ports_file


def ready(proc: subprocess.Popen, ports_file: Path) -> dict:
    wait_until(lambda: ports_file.exists() or proc.poll() is not None, timeout=30, what="the ports file")
    assert proc.poll() is None, proc.stdout.read()
    return json.loads(ports_file.read_text())


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    return out


def test_two_api_only_runs_on_port_0_write_their_ports_and_tokens(tmp_path):
    one, one_file = start_app(tmp_path, "one", "--api-token", "given-token-0123456789")
    two, two_file = start_app(tmp_path, "two", env={"MAILFLOW_API_TOKEN": "env-token-0123456789"})
    try:
        ports = [ready(one, one_file), ready(two, two_file)]
        services = ("dns", "submission", "smtps", "imap", "imaps", "pop3", "pop3s", "app", "mx", "web")
        assert all(isinstance(p[s], int) and p[s] > 0 for p in ports for s in services)
        assert not {ports[0][s] for s in services} & {ports[1][s] for s in services}
        for entry, token in zip(ports, ("given-token-0123456789", "env-token-0123456789")):
            token_file = Path(entry["token_file"])
            assert token_file.read_text().strip() == token
            assert token_file.stat().st_mode & 0o777 == 0o600
        Mailflow = lib().Mailflow
        flow = Mailflow.from_ports_file(one_file)
        flow.send("bob@beta.test", "from a subprocess", "hello", sender="webmaster@localhost")
        assert flow.wait_for(subject="subprocess")["mailbox"] == "bob@beta.test"
        assert Mailflow.from_ports_file(two_file).messages() == []
    finally:
        outs = [stop(one), stop(two)]
    assert not one_file.exists() and not two_file.exists()      # removed when the run ends
    # quiet: one line when ready, nothing per hop
    assert [line for line in outs[0].splitlines() if line.strip()] == [outs[0].splitlines()[0]]
    assert outs[0].startswith("Mailflow ready (API only): http://127.0.0.1:")


def test_api_only_prints_every_hop_with_v_and_refuses_a_bad_token(tmp_path):
    proc, ports_file = start_app(tmp_path, "loud", "-v")
    try:
        flow = lib().Mailflow.from_ports_file(Path(ready(proc, ports_file)["data"]).parent / "loud.json")
        flow.send("bob@beta.test", "loud", "hello")
        trace = flow.wait_for(subject="loud")["trace"]
    finally:
        out = stop(proc)
    assert sum(trace in line for line in out.splitlines()) >= 3          # the hops of its journey
    bad = subprocess.run([sys.executable, str(ROOT / "app.py"), "--api-only", "--data", str(tmp_path / "bad"),
                          "--api-token", "short", *PORT_OPTIONS], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--api-token" in bad.stderr


def test_the_full_program_serves_the_test_api_beside_the_page_and_keeps_retention(tmp_path):
    ports_file = tmp_path / "full.json"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--fresh", "--data", str(tmp_path / "full"), "--ports-file",
         str(ports_file), "--keep-messages", "1", *PORT_OPTIONS], cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        entry = ready(proc, ports_file)
        assert entry["api"] == f"http://127.0.0.1:{entry['web']}/api/v1/"
        flow = lib().Mailflow.from_ports_file(ports_file)
        for n in range(2):
            flow.send("bob@beta.test", f"kept {n}", "x")
            flow.wait_for(subject=f"kept {n}")
        assert [m["subject"] for m in flow.messages()] == ["kept 1"]      # the director's world keeps it too
    finally:
        out = stop(proc)
    assert "Test API: http://127.0.0.1:" in out
