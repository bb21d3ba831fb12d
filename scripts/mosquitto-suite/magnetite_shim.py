"""Stand-in for mosq_test.start_broker: starts Magnetite instead of mosquitto.

The runner (run.py) appends `from magnetite_shim import start_broker` to a *copy* of
mosquitto's test/mosq_test.py, so every test script keeps its own logic and packets and
only the broker under test changes. The mosquitto config a test writes is translated to
Magnetite flags; a setting Magnetite cannot express makes the script exit 77
("not applicable") with the setting named on stderr.
"""

import atexit
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time

NOT_APPLICABLE = 77

# mosquitto key -> Magnetite flag (value passed through).
FLAGS = {
    "max_keepalive": "--max-keepalive",
    "max_packet_size": "--max-packet-size",
    "max_connections": "--max-connections",
    "max_inflight_messages": "--max-inflight",
    "max_queued_messages": "--max-queued",
    "acl_file": "--acl-file",
}
# Settings that change nothing for Magnetite's behaviour in these tests.
# (per_listener_settings: translate() accepts a single listener only, so per-listener
# and global settings are the same thing.)
IGNORED = {"log_type", "log_dest", "connection_messages", "user", "per_listener_settings"}
# Settings whose default-equivalent value is fine; any other value is not applicable.
NEUTRAL_VALUES = {
    "allow_anonymous": {"true"},
    "persistence": {"false"},
    "allow_zero_length_clientid": {"true"},
    "retain_available": {"true"},
}


def not_applicable(why):
    sys.stderr.write("MAGNETITE-NOT-APPLICABLE: %s\n" % why)
    sys.stderr.flush()
    os._exit(NOT_APPLICABLE)


def translate(conf_path):
    """Returns (port, flags, anonymous) for a mosquitto config file.

    mosquitto 2.0 refuses anonymous clients once a config defines a listener, unless it
    says `allow_anonymous true`; Magnetite's equivalent is its default `--auth platform`
    with no accounts (every client is refused).
    """
    port, flags, anonymous = None, [], True
    with open(conf_path) as conf:
        for raw in conf:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            key, _, value = line.partition(" ")
            value = value.strip()
            if key in ("listener", "port"):
                parts = value.split()
                if port is not None or len(parts) > 1:
                    not_applicable("several listeners or a bound address (%s)" % line)
                port = int(parts[0])
                anonymous = anonymous and "allow_anonymous true" in open(conf_path).read()
            elif key in FLAGS:
                flags += [FLAGS[key], value]
            elif key in IGNORED:
                pass
            elif key in NEUTRAL_VALUES and value in NEUTRAL_VALUES[key]:
                pass
            else:
                not_applicable("mosquitto setting `%s`" % line)
    return port, flags, anonymous


def conf_from_cmd(cmd):
    if cmd and "-c" in cmd:
        return cmd[cmd.index("-c") + 1]
    return None


def start_broker(filename, cmd=None, port=0, use_conf=False, expect_fail=False, nolog=False):
    if "bridge" in filename:
        not_applicable("mosquitto as a bridge")
    conf = None
    if use_conf:
        conf = filename.replace(".py", ".conf")
    elif cmd is not None:
        conf = conf_from_cmd(cmd)
        if conf is None and "-p" not in cmd:
            not_applicable("custom broker command %s" % cmd)
        if "-p" in cmd:
            port = int(cmd[cmd.index("-p") + 1])
    elif port == 0:
        conf = filename.replace(".py", ".conf")
    flags, anonymous = [], True
    if conf is not None:
        conf_port, flags, anonymous = translate(conf)
        port = conf_port or port or 1888
    if port == 0:
        port = 1888
    data_dir = tempfile.mkdtemp(prefix="magnetite-mosq-")
    atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
    binary = os.environ["MAGNETITE_BIN"]
    # mosquitto's topic depth limit instead of Magnetite's default 32 levels:
    # mosquitto counts separators (200), Magnetite levels (separators + 1).
    auth = ["--auth", "none"] if anonymous else []
    args = [binary, "serve"] + auth + ["--max-topic-levels", "201",
            "--mqtt-addr", "127.0.0.1:%d" % port,
            "--ws-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
            "--data-dir", data_dir] + flags
    # A chosen admin password, so platform mode does not print a generated one.
    env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn"), NO_COLOR="1",
               MAGNETITE_ADMIN_EMAIL="admin@example.com",
               MAGNETITE_ADMIN_PASSWORD=secrets.token_hex(16))
    stderr = subprocess.DEVNULL if nolog else subprocess.PIPE
    broker = subprocess.Popen(args, stderr=stderr, env=env)
    broker.magnetite_data_dir = data_dir
    for _ in range(100):
        time.sleep(0.1)
        try:
            socket.create_connection(("localhost", port)).close()
            return broker
        except ConnectionRefusedError:
            if broker.poll() is not None:
                break
    if not expect_fail:
        print("FAIL: unable to start Magnetite: %s" % (args,))
        raise IOError
    return broker
