#!/usr/bin/env python3
"""Runs mosquitto's broker test suite (test/broker/*.py) against Magnetite.

    python3 scripts/mosquitto-suite/run.py --suite /tmp/mosq/test --bin target/release/magnetite [NAMES...]

--suite is the `test/` directory of an extracted eclipse/mosquitto (e.g. v2.0.20; see
README "Conformance"); it is copied to a scratch directory and its mosq_test.py patched
there to start Magnetite (magnetite_shim.py). Nothing of the suite is kept here.
Packets are compared by meaning (meaning.py; MOSQ_BYTE_FOR_BYTE=1 turns that off).
Each script runs in its own process with a timeout; the result is one of PASS, PASS~
(passed with a documented difference, see meaning.py), FAIL, TIMEOUT or N/A (the
script needs a mosquitto setting or feature Magnetite does not have, or mosquitto's own
test.py does not run it; the reason is in the log). Logs go to --logs.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# Scripts that need a mosquitto feature Magnetite does not have (the class in the README).
NOT_APPLICABLE = {
    "09-acl-change.py": "ACL file reloaded on SIGHUP (Magnetite reads it at start)",
    "07-will-control.py": "$CONTROL topics of mosquitto's dynamic-security plugin",
}

# Scripts that compare raw bytes without mosq_test: the comparison is routed through the
# by-meaning comparator (meaning.py) in the scratch copy. (script, old text, new text);
# a text that is not found fails the run, so a changed suite is noticed.
# A rewritten script logs "MEANING: rewritten: <reason>" when it starts.
REWRITES = [
    ("12-prop-assigned-client-identifier.py",
     "connack_recvd = sock.recv(len(connack_packet))",
     "connack_recvd = mosq_test._meaning.read_packet(sock, 0)",
     "CONNACK read whole (Magnetite's carries more properties)"),
    ("12-prop-assigned-client-identifier.py",
     "if connack_recvd[0:12] == connack_packet[0:12]:",
     "if mosq_test._meaning.assigns_client_id(connack_recvd):",
     "an Assigned Client Identifier, not mosquitto's byte layout"),
    ("02-subpub-qos1-message-expiry.py",
     "packet = sock.recv(len(publish2s_packet))",
     "packet = mosq_test._meaning.read_packet(sock, 0)",
     "PUBLISH read whole"),
    ("02-subpub-qos1-message-expiry.py",
     "if packet == publish2r_packet:",
     "if mosq_test._meaning.quietly_matches('publish2r', packet, publish2r_packet):",
     "PUBLISH compared by meaning (broker-chosen packet identifier)"),
    ("12-prop-maximum-packet-size-publish-qos1.py",
     'mosq_test.receive_unordered(sock, puback2_packet, publish2_packet, "puback 2/publish2")',
     'mosq_test.expect_packet(sock, "puback 2", puback2_packet); mosq_test.do_ping(sock)',
     "publish2 is 21 bytes, over the client's Maximum Packet Size of 20: it must not "
     "be sent (MQTT-3.1.2-24); asserted: PUBACK, then nothing before PINGRESP"),
    ("12-prop-maximum-packet-size-publish-qos2.py",
     'mosq_test.receive_unordered(sock, pubcomp2_packet, publish2_packet, "pubcomp 2/publish2")',
     'mosq_test.expect_packet(sock, "pubcomp 2", pubcomp2_packet); mosq_test.do_ping(sock)',
     "publish2 is 21 bytes, over the client's Maximum Packet Size of 20: it must not "
     "be sent (MQTT-3.1.2-24); asserted: PUBCOMP, then nothing before PINGRESP"),
    ("07-will-delay.py",
     "if t_finish - t_start > 2 and t_finish - t_start < 5:",
     "if t_finish - t_start < 2:",
     "a Session Expiry of 0 ends the session at the close, so the delayed will is "
     "published at once (5.0 3.1.3.2.2: delay or session end, whichever is first)"),
]


def enabled_in_mosquitto(broker_dir):
    """The scripts mosquitto's own test/broker/test.py runs (some are commented out)."""
    with open(os.path.join(broker_dir, "test.py")) as f:
        return set(re.findall(r"^\s*\(\d+,\s*'\./([^']+)'\)", f.read(), re.M))


def rewrite(broker_dir):
    anchor = "from mosq_test_helper import *\n"
    for name, old, new, reason in REWRITES:
        path = os.path.join(broker_dir, name)
        with open(path) as f:
            text = f.read()
        if old not in text or anchor not in text:
            sys.exit("%s: expected text not found: %s" % (name, old))
        note = "sys.stderr.write(%r)\n" % ("MEANING: rewritten: %s\n" % reason)
        with open(path, "w") as f:
            f.write(text.replace(old, new).replace(anchor, anchor + note, 1))


def prepare(suite):
    work = tempfile.mkdtemp(prefix="mosq-suite-")
    tree = os.path.join(work, "test")
    shutil.copytree(suite, tree)
    for helper in ("magnetite_shim.py", "meaning.py"):
        shutil.copy(os.path.join(HERE, helper), tree)
    with open(os.path.join(tree, "mosq_test.py"), "a") as f:
        f.write("\nfrom magnetite_shim import start_broker  # noqa: E402,F811\n")
        if not os.environ.get("MOSQ_BYTE_FOR_BYTE"):
            f.write("import sys as _sys  # noqa: E402\nimport meaning as _meaning  # noqa: E402\n_meaning.install(_sys.modules[__name__])\n")
    broker_dir = os.path.join(tree, "broker")
    if not os.environ.get("MOSQ_BYTE_FOR_BYTE"):
        rewrite(broker_dir)
    return broker_dir


def scripts(broker_dir, names):
    if names:
        return names
    return sorted(n for n in os.listdir(broker_dir)
                  if n.endswith(".py") and n[:2].isdigit())


def run_one(broker_dir, name, port, timeout, logs, enabled):
    log_path = os.path.join(logs, name + ".log")
    if "bridge" in name or name.endswith("-helper.py"):
        # Bridges bind the remote's port before starting the broker; helpers are
        # started by other scripts, not tests of their own.
        return "N/A"
    if name not in enabled or name in NOT_APPLICABLE:
        why = NOT_APPLICABLE.get(name, "not run by mosquitto's own test.py")
        with open(log_path, "w") as log:
            log.write("MAGNETITE-NOT-APPLICABLE: %s\n" % why)
        return "N/A"
    with open(log_path, "w") as log:
        try:
            rc = subprocess.run([sys.executable, name, str(port)], cwd=broker_dir,
                                stdout=log, stderr=subprocess.STDOUT,
                                timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            return "TIMEOUT"
    with open(log_path) as log:
        text = log.read()
    if "MAGNETITE-NOT-APPLICABLE" in text:
        return "N/A"
    if rc != 0:
        return "FAIL"
    return "PASS~" if "MEANING:" in text else "PASS"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--suite", required=True, help="mosquitto's test/ directory")
    parser.add_argument("--bin", required=True, help="the magnetite binary")
    parser.add_argument("--port", type=int, default=21883)
    parser.add_argument("--timeout", type=int, default=60)
    parser.add_argument("--logs", default=os.path.join(tempfile.gettempdir(), "mosq-suite-logs"))
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()
    os.environ["MAGNETITE_BIN"] = os.path.abspath(args.bin)
    os.makedirs(args.logs, exist_ok=True)
    broker_dir = prepare(os.path.abspath(args.suite))
    enabled = enabled_in_mosquitto(broker_dir)
    counts = {}
    for name in scripts(broker_dir, args.names):
        result = run_one(broker_dir, name, args.port, args.timeout, args.logs, enabled)
        counts[result] = counts.get(result, 0) + 1
        print("%-8s %s" % (result, name), flush=True)
    print(", ".join("%s %d" % kv for kv in sorted(counts.items())))


if __name__ == "__main__":
    main()
