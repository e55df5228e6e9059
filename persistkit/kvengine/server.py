"""The RESP server: one single-threaded event loop (selectors) over a Keyspace, with
SAVE, fork-based BGSAVE / BGREWRITEAOF, the AOF and its fsync policies.

Loop turn (like redis aeMain + beforeSleep): read and run every ready client's
commands, buffering replies; then write the AOF buffer (fsync it now with
appendfsync always, hand it to the fsync thread once a second with everysec); only
then send the replies, so an acknowledged write is on disk as promised. A timer
(``hz`` times a second) reaps finished children, runs active expiry, applies the
save rules and starts scheduled rewrites.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import sys
import time
from typing import Optional

from .. import accel
from .aof import AppendOnlyFile, load_aof
from .config import Config
from .forking import Child, fork_child, read_child_info
from .keyspace import Keyspace, Session
from .protocol import ProtocolError, RequestReader, encode_reply
from .rdbfile import load_rdb_file, save_rdb_file
from .reply import OK, CommandError, Status

READ_CHUNK = 64 * 1024


class Client:
    __slots__ = ("sock", "fd", "reader", "out", "session", "close_after", "addr", "want_write", "id")

    def __init__(self, sock: socket.socket, session: Session, addr, cid: int, max_bulk: int,
                 reader_class=RequestReader) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.reader = reader_class(max_bulk)
        self.out: list[bytes] = []
        self.session = session
        self.close_after = False
        self.addr = addr
        self.want_write = False
        self.id = cid


def run_input(reader: RequestReader, sess: Session, out: list, stats: dict, server) -> int:
    """Run every complete command in ``reader`` for one client, buffering the replies in
    ``out``: 1 when the connection must close once they are written (a protocol error,
    QUIT), else 0 (wait for more input, or the server is stopping)."""
    execute = sess.execute
    while True:
        try:
            args = reader.next(sess.authenticated)
        except ProtocolError as exc:
            out.append(b"-" + exc.message.encode() + b"\r\n")
            return 1
        if args is None:
            return 0
        if not args:
            continue
        stats["total_commands_processed"] += 1
        try:
            reply = execute(args)
        except Exception as exc:  # a bug must cost one reply, never the server
            reply = CommandError(f"ERR internal error: {exc!r}")
        try:
            encode_reply(reply, out, sess.resp)
        except (TypeError, ValueError) as exc:
            out.append(b"-ERR internal error: reply not encodable (" + str(exc).encode() + b")\r\n")
        if sess.closing:
            return 1
        if not server.running:
            return 0


class EngineServer:
    def __init__(self, config: Optional[Config] = None, *, log=None) -> None:
        self.config = config or Config()
        cfg = self.config
        self.ks = Keyspace(cfg["databases"], limits=cfg.limits())
        self.ks.server = self
        self.ks.requirepass = cfg["requirepass"].encode() if cfg["requirepass"] else None
        self.ks.lazyfree_expire = cfg["lazyfree-lazy-expire"]
        self.log_stream = log or sys.stdout
        self.sel = selectors.DefaultSelector()
        # The compiled request loop (_accel/engine.pyx) when built: the same replies and
        # effects as the Python loop in _read, which stays the reference.
        compiled = accel.module("engine")
        self.reader_class = compiled.RequestReader if compiled is not None else RequestReader
        self.run_input = compiled.run_input if compiled is not None else run_input
        self.clients: dict[int, Client] = {}
        self.pending_writes: dict[int, Client] = {}   # fd -> client with replies to send
        self.listener: Optional[socket.socket] = None
        self.port = cfg["port"]
        self.running = False
        self.next_client_id = 1
        self.start_time = time.time()
        # persistence state (names follow INFO persistence)
        self.lastsave = int(time.time())
        self.dirty_at_save = 0
        self.dirty_before_bgsave = 0
        self.child: Optional[Child] = None
        self.last_bgsave_status = "ok"
        self.last_bgsave_try = 0.0
        self.last_bgsave_time_sec = -1
        self.last_cow_size = 0
        self.last_aof_cow_size = 0
        self.latest_fork_usec = 0
        self.rdb_saves = 0
        self.aof: Optional[AppendOnlyFile] = None
        self.aof_rewrite_scheduled = False
        self.bgsave_scheduled = False
        self.aof_last_rewrite_status = "ok"
        self.aof_rewrites = 0
        self.aof_last_rewrite_time_sec = -1
        self.aof_temp_base: Optional[str] = None
        self.stats = {"total_connections_received": 0, "total_commands_processed": 0,
                      "rejected_connections": 0}
        self.loading_info = ""

    # -- logging ----------------------------------------------------------------------------
    def log(self, msg: str) -> None:
        t = time.strftime("%d %b %Y %H:%M:%S", time.localtime())
        try:
            self.log_stream.write(f"{os.getpid()}:M {t} * {msg}\n")
            self.log_stream.flush()
        except (OSError, ValueError):
            pass

    # -- paths --------------------------------------------------------------------------------
    @property
    def dir(self) -> str:
        return self.config["dir"]

    @property
    def rdb_path(self) -> str:
        return os.path.join(self.dir, self.config["dbfilename"])

    def _aof_folder(self) -> str:
        return os.path.join(self.dir, self.config["appenddirname"])

    def _new_aof(self) -> AppendOnlyFile:
        c = self.config
        return AppendOnlyFile(self._aof_folder(), c["appendfilename"], fsync=c["appendfsync"],
                              timestamps=c["aof-timestamp-enabled"], preamble=c["aof-use-rdb-preamble"])

    # -- start-up -------------------------------------------------------------------------------
    def load_data(self) -> None:
        """loadDataFromDisk: the AOF when appendonly is on (the RDB is then ignored, as in
        Redis), else the RDB. Keys already expired in an RDB are dropped."""
        os.makedirs(self.dir, exist_ok=True)
        t0 = time.time()
        if self.config["appendonly"]:
            aof = self._new_aof()
            legacy = os.path.join(self.dir, self.config["appendfilename"])
            if not aof.exists() and os.path.isfile(legacy):
                aof.upgrade_from_single_file(legacy)
                self.log(f"Successfully migrated an old-style AOF into the AOF directory ({legacy})")
            if aof.exists():
                res = load_aof(self.ks, aof.folder, load_truncated=self.config["aof-load-truncated"])
                if res.truncated_at:
                    self.log(f"!!! Warning: short read while loading the AOF file {res.truncated_at[0]}!!! "
                             f"AOF loaded anyway because aof-load-truncated is enabled "
                             f"(truncated at offset {res.truncated_at[1]})")
                self.log(f"DB loaded from append only file: {time.time() - t0:.3f} seconds")
                aof.open_existing()
            else:
                self.log("Creating AOF base file and incr file on server start")
                aof.create(self.ks, version=self.config["rdb-version"])
            self.aof = aof
            self.ks.propagate_sink = self._feed_aof
        elif os.path.exists(self.rdb_path):
            from ..kvencoding.fileio import open_input
            from ..rdbtools.reader import RDBReader

            now = int(time.time() * 1000)
            with open_input(self.rdb_path) as fh:
                n = self.ks.load_records(RDBReader(fh, decode=True, name=self.rdb_path),
                                         now_ms=now, skip_expired=True)
            self.log(f"DB loaded from disk: {time.time() - t0:.3f} seconds ({n} keys)")
        self.dirty_at_save = self.ks.dirty = 0

    def _feed_aof(self, db: int, args: list[bytes]) -> None:
        if self.aof is not None:
            self.aof.feed(db, args)

    def bind(self) -> None:
        host = self.config["bind"].split()[0]
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, self.port))
        sock.listen(511)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self.listener = sock
        self.sel.register(sock, selectors.EVENT_READ, None)

    def serve_forever(self) -> None:
        self.running = True
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.log(f"Ready to accept connections tcp port={self.port}")
        period = 1.0 / max(1, self.config["hz"])
        next_cron = time.monotonic() + period
        try:
            while self.running:
                timeout = max(0.0, next_cron - time.monotonic())
                for key, mask in self.sel.select(timeout):
                    if key.data is None:
                        self._accept()
                    else:
                        client = key.data
                        if mask & selectors.EVENT_READ:
                            self._read(client)
                        if mask & selectors.EVENT_WRITE and client.fd in self.clients:
                            self._write(client)
                if time.monotonic() >= next_cron:
                    try:
                        self.cron()
                    except Exception as exc:  # a failed save or expiry must not stop serving
                        self.log(f"cron error: {exc!r}")
                    next_cron = time.monotonic() + period
                self.before_sleep()
        finally:
            self.shutdown_now(save=None)

    def _on_signal(self, signum, frame) -> None:
        self.log("Received SIGTERM/SIGINT scheduling shutdown...")
        self.running = False

    # -- connections --------------------------------------------------------------------
    def _accept(self) -> None:
        for _ in range(16):
            try:
                sock, addr = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if len(self.clients) >= self.config["maxclients"]:
                try:
                    sock.send(b"-ERR max number of clients reached\r\n")
                finally:
                    sock.close()
                self.stats["rejected_connections"] += 1
                continue
            sock.setblocking(False)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            sess = self.ks.session()
            sess.client_id = self.next_client_id
            c = Client(sock, sess, addr, self.next_client_id, self.config["proto-max-bulk-len"],
                       self.reader_class)
            self.next_client_id += 1
            self.clients[c.fd] = c
            self.sel.register(sock, selectors.EVENT_READ, c)
            self.stats["total_connections_received"] += 1

    def _close(self, c: Client) -> None:
        if self.clients.pop(c.fd, None) is None:
            return
        c.session.unwatch()
        try:
            self.sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()

    def _read(self, c: Client) -> None:
        try:
            data = c.sock.recv(READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(c)
            return
        if not data:
            self._close(c)   # half a command then a disconnect: simply dropped
            return
        if c.close_after:
            return
        c.reader.feed(data)
        if self.run_input(c.reader, c.session, c.out, self.stats, self):
            c.close_after = True
        if c.out or c.close_after:
            self.pending_writes[c.fd] = c

    def _write(self, c: Client) -> None:
        out = c.out
        if out:
            data = out[0] if len(out) == 1 else b"".join(out)
            out.clear()
            try:
                n = c.sock.send(data)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                self._close(c)
                return
            if n < len(data):
                c.out.append(data[n:])
        if c.out:
            if not c.want_write:
                c.want_write = True
                self.sel.modify(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
        else:
            if c.want_write:
                c.want_write = False
                self.sel.modify(c.sock, selectors.EVENT_READ, c)
            if c.close_after:
                self._close(c)

    def before_sleep(self) -> None:
        if self.aof is not None:
            try:
                self.aof.flush()
            except OSError as exc:
                self.log(f"Error writing to the AOF file: {exc}")
        # only the clients with replies (or a close) pending: those read in this turn and
        # those whose socket did not take everything yet
        pending = self.pending_writes
        if pending:
            self.pending_writes = {}
            clients = self.clients
            for c in pending.values():
                if clients.get(c.fd) is c:  # not closed meanwhile (its fd may be reused)
                    self._write(c)
                    if c.out and clients.get(c.fd) is c:
                        self.pending_writes[c.fd] = c

    # -- timer ---------------------------------------------------------------------------------
    def cron(self) -> None:
        self.check_child()
        self.ks.active_expire()
        cfg = self.config
        now = time.time()
        if self.child is None:
            if self.aof_rewrite_scheduled:
                self.start_rewrite()
            elif self.bgsave_scheduled:
                self.start_bgsave()
            else:
                changes = self.ks.dirty - self.dirty_at_save
                for secs, min_changes in cfg["save"]:
                    if changes >= min_changes and now - self.lastsave > secs and (
                            self.last_bgsave_status == "ok" or now - self.last_bgsave_try > 5):
                        self.log(f"{min_changes} changes in {secs} seconds. Saving...")
                        self.start_bgsave()
                        break

    def check_child(self) -> None:
        ch = self.child
        if ch is None:
            return
        try:
            pid, status = os.waitpid(ch.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = ch.pid, 1 << 8
        if pid == 0:
            return
        self.child = None
        read_child_info(ch)
        ok = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        elapsed = int(time.time() - ch.started)
        if ch.kind == "rdb":
            self.last_cow_size = ch.info.get("cow", 0)
            self.last_bgsave_time_sec = elapsed
            if ok:
                self.log("Background saving terminated with success")
                self.dirty_at_save = self.dirty_before_bgsave
                self.lastsave = int(time.time())
                self.last_bgsave_status = "ok"
                self.rdb_saves += 1
            else:
                self.log("Background saving error")
                self.last_bgsave_status = "err"
                self._unlink_quiet(os.path.join(self.dir, f"temp-{ch.pid}.rdb"))
        else:
            self.last_aof_cow_size = ch.info.get("cow", 0)
            self.aof_last_rewrite_time_sec = elapsed
            temp = self.aof_temp_base
            self.aof_temp_base = None
            if ok and temp and os.path.exists(temp):
                aof = self.aof if self.aof is not None else self._rewrite_target
                removed = aof.finish_rewrite(temp)
                if self.aof is None:
                    aof.close()
                self._rewrite_target = None
                self.aof_last_rewrite_status = "ok"
                self.aof_rewrites += 1
                self.log("Background AOF rewrite finished successfully"
                         + (f" (removed history {', '.join(removed)})" if removed else ""))
            else:
                self.aof_last_rewrite_status = "err"
                if temp:
                    self._unlink_quiet(temp)
                self.log("Background AOF rewrite terminated with error")

    @staticmethod
    def _unlink_quiet(path: str) -> None:
        try:
            os.unlink(path)
        except OSError:
            pass

    # -- persistence commands ---------------------------------------------------------------------
    def cmd_save(self):
        if self.child is not None and self.child.kind == "rdb":
            raise CommandError("ERR Background save already in progress")
        try:
            save_rdb_file(self.ks, self.rdb_path, version=self.config["rdb-version"],
                          compress=self.config["rdbcompression"], checksum=self.config["rdbchecksum"])
        except OSError as exc:
            self.last_bgsave_status = "err"
            raise CommandError(f"ERR {exc}") from None
        self.dirty_at_save = self.ks.dirty
        self.lastsave = int(time.time())
        self.last_bgsave_status = "ok"
        self.rdb_saves += 1
        self.log("DB saved on disk")
        return OK

    def _child_fds(self) -> tuple:
        fds = [self.listener.fileno()] if self.listener else []
        return tuple(fds + list(self.clients))

    def start_bgsave(self) -> None:
        ks, path, cfg = self.ks, self.rdb_path, self.config
        self.dirty_before_bgsave = ks.dirty
        self.last_bgsave_try = time.time()
        self.bgsave_scheduled = False

        def work():
            save_rdb_file(ks, path, version=cfg["rdb-version"], compress=cfg["rdbcompression"],
                          checksum=cfg["rdbchecksum"])

        if self.aof is not None:
            self.aof.flush()
        self.child = fork_child("rdb", work, self._child_fds())
        self.latest_fork_usec = self.child.fork_usec
        self.log(f"Background saving started by pid {self.child.pid}")

    def cmd_bgsave(self, schedule: bool):
        if self.child is not None:
            if self.child.kind == "rdb":
                raise CommandError("ERR Background save already in progress")
            if schedule:
                self.bgsave_scheduled = True
                return Status("Background saving scheduled")
            raise CommandError("ERR Another child process is active (AOF?): can't BGSAVE right now. "
                               "Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.")
        self.start_bgsave()
        return Status("Background saving started")

    _rewrite_target: Optional[AppendOnlyFile] = None

    def start_rewrite(self) -> None:
        """rewriteAppendOnlyFileBackground: new incr file now, base written by a forked child."""
        self.aof_rewrite_scheduled = False
        aof = self.aof
        if aof is None:
            # AOF off: the rewrite still produces a complete set (base + empty incr)
            aof = self._new_aof()
            os.makedirs(aof.folder, exist_ok=True)
            if aof.exists():
                aof.open_existing()
            else:
                from ..aoftools.manifest import Manifest

                aof.manifest = Manifest()
            self._rewrite_target = aof
        aof.start_rewrite()
        ks, version = self.ks, self.config["rdb-version"]
        folder = aof.folder

        def work():
            temp = os.path.join(folder, f"temp-rewriteaof-bg-{os.getpid()}.aof")
            aof.write_base(ks, temp, version=version)

        self.child = fork_child("aof", work, self._child_fds() + ((aof.fd,) if aof.fd else ()))
        self.aof_temp_base = os.path.join(folder, f"temp-rewriteaof-bg-{self.child.pid}.aof")
        self.latest_fork_usec = self.child.fork_usec
        self.log(f"Background append only file rewriting started by pid {self.child.pid}")

    def cmd_bgrewriteaof(self):
        if self.child is not None:
            if self.child.kind == "aof":
                raise CommandError("ERR Background append only file rewriting already in progress")
            self.aof_rewrite_scheduled = True
            return Status("Background append only file rewriting scheduled")
        self.start_rewrite()
        return Status("Background append only file rewriting started")

    def cmd_shutdown(self, mode):
        save = None if mode is None else (mode == b"SAVE")
        self.shutdown_now(save=save)
        os._exit(0)

    def shutdown_now(self, save: Optional[bool]) -> None:
        """prepareForShutdown: stop a child (removing its temp file), fsync the AOF, SAVE when
        save points exist (or SHUTDOWN SAVE) unless NOSAVE."""
        if getattr(self, "_shut", False):
            return
        self._shut = True
        if self.child is not None:
            try:
                os.kill(self.child.pid, signal.SIGUSR1)
                os.waitpid(self.child.pid, 0)
            except OSError:
                pass
            if self.child.kind == "rdb":
                self._unlink_quiet(os.path.join(self.dir, f"temp-{self.child.pid}.rdb"))
            elif self.aof_temp_base:
                self._unlink_quiet(self.aof_temp_base)
            self.child = None
        if self.aof is not None:
            try:
                self.aof.close()
            except OSError:
                pass
        if save is True or (save is None and self.config["save"]):
            try:
                self.cmd_save()
            except CommandError as exc:
                self.log(f"Error trying to save the DB: {exc.message}")
        self.log("Redis is now ready to exit, bye bye...")
        for c in list(self.clients.values()):
            self._close(c)
        if self.listener is not None:
            self.listener.close()
            self.listener = None

    def after_flushall(self) -> None:
        # FLUSHALL with save points writes an empty snapshot right away (flushallCommand)
        if self.config["save"] and self.child is None:
            try:
                self.cmd_save()
            except CommandError:
                pass
            self.ks.dirty += 1   # still propagated / counted as a change

    def cmd_debug_reload(self):
        self.cmd_save()
        for d in self.ks.dbs:
            d.data.clear()
            d.expires.clear()
        load_rdb_file(self.ks, self.rdb_path)
        return OK

    def cmd_config_set(self, pairs: list[bytes]):
        cfg = self.config
        before = dict(cfg.values)
        cfg.config_set(pairs)
        changed = {k for k in cfg.values if cfg.values[k] != before.get(k)}
        if "requirepass" in changed:
            self.ks.requirepass = cfg["requirepass"].encode() if cfg["requirepass"] else None
        self.ks.limits = cfg.limits()
        self.ks.lazyfree_expire = cfg["lazyfree-lazy-expire"]
        if self.aof is not None:
            self.aof.fsync_policy = cfg["appendfsync"]
            self.aof.timestamps = cfg["aof-timestamp-enabled"]
            self.aof.preamble = cfg["aof-use-rdb-preamble"]
        if "appendonly" in changed:
            if cfg["appendonly"]:
                # startAppendOnly: a rewrite creates the files; writes are logged from now on
                aof = self._new_aof()
                os.makedirs(aof.folder, exist_ok=True)
                if aof.exists():
                    aof.open_existing()
                else:
                    from ..aoftools.manifest import Manifest

                    aof.manifest = Manifest()
                self.aof = aof
                self.ks.propagate_sink = self._feed_aof
                if self.child is None:
                    self.start_rewrite()
                else:
                    self.aof_rewrite_scheduled = True
            else:
                if self.aof is not None:
                    self.aof.close()
                self.aof = None
                self.ks.propagate_sink = None
        return OK

    # -- INFO -------------------------------------------------------------------------------------
    def info_sections(self):
        from .persistence_info import persistence_fields

        now = time.time()
        server = [("redis_version", "7.0.15"), ("redis_mode", "standalone"), ("os", os.uname().sysname),
                  ("arch_bits", "64"), ("multiplexing_api", type(self.sel).__name__.replace("Selector", "").lower()),
                  ("process_id", os.getpid()), ("tcp_port", self.port),
                  ("uptime_in_seconds", int(now - self.start_time)),
                  ("uptime_in_days", int((now - self.start_time) // 86400)),
                  ("hz", self.config["hz"]), ("executable", sys.executable),
                  ("config_file", getattr(self, "config_file", "") or ""),
                  ("persistkit_engine", "python")]
        clients = [("connected_clients", len(self.clients)), ("blocked_clients", 0)]
        rss = _rss_bytes()
        memory = [("used_memory", rss), ("used_memory_human", _human(rss)), ("used_memory_rss", rss),
                  ("used_memory_rss_human", _human(rss)), ("maxmemory", self.config["maxmemory"]),
                  ("maxmemory_policy", self.config["maxmemory-policy"])]
        stats = [(k, v) for k, v in self.stats.items()] + [
            ("expired_keys", self.ks.stats["expired_keys"]), ("latest_fork_usec", self.latest_fork_usec)]
        repl = [("role", "master"), ("connected_slaves", 0)]
        return [("server", server), ("clients", clients), ("memory", memory),
                ("persistence", persistence_fields(self)), ("stats", stats), ("replication", repl)]


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _human(n: int) -> str:
    for unit in ("B", "K", "M", "G"):
        if n < 1024 or unit == "G":
            return f"{n:.2f}{unit}" if unit != "B" else f"{n}B"
        n /= 1024
    return str(n)


def run_server(config: Config, *, config_file: Optional[str] = None) -> int:
    srv = EngineServer(config)
    srv.config_file = config_file
    srv.ks.requirepass = config["requirepass"].encode() if config["requirepass"] else None
    try:
        srv.load_data()
    except Exception as exc:
        srv.log(f"Fatal error loading the DB: {exc}. Exiting.")
        return 1
    try:
        srv.bind()
    except OSError as exc:
        srv.log(f"Could not create server TCP listening socket {config['bind']}:{config['port']}: {exc}")
        return 1
    srv.serve_forever()
    return 0
