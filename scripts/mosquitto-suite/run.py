#!/usr/bin/env python3
"""Runs mosquitto's broker test suite (test/broker/*.py) against Magnetite.

    python3 scripts/mosquitto-suite/run.py --suite /tmp/mosq/test --bin target/release/magnetite [NAMES...]

--suite is the `test/` directory of an extracted eclipse/mosquitto (e.g. v2.0.20; see
README "Conformance"); it is copied to a scratch directory and its mosq_test.py patched
there to start Magnetite (magnetite_shim.py). Nothing of the suite is kept here.
Packets are compared by meaning (meaning.py; MOSQ_BYTE_FOR_BYTE=1 turns that off).
Each script runs in its own process with a timeout; the result is one of PASS, PASS~
(passed with a documented difference, see meaning.py), FAIL, TIMEOUT or N/A (the script needs a mosquitto setting Magnetite cannot express, named
in the log). Logs go to --logs.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


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
    return os.path.join(tree, "broker")


def scripts(broker_dir, names):
    if names:
        return names
    return sorted(n for n in os.listdir(broker_dir)
                  if n.endswith(".py") and n[:2].isdigit())


def run_one(broker_dir, name, port, timeout, logs):
    if "bridge" in name or name.endswith("-helper.py"):
        # Bridges bind the remote's port before starting the broker; helpers are
        # started by other scripts, not tests of their own.
        return "N/A"
    log_path = os.path.join(logs, name + ".log")
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
    counts = {}
    for name in scripts(broker_dir, args.names):
        result = run_one(broker_dir, name, args.port, args.timeout, args.logs)
        counts[result] = counts.get(result, 0) + 1
        print("%-8s %s" % (result, name), flush=True)
    print(", ".join("%s %d" % kv for kv in sorted(counts.items())))


if __name__ == "__main__":
    main()
