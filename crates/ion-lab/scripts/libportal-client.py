#!/usr/bin/env python3
"""A RemoteDesktop client built on the real libportal (Xdp 1.0, through
Python GI), for ionChannel's end-to-end tests
(crates/ion-lab/tests/libportal.rs).

It creates a RemoteDesktop session with libportal, starts it (no parent
window), then runs commands, one per line, from its command line (`-c CMD`,
repeatable) or, without any, from stdin until EOF or `close`. Every input
command calls libportal the way an application does: libportal sends each
Notify* call without waiting for its reply, so a burst of calls leaves at once.

What happens is printed on stdout as JSON lines, each with an "event":

  {"event": "started", "devices": ["keyboard", "pointer"], "streams": [...], ...}
  {"event": "sent", "cmd": "type", "calls": 80, "seconds": 0.001}
  {"event": "flushed"}
  {"event": "eis", "fd": 7, "socket": true, "stream": true, "peeked": 16, "passed": true}
  {"event": "error", "cmd": "...", "message": "..."}
  {"event": "session-closed"}            (closed by the portal, not by us)
  {"event": "closed"}                    (after `close` or EOF)

Commands (numbers are decimal, or hex with 0x):

  type TEXT            TEXT is a JSON string; each character is a keysym
                       press then release, all back to back
                       (`type "Hello, World"`)
  keys SPEC...         raw key events back to back: c<keycode>+ / c<keycode>-
                       (evdev keycode), s<keysym>+ / s<keysym>-
                       (`keys c42+ c30+ c30- c42-`)
  motion DX DY         relative pointer motion
  position NODE X Y    absolute motion in the stream with PipeWire node NODE
  button CODE 1|0      evdev button press (1) or release (0)
  click CODE           evdev button press then release, back to back
  axis DX DY [finish]  smooth scroll; `finish` marks the end of the scroll
  axis-discrete AXIS STEPS
                       wheel steps; AXIS is libportal's XdpDiscreteAxis, by
                       name (`horizontal` = XDP_AXIS_HORIZONTAL_SCROLL = 0,
                       `vertical` = XDP_AXIS_VERTICAL_SCROLL = 1) or number
  repeat N CMD...      runs the input command CMD N times back to back
                       (`repeat 50 click 272`, `repeat 100 motion 1 1`)
  flush                wait until everything queued is written to the bus
  sleep SECONDS
  eis [SOCKET]         RemoteDesktop.ConnectToEIS through libportal: checks
                       that the fd is a connected stream socket on which the
                       server has spoken (peeked, not read); with SOCKET (a
                       unix socket path) hands the fd over with SCM_RIGHTS
  close                closes the session and exits

Options: --devices keyboard,pointer (default both); --outputs
none|monitor|window (default none: no ScreenCast sources); --multiple
(several outputs); --cursor hidden|embedded|metadata (default hidden);
--timeout SECONDS for the creation and the start (default 30).

Works with libportal 0.6 (Debian 12; no `eis`) and 0.11 (Debian testing).
Run it with the session's environment (DBUS_SESSION_BUS_ADDRESS...).

Exit status: 0 after `close` or EOF, 1 when the session could not be
created or started, 2 for bad options.
"""

import argparse
import json
import os
import select
import shlex
import socket
import stat
import sys
import time

import gi

gi.require_version("Xdp", "1.0")
from gi.repository import Gio, GLib, Xdp  # noqa: E402


def emit(event, **fields):
    fields = {"event": event, **fields}
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def number(text):
    return int(text, 0)


def char_keysym(ch):
    """The keysym an application sends for one character."""
    cp = ord(ch)
    if ch == "\n":
        return 0xFF0D  # Return
    if ch == "\t":
        return 0xFF09  # Tab
    if 0x20 <= cp <= 0x7E or 0xA0 <= cp <= 0xFF:
        return cp  # Latin-1 keysyms are the code point
    return 0x01000000 | cp  # Unicode keysym


class Client:
    def __init__(self, args):
        self.args = args
        self.portal = Xdp.Portal.new()
        self.session = None
        self.loop = GLib.MainLoop()
        self.result = None
        self.bus = None
        self.timer = None
        self.closing = False

    # -- set-up ---------------------------------------------------------

    def start(self):
        # Flags built from 0: libportal 0.6 (Debian 12) has no
        # XDP_OUTPUT_NONE.
        devices = Xdp.DeviceType(0)
        for name in filter(None, self.args.devices.split(",")):
            devices |= {
                "keyboard": Xdp.DeviceType.KEYBOARD,
                "pointer": Xdp.DeviceType.POINTER,
                "touchscreen": Xdp.DeviceType.TOUCHSCREEN,
            }[name]
        outputs = {
            "none": Xdp.OutputType(0),
            "monitor": Xdp.OutputType.MONITOR,
            "window": Xdp.OutputType.WINDOW,
        }[self.args.outputs]
        cursor = {
            "hidden": Xdp.CursorMode.HIDDEN,
            "embedded": Xdp.CursorMode.EMBEDDED,
            "metadata": Xdp.CursorMode.METADATA,
        }[self.args.cursor]
        began = time.monotonic()
        self.portal.create_remote_desktop_session(
            devices,
            outputs,
            Xdp.RemoteDesktopFlags.MULTIPLE if self.args.multiple else Xdp.RemoteDesktopFlags.NONE,
            cursor,
            None,
            self._created,
            None,
        )
        self._run_loop("create_remote_desktop_session")
        if isinstance(self.result, Exception):
            raise self.result
        self.session = self.result
        self.session.connect("closed", self._closed)
        self.result = None
        self.session.start(None, None, self._started, None)
        self._run_loop("start")
        if isinstance(self.result, Exception):
            raise self.result
        if not self.result:
            raise RuntimeError("start answered FALSE")
        # libportal talks on the shared session bus connection: the same
        # object, used here to flush.
        self.bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
        granted = self.session.get_devices()
        names = [
            name
            for flag, name in (
                (Xdp.DeviceType.KEYBOARD, "keyboard"),
                (Xdp.DeviceType.POINTER, "pointer"),
                (Xdp.DeviceType.TOUCHSCREEN, "touchscreen"),
            )
            if granted & flag
        ]
        streams = []
        variant = self.session.get_streams()
        if variant is not None:
            for node, props in variant.unpack():
                stream = {"node": node}
                for key in ("position", "size", "source_type", "id"):
                    if key in props:
                        value = props[key]
                        stream[key] = list(value) if isinstance(value, tuple) else value
                streams.append(stream)
        emit(
            "started",
            devices=names,
            device_bits=int(granted),
            streams=streams,
            # libportal's XdpDiscreteAxis values (the portal's
            # NotifyPointerAxisDiscrete says 0 = vertical, 1 = horizontal).
            discrete_axis={
                "HORIZONTAL_SCROLL": int(Xdp.DiscreteAxis.HORIZONTAL_SCROLL),
                "VERTICAL_SCROLL": int(Xdp.DiscreteAxis.VERTICAL_SCROLL),
            },
            pid=os.getpid(),
            seconds=round(time.monotonic() - began, 3),
        )

    def _closed(self, _session):
        if not self.closing:
            emit("session-closed")

    def _created(self, portal, result, _data):
        try:
            self.result = portal.create_remote_desktop_session_finish(result)
        except GLib.Error as err:
            self.result = err
        self.loop.quit()

    def _started(self, session, result, _data):
        try:
            self.result = session.start_finish(result)
        except GLib.Error as err:
            self.result = err
        self.loop.quit()

    def _run_loop(self, what):
        self.timer = GLib.timeout_add(int(self.args.timeout * 1000), self._timed_out, what)
        self.loop.run()
        if self.timer is not None:
            GLib.source_remove(self.timer)
            self.timer = None

    def _timed_out(self, what):
        self.timer = None
        self.result = TimeoutError(f"{what} did not finish within {self.args.timeout} s")
        self.loop.quit()
        return False

    # -- commands -------------------------------------------------------

    def pump(self):
        """Dispatches what arrived (the session's Closed signal)."""
        context = GLib.MainContext.default()
        while context.iteration(False):
            pass

    def run(self, line):
        """Runs one command; returns False after `close`."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        name, _, rest = line.partition(" ")
        began = time.monotonic()
        try:
            calls = self._command(name, rest.strip())
        except Exception as err:  # report and go on
            emit("error", cmd=name, message=f"{type(err).__name__}: {err}")
            return True
        if calls is None:
            return False
        if calls >= 0:
            emit("sent", cmd=name, calls=calls, seconds=round(time.monotonic() - began, 6))
        self.pump()
        return True

    def _command(self, name, rest):
        s = self.session
        if name == "type":
            text = json.loads(rest)
            if not isinstance(text, str):
                raise ValueError("type takes a JSON string")
            for ch in text:
                keysym = char_keysym(ch)
                s.keyboard_key(True, keysym, Xdp.KeyState.PRESSED)
                s.keyboard_key(True, keysym, Xdp.KeyState.RELEASED)
            return 2 * len(text)
        if name == "keys":
            events = []
            for spec in rest.split():
                kind, body, sign = spec[0], spec[1:-1], spec[-1]
                if kind not in "cs" or sign not in "+-" or not body:
                    raise ValueError(f"bad key spec {spec!r}")
                state = Xdp.KeyState.PRESSED if sign == "+" else Xdp.KeyState.RELEASED
                events.append((kind == "s", number(body), state))
            for keysym, key, state in events:
                s.keyboard_key(keysym, key, state)
            return len(events)
        args = shlex.split(rest)
        if name == "motion":
            s.pointer_motion(float(args[0]), float(args[1]))
            return 1
        if name == "position":
            s.pointer_position(number(args[0]), float(args[1]), float(args[2]))
            return 1
        if name == "button":
            state = Xdp.ButtonState.PRESSED if number(args[1]) else Xdp.ButtonState.RELEASED
            s.pointer_button(number(args[0]), state)
            return 1
        if name == "click":
            s.pointer_button(number(args[0]), Xdp.ButtonState.PRESSED)
            s.pointer_button(number(args[0]), Xdp.ButtonState.RELEASED)
            return 2
        if name == "repeat":
            count, _, inner = rest.partition(" ")
            inner_name, _, inner_rest = inner.strip().partition(" ")
            if inner_name in ("repeat", "flush", "sleep", "eis", "close", ""):
                raise ValueError(f"cannot repeat {inner_name!r}")
            return sum(self._command(inner_name, inner_rest.strip()) for _ in range(number(count)))
        if name == "axis":
            finish = len(args) > 2 and args[2] in ("finish", "1", "true")
            s.pointer_axis(finish, float(args[0]), float(args[1]))
            return 1
        if name == "axis-discrete":
            axis = {
                "horizontal": Xdp.DiscreteAxis.HORIZONTAL_SCROLL,
                "vertical": Xdp.DiscreteAxis.VERTICAL_SCROLL,
            }.get(args[0])
            if axis is None:
                axis = Xdp.DiscreteAxis(number(args[0]))
            s.pointer_axis_discrete(axis, number(args[1]))
            return 1
        if name == "flush":
            self.bus.flush_sync(None)
            emit("flushed")
            return -1
        if name == "sleep":
            time.sleep(float(args[0]))
            return -1
        if name == "eis":
            self._eis(args[0] if args else None)
            return -1
        if name == "close":
            return None
        raise ValueError(f"unknown command {name!r}")

    def _eis(self, target):
        fd = s = None
        if not hasattr(self.session, "connect_to_eis"):
            raise RuntimeError("this libportal has no xdp_session_connect_to_eis (0.7+)")
        try:
            fd = self.session.connect_to_eis()
            mode = os.fstat(fd).st_mode
            info = {"fd": fd, "socket": stat.S_ISSOCK(mode)}
            if info["socket"]:
                s = socket.socket(fileno=os.dup(fd))
                info["stream"] = s.type == socket.SOCK_STREAM
                info["family"] = "unix" if s.family == socket.AF_UNIX else str(s.family)
                # The EIS server speaks first (its handshake): wait for
                # those bytes and look at them without taking them.
                ready, _, _ = select.select([s], [], [], 10)
                info["peeked"] = len(s.recv(4096, socket.MSG_PEEK)) if ready else 0
                s.close()
                s = None
            if target:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as out:
                    out.connect(target)
                    socket.send_fds(out, [b"eis"], [fd])
                info["passed"] = True
            emit("eis", **info)
        finally:
            if s is not None:
                s.close()
            if fd is not None and fd >= 0:
                os.close(fd)

    def close(self):
        self.closing = True
        if self.session is not None:
            self.session.close()
            if self.bus is not None:
                self.bus.flush_sync(None)
        emit("closed")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", default="keyboard,pointer")
    parser.add_argument("--outputs", default="none", choices=["none", "monitor", "window"])
    parser.add_argument("--cursor", default="hidden", choices=["hidden", "embedded", "metadata"])
    parser.add_argument("--multiple", action="store_true", help="several outputs")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("-c", dest="commands", action="append", default=[])
    args = parser.parse_args()

    client = Client(args)
    try:
        client.start()
    except Exception as err:
        emit("error", cmd="start", message=f"{type(err).__name__}: {err}")
        return 1

    lines = args.commands if args.commands else sys.stdin
    for line in lines:
        if not client.run(line):
            break
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
