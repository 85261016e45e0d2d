"""A throwaway PostgreSQL server for the tests: Debian's ``postgresql`` binaries, a new cluster in a temporary
directory, on a free local port, with its socket in that directory, stopped (and deleted) at the end.

The server refuses to run as root, and the tests run as root (CI too): as root, every server binary runs as the
``postgres`` system user (made by Debian's package) through ``setpriv``, which execs in place, so the process the
tests start is the server itself and is stopped by its own id. Run as another user, the binaries run as that user.

    with PostgresServer.start() as server:
        url = server.database("sweeps")   # postgresql://alice:PASSWORD@127.0.0.1:PORT/sweeps, a new database
"""
from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from browser import free_port

INSTALL_HINT = ("the PostgreSQL server binaries (initdb, postgres) are missing: apt-get install -y postgresql "
                "(`make test` installs it)")
USER = "alice"


def server_binaries() -> Path:
    """The newest ``/usr/lib/postgresql/N/bin`` that has ``initdb`` and ``postgres``; FAILS the test with an install
    hint where there is none (never skips)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found or not Path(found[-1]).with_name("postgres").is_file():
        pytest.fail(INSTALL_HINT, pytrace=False)
    return Path(found[-1]).parent


class PostgresServer:
    """A running cluster: ``port``, ``password`` (of the role ``alice``, who owns the databases made by
    :meth:`database`) and the server process ``process``."""

    def __init__(self, root: Path, port: int, password: str, process: subprocess.Popen):
        self.root, self.port, self.password, self.process = root, port, password, process
        self._made = 0

    @classmethod
    def start(cls, timeout: float = 60.0) -> "PostgresServer":
        bin_dir = server_binaries()
        as_user = []
        root = Path(tempfile.mkdtemp(prefix="gdtuo-pg-"))
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            os.chown(root, pg.pw_uid, pg.pw_gid)
            as_user = ["setpriv", f"--reuid={pg.pw_uid}", f"--regid={pg.pw_gid}", "--init-groups", "--"]
        # special characters in the password: the URL carries it percent-encoded, and masking must catch both forms
        password = f"pw{secrets.token_hex(6)}@:/%"
        try:
            subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", "postgres",
                            "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"],
                           check=True, capture_output=True, text=True, timeout=120, cwd=root)
        except subprocess.CalledProcessError as err:
            shutil.rmtree(root, ignore_errors=True)
            pytest.fail(f"initdb failed: {err.stderr}", pytrace=False)
        port = free_port()
        log = open(root / "server.log", "w")
        process = subprocess.Popen(
            [*as_user, str(bin_dir / "postgres"), "-D", str(root / "data"), "-p", str(port), "-k", str(root),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=100"],
            stdout=log, stderr=subprocess.STDOUT, cwd=root)
        log.close()
        server = cls(root, port, password, process)
        try:
            server._wait_ready(timeout)
            server.sql(f"CREATE ROLE {USER} LOGIN PASSWORD '{password}'")
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_ready(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"postgres exited ({self.process.returncode}): {self.log()}", pytrace=False)
            try:
                psycopg.connect(host=str(self.root), port=self.port, user="postgres", dbname="postgres").close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    pytest.fail(f"postgres did not accept connections within {timeout:.0f} s: {self.log()}",
                                pytrace=False)
                time.sleep(0.1)

    def log(self) -> str:
        return (self.root / "server.log").read_text(errors="replace")[-3000:]

    def sql(self, statement: str, database: str = "postgres") -> list:
        """Run ``statement`` as the superuser over the server's socket; its rows (if any)."""
        import psycopg

        with psycopg.connect(host=str(self.root), port=self.port, user="postgres", dbname=database,
                             autocommit=True) as conn:
            cur = conn.execute(statement)
            return cur.fetchall() if cur.description else []

    def database(self, prefix: str = "sweeps") -> str:
        """A new, empty database owned by ``alice``; its URL with her password (percent-encoded)."""
        self._made += 1
        name = f"{prefix}{self._made}"
        self.sql(f"CREATE DATABASE {name} OWNER {USER}")
        return f"postgresql://{USER}:{quote(self.password, safe='')}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        """Fast shutdown (SIGINT) of this server's own process, SIGKILL if it has not exited in 30 s; delete the
        cluster."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "PostgresServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
