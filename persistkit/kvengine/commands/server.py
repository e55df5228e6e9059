"""Connection, transaction and server commands (redis/src/server.c, multi.c, config.c,
functions.c). Commands that need a running server (SAVE, BGSAVE, CONFIG ...) delegate to
``keyspace.server``; the pure library answers them with an error."""

from __future__ import annotations

import hmac
import time

from ...kvencoding.funclib import LibraryMetadataError, library_metadata
from ..numbers import get_int
from ..reply import (
    NOAUTH, OK, PONG, SYNTAX, WRONGPASS, CommandError, Map, Status, arity_error, unknown_subcommand,
)
from ..table import COMMANDS, command


def _server(s):
    srv = s.ks.server
    if srv is None:
        raise CommandError("ERR this command needs a running persistkit engine server")
    return srv


@command("ping", -1, "fast stale loading", keys=(0, 0, 0))
def ping(s, args):
    if len(args) > 2:
        raise arity_error("ping")
    return args[1] if len(args) == 2 else PONG


@command("echo", 2, "fast", keys=(0, 0, 0))
def echo(s, args):
    return args[1]


@command("time", 1, "fast", keys=(0, 0, 0))
def time_(s, args):
    t = time.time_ns() // 1000
    return [b"%d" % (t // 1_000_000), b"%d" % (t % 1_000_000)]


@command("quit", -1, "noauth nomulti fast", keys=(0, 0, 0))
def quit_(s, args):
    s.closing = True
    return OK


@command("auth", -2, "noauth nomulti fast", keys=(0, 0, 0))
def auth(s, args):
    if len(args) > 3:
        raise CommandError(SYNTAX)
    pw = args[-1]
    user = args[1] if len(args) == 3 else b"default"
    if s.ks.requirepass is None:
        if len(args) == 2:
            raise CommandError("ERR AUTH <password> called without any password configured for the "
                               "default user. Are you sure your configuration is correct?")
        if user == b"default":
            s.authenticated = True
            return OK
        raise CommandError(WRONGPASS)
    if user == b"default" and hmac.compare_digest(pw, s.ks.requirepass):
        s.authenticated = True
        return OK
    raise CommandError(WRONGPASS)


@command("hello", -1, "noauth nomulti fast", keys=(0, 0, 0))
def hello(s, args):
    i = 1
    ver = s.resp
    if len(args) > 1:
        ver = get_int(args[1], "ERR Protocol version is not an integer or out of range")
        if ver not in (2, 3):
            raise CommandError("NOPROTO unsupported protocol version")
        i = 2
    while i < len(args):
        o = args[i].upper()
        if o == b"AUTH" and i + 2 < len(args):
            auth(s, [b"AUTH", args[i + 1], args[i + 2]])
            i += 3
        elif o == b"SETNAME" and i + 1 < len(args):
            s.name = args[i + 1]
            i += 2
        else:
            raise CommandError(f"ERR Syntax error in HELLO option '{args[i].decode('utf-8', 'replace')}'")
    if not s.authenticated:
        raise CommandError("NOAUTH HELLO must be called with the client already authenticated, "
                           "otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
                           "authenticate the client and select the RESP protocol version at the same time")
    s.resp = ver
    return Map([b"server", b"redis", b"version", b"7.0.15", b"proto", ver, b"id", s.client_id,
                b"mode", b"standalone", b"role", b"master", b"modules", []])


@command("reset", 1, "noauth nomulti fast", keys=(0, 0, 0))
def reset(s, args):
    s.in_multi = False
    s.queue = []
    s.multi_error = False
    s.unwatch()
    s.select(0)
    s.authenticated = s.ks.requirepass is None
    return Status("RESET")




# -- transactions -----------------------------------------------------------------

@command("multi", 1, "nomulti fast", keys=(0, 0, 0))
def multi(s, args):
    if s.in_multi:
        raise CommandError("ERR MULTI calls can not be nested")
    s.in_multi = True
    s.queue = []
    s.multi_error = False
    return OK


@command("exec", 1, "nomulti", keys=(0, 0, 0))
def exec_(s, args):
    if not s.in_multi:
        raise CommandError("ERR EXEC without MULTI")
    return s.run_exec(s.now)


@command("discard", 1, "nomulti fast", keys=(0, 0, 0))
def discard(s, args):
    if not s.in_multi:
        raise CommandError("ERR DISCARD without MULTI")
    s.in_multi = False
    s.queue = []
    s.multi_error = False
    s.unwatch()
    return OK


@command("watch", -2, "nomulti fast", keys=(1, -1, 1))
def watch(s, args):
    if s.in_multi:
        raise CommandError("ERR WATCH inside MULTI is not allowed")
    s.watch(args[1:])
    return OK


@command("unwatch", 1, "nomulti fast", keys=(0, 0, 0))
def unwatch(s, args):
    s.unwatch()
    return OK


# -- scripting / functions ------------------------------------------------------------

def _library_name(code: bytes) -> bytes:
    """functionExtractLibMetaData: '#!<engine> name=<lib>' on the first line."""
    try:
        return library_metadata(code)[1]
    except LibraryMetadataError as exc:
        raise CommandError(str(exc)) from None


@command("function", -2, "write", keys=(0, 0, 0))
def function(s, args):
    sub = args[1].upper()
    lib = s.ks.functions
    if sub == b"LOAD":
        replace = len(args) == 4 and args[2].upper() == b"REPLACE"
        if len(args) not in (3, 4) or (len(args) == 4 and not replace):
            raise CommandError(SYNTAX)
        code = args[-1]
        name = _library_name(code)
        if name in lib and not replace:
            raise CommandError(f"ERR Library '{name.decode('utf-8', 'replace')}' already exists")
        lib[name] = code
        s.touch()
        return name
    if sub == b"DELETE" and len(args) == 3:
        if lib.pop(args[2], None) is None:
            raise CommandError("ERR Library not found")
        s.touch()
        return OK
    if sub == b"FLUSH":
        lib.clear()
        s.touch()
        return OK
    if sub == b"LIST":
        return [Map([b"library_name", n, b"engine", b"LUA", b"functions", [], *(
            [b"library_code", c] if any(a.upper() == b"WITHCODE" for a in args[2:]) else [])])
            for n, c in sorted(lib.items())]
    if sub == b"STATS":
        return [b"running_script", None, b"engines", [b"LUA", [b"libraries_count", len(lib),
                                                               b"functions_count", 0]]]
    raise unknown_subcommand(args[1], "function")


def _no_scripts(s, args):
    raise CommandError("ERR scripting is not supported by the persistkit engine "
                       "(an AOF logs a script's effects, which replay fine)")


for _name, _arity in (("eval", -3), ("evalsha", -3), ("eval_ro", -3), ("evalsha_ro", -3),
                      ("fcall", -3), ("fcall_ro", -3), ("script", -2)):
    command(_name, _arity, "noscript", keys=(0, 0, 0))(_no_scripts)


# -- persistence and administration (need the server) ------------------------------------

@command("save", 1, "admin noscript", keys=(0, 0, 0))
def save(s, args):
    return _server(s).cmd_save()


@command("bgsave", -1, "admin noscript", keys=(0, 0, 0))
def bgsave(s, args):
    schedule = len(args) == 2 and args[1].upper() == b"SCHEDULE"
    if len(args) > 2 or (len(args) == 2 and not schedule):
        raise CommandError(SYNTAX)
    return _server(s).cmd_bgsave(schedule)


@command("bgrewriteaof", 1, "admin noscript", keys=(0, 0, 0))
def bgrewriteaof(s, args):
    return _server(s).cmd_bgrewriteaof()


@command("lastsave", 1, "fast", keys=(0, 0, 0))
def lastsave(s, args):
    return _server(s).lastsave


@command("shutdown", -1, "admin noscript loading stale", keys=(0, 0, 0))
def shutdown(s, args):
    mode = None
    for a in args[1:]:
        o = a.upper()
        if o in (b"SAVE", b"NOSAVE"):
            mode = o
        elif o in (b"NOW", b"FORCE", b"ABORT"):
            pass
        else:
            raise CommandError(SYNTAX)
    return _server(s).cmd_shutdown(mode)


@command("config", -2, "admin noscript loading stale", keys=(0, 0, 0))
def config(s, args):
    sub = args[1].upper()
    srv = s.ks.server
    if sub == b"GET" and len(args) >= 3:
        if srv is None:
            from ..config import Config

            return Map(Config().get_pairs(args[2:]))
        return Map(srv.config.get_pairs(args[2:]))
    if sub == b"SET" and len(args) >= 4 and len(args) % 2 == 0:
        return _server(s).cmd_config_set(args[2:])
    if sub == b"RESETSTAT" and len(args) == 2:
        return OK
    if sub == b"REWRITE":
        raise CommandError("ERR The server is running without a config file")
    if sub in (b"GET", b"SET"):
        raise CommandError(f"ERR wrong number of arguments for 'config|{sub.decode().lower()}' command")
    raise unknown_subcommand(args[1], "config")


@command("info", -1, "loading stale", keys=(0, 0, 0))
def info(s, args):
    from ..info import render_info

    return render_info(s.ks, [a.lower() for a in args[1:]]).encode()


@command("client", -2, "noscript loading stale", keys=(0, 0, 0))
def client(s, args):
    sub = args[1].upper()
    if sub == b"SETNAME" and len(args) == 3:
        s.name = args[2]
        return OK
    if sub == b"GETNAME":
        return s.name
    if sub == b"ID":
        return s.client_id
    if sub == b"SETINFO":
        return OK
    if sub in (b"INFO", b"LIST"):
        line = b"id=%d addr=? name=%s db=%d cmd=client" % (s.client_id, s.name or b"", s.dbid)
        return line + b"\n"
    if sub in (b"REPLY", b"NO-EVICT", b"NO-TOUCH", b"TRACKING"):
        return OK
    raise unknown_subcommand(args[1], "client")


def _command_entry(spec):
    flags = [Status(f) for f in sorted(spec.flags) if f in (
        "write", "readonly", "admin", "fast", "denyoom", "loading", "stale", "noscript")]
    return [spec.name.encode(), spec.arity, flags, spec.first_key, spec.last_key, spec.step,
            [], [], []]


@command("command", -1, "loading stale", keys=(0, 0, 0))
def command_(s, args):
    if len(args) == 1:
        return [_command_entry(spec) for spec in COMMANDS.values()]
    sub = args[1].upper()
    if sub == b"COUNT":
        return len(COMMANDS)
    if sub == b"INFO":
        return [_command_entry(COMMANDS[a.lower()]) if a.lower() in COMMANDS else None for a in args[2:]]
    if sub == b"DOCS":
        return Map()
    if sub == b"LIST":
        return [spec.name.encode() for spec in COMMANDS.values()]
    if sub == b"GETKEYS":
        from ..table import lookup

        spec = lookup(args[2]) if len(args) > 2 else None
        if spec is None or spec.first_key == 0:
            raise CommandError("ERR The command has no key arguments")
        last = spec.last_key if spec.last_key >= 0 else len(args) - 2 + spec.last_key
        return list(args[2 + spec.first_key:2 + last + 1:spec.step])
    raise unknown_subcommand(args[1], "command")


@command("debug", -2, "admin noscript loading stale", keys=(0, 0, 0))
def debug(s, args):
    sub = args[1].upper()
    if sub == b"SLEEP" and len(args) == 3:
        time.sleep(float(args[2]))
        return OK
    if sub == b"RELOAD":
        return _server(s).cmd_debug_reload()
    if sub == b"SET-ACTIVE-EXPIRE" and len(args) == 3:
        s.ks.active_expiry = args[2] != b"0"
        return OK
    raise unknown_subcommand(args[1], "debug")
