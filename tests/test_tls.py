"""HTTPS for the dashboard (issue 15): `winterops serve --certfile/--keyfile` with a certificate
from deploy/selfsigned-cert.sh, the listen address on loopback unless named, and the nginx
reverse-proxy configuration (HTTP -> HTTPS, HSTS, the WebSocket) checked by nginx itself when it
is installed."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from incidents.cli.app import DEFAULT_ADDRESS, app, serve_argv

REPO = Path(__file__).resolve().parents[1]
CERT_SCRIPT = REPO / "deploy" / "selfsigned-cert.sh"
NGINX_CONF = REPO / "deploy" / "nginx-winterops.conf"
runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed pair from the deploy script, for localhost / 127.0.0.1 and a host name."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    out = tmp_path_factory.mktemp("tls")
    proc = subprocess.run(
        ["bash", str(CERT_SCRIPT), "winterops.example.local", "10.20.30.40", str(out)],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    crt, key = out / "winterops.crt", out / "winterops.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    text = subprocess.run(["openssl", "x509", "-in", str(crt), "-noout", "-ext",
                           "subjectAltName"], capture_output=True, text=True, check=True).stdout
    for name in ("DNS:winterops.example.local", "DNS:localhost", "IP Address:127.0.0.1",
                 "IP Address:10.20.30.40"):
        assert name in text
    return crt, key


def test_the_script_refuses_a_bad_host_name(tmp_path: Path) -> None:
    proc = subprocess.run(["bash", str(CERT_SCRIPT), "bad host;rm", "", str(tmp_path)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "bad host name" in proc.stderr
    assert not (tmp_path / "winterops.key").exists()


def test_serve_listens_on_loopback_unless_told(tmp_path: Path) -> None:
    argv = serve_argv(8600)
    assert f"--server.address={DEFAULT_ADDRESS}" in argv and DEFAULT_ADDRESS == "127.0.0.1"
    assert not any("sslCertFile" in a for a in argv)
    argv = serve_argv(8600, "0.0.0.0", tmp_path / "c.pem", tmp_path / "k.pem")
    assert "--server.address=0.0.0.0" in argv
    assert f"--server.sslCertFile={tmp_path / 'c.pem'}" in argv
    assert f"--server.sslKeyFile={tmp_path / 'k.pem'}" in argv


def test_serve_refuses_half_a_tls_pair_or_a_missing_file(tmp_path: Path) -> None:
    crt = tmp_path / "c.pem"
    crt.write_text("x")
    db = f"sqlite:///{tmp_path / 'w.db'}"
    res = runner.invoke(app, ["serve", "--certfile", str(crt), "--db", db])
    assert res.exit_code == 2 and "together" in res.output
    res = runner.invoke(app, ["serve", "--certfile", str(crt), "--keyfile",
                              str(tmp_path / "missing.pem"), "--db", db])
    assert res.exit_code == 2 and "missing.pem" in res.output


@pytest.fixture(scope="module")
def https_server(cert: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`winterops serve --certfile/--keyfile` on a free port (default address)."""
    folder = tmp_path_factory.mktemp("https")
    port = _free_port()
    log = open(folder / "serve.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "incidents.cli.app", "serve", "--port", str(port),
         "--certfile", str(cert[0]), "--keyfile", str(cert[1]),
         "--db", f"sqlite:///{folder / 'winterops.db'}"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    ctx = ssl.create_default_context(cafile=str(cert[0]))
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{port}/_stcore/health",
                                            timeout=2, context=ctx):
                    break
            except (OSError, ssl.SSLError):
                if proc.poll() is not None:
                    pytest.fail(f"serve exited: {(folder / 'serve.log').read_text()}")
                time.sleep(0.5)
        else:
            pytest.fail(f"serve did not come up: {(folder / 'serve.log').read_text()}")
        yield port, proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_the_health_endpoint_answers_over_https(https_server, cert) -> None:
    port, _ = https_server
    ctx = ssl.create_default_context(cafile=str(cert[0]))  # verifies chain and host name
    for host in ("127.0.0.1", "localhost"):
        with urllib.request.urlopen(f"https://{host}:{port}/_stcore/health", timeout=5,
                                    context=ctx) as resp:
            assert resp.status == 200
            assert resp.read().strip() == b"ok"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_plain_http_and_an_untrusted_client_get_nothing(https_server) -> None:
    port, _ = https_server
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=5)  # noqa: S310
    strict = ssl.create_default_context()  # the system CAs: the self-signed cert is not there
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(f"https://127.0.0.1:{port}/_stcore/health", timeout=5,
                               context=strict)


def test_the_default_address_is_loopback_only(https_server) -> None:
    port, _ = https_server
    other = _outside_address()
    if other is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    with pytest.raises(OSError):
        socket.create_connection((other, port), timeout=3).close()


def _outside_address() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))  # no packet is sent (UDP connect)
            addr = str(s.getsockname()[0])
    except OSError:
        return None
    return None if addr.startswith("127.") else addr


def _nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                      else None)
    if found is None:
        pytest.skip("nginx not installed (Debian: apt install nginx)")
    return found


def _nginx_files(folder: Path, cert: tuple[Path, Path], http: int, https: int, upstream: int
                 ) -> Path:
    """The shipped site file, moved to test ports and paths, inside a minimal nginx.conf."""
    site = NGINX_CONF.read_text(encoding="utf-8")
    assert "return 301 https://" in site and "Strict-Transport-Security" in site
    assert "proxy_set_header Upgrade $http_upgrade" in site
    site = site.replace("/etc/ssl/winterops/winterops.crt", str(cert[0]))
    site = site.replace("/etc/ssl/winterops/winterops.key", str(cert[1]))
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http};")
    site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https} ssl http2;")
    site = "\n".join(line for line in site.splitlines() if "listen [::]" not in line)
    site = site.replace("server 127.0.0.1:8501;", f"server 127.0.0.1:{upstream};")
    (folder / "site.conf").write_text(site, encoding="utf-8")
    main = folder / "nginx.conf"
    temp = " ".join(f"{k}_temp_path {folder}/{k};" for k in
                    ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    main.write_text(
        f"pid {folder}/nginx.pid;\nerror_log {folder}/error.log;\ndaemon off;\n"
        f"events {{}}\nhttp {{\n  access_log off;\n  {temp}\n  include {folder}/site.conf;\n}}\n",
        encoding="utf-8",
    )
    return main


def test_the_nginx_configuration_is_valid_for_nginx(cert, tmp_path: Path) -> None:
    main = _nginx_files(tmp_path, cert, _free_port(), _free_port(), 8501)
    proc = subprocess.run([_nginx(), "-t", "-c", str(main), "-p", str(tmp_path)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "syntax is ok" in proc.stderr


def _serve_plain(folder: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "incidents.cli.app", "serve", "--port", str(port),
         "--db", f"sqlite:///{folder / 'winterops.db'}"],
        stdout=open(folder / "serve.log", "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def _wait_http(url: str, ctx: ssl.SSLContext | None, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2, context=ctx):  # noqa: S310
                return
        except (OSError, ssl.SSLError):
            assert proc.poll() is None, f"{proc.args} exited"
            time.sleep(0.5)
    pytest.fail(f"{url} did not answer in 90 s")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def test_behind_nginx_http_redirects_https_has_hsts_and_the_websocket_opens(
    cert, tmp_path: Path
) -> None:
    nginx = _nginx()
    upstream, http, https = _free_port(), _free_port(), _free_port()
    main = _nginx_files(tmp_path, cert, http, https, upstream)
    dash = _serve_plain(tmp_path, upstream)
    proxy = subprocess.Popen([nginx, "-c", str(main), "-p", str(tmp_path)],
                             stderr=subprocess.PIPE, start_new_session=True)
    ctx = ssl.create_default_context(cafile=str(cert[0]))
    try:
        _wait_http(f"http://127.0.0.1:{upstream}/_stcore/health", None, dash)
        _wait_http(f"https://localhost:{https}/_stcore/health", ctx, proxy)
        opener = urllib.request.build_opener(_NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as moved:
            opener.open(f"http://127.0.0.1:{http}/_stcore/health?x=1", timeout=5)
        assert moved.value.code == 301
        assert moved.value.headers["Location"] == "https://127.0.0.1/_stcore/health?x=1"
        with urllib.request.urlopen(f"https://localhost:{https}/_stcore/health", timeout=5,
                                    context=ctx) as resp:
            assert resp.read().strip() == b"ok"
            assert resp.headers["Strict-Transport-Security"].startswith("max-age=31536000")
        with socket.create_connection(("127.0.0.1", https), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(
                    f"GET /_stcore/stream HTTP/1.1\r\nHost: localhost:{https}\r\n"
                    f"Origin: https://localhost:{https}\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Sec-WebSocket-Protocol: streamlit\r\n\r\n".encode()
                )
                head = tls.recv(4096).decode("latin-1")
        assert head.startswith("HTTP/1.1 101"), head
        assert "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head  # the RFC 6455 accept for that key
    finally:
        _stop(proxy)
        _stop(dash)
