"""Drives one python_dynamodb_lock DynamoDBLockClient for the Go tests.

It reads one command per line on standard input and answers each with one
line on standard output; the Go side (python_test.go) owns the protocol.
The library's own code does all the DynamoDB work: the driver only calls its
public methods (and _get_lock_from_dynamodb, the read its acquire uses, to
show what the library makes of an item).

Answers:
    ready OWNER                   once the client is up
    ok {json}                     a lock (see lock_json)
    none                          get: no item
    timeout                       acquire: ACQUIRE_TIMEOUT
    released                      release: the item was deleted
    skipped STATUS                release: the lock was no longer held
                                  (INVALID: its heartbeat found it stolen)
    error CODE MESSAGE            a DynamoDBLockError or another failure
"""

import argparse
import base64
import datetime
import json
import shlex
import sys
import threading
from decimal import Decimal

import boto3
from botocore.config import Config

from python_dynamodb_lock.python_dynamodb_lock import (
    DynamoDBLockClient,
    DynamoDBLockError,
)


def value_json(v):
    """Encodes an attribute value as boto3 returns it, with its type."""
    if isinstance(v, str):
        return {"S": v}
    if isinstance(v, Decimal):
        return {"N": str(v)}
    if isinstance(v, (bytes, bytearray)):
        return {"B": base64.b64encode(bytes(v)).decode()}
    if hasattr(v, "value") and isinstance(v.value, (bytes, bytearray)):  # boto3 Binary
        return {"B": base64.b64encode(bytes(v.value)).decode()}
    if isinstance(v, bool):
        return {"BOOL": v}
    return {"repr": repr(v)}


def value_of(spec):
    """Decodes {"S": ...}, {"N": ...} or {"B": base64} for boto3."""
    (kind, v), = spec.items()
    if kind == "S":
        return v
    if kind == "N":
        return Decimal(v)
    if kind == "B":
        return base64.b64decode(v)
    raise ValueError("unknown attribute type " + kind)


def lock_json(lock, status=None):
    out = {
        "key": lock.partition_key,
        "sortKey": lock.sort_key,
        "owner": lock.owner_name,
        "rvn": lock.record_version_number,
        "leaseSeconds": float(lock.lease_duration),
        "expiryTime": int(lock.expiry_time),
        "attrs": {k: value_json(v) for k, v in sorted(lock.additional_attributes.items())},
    }
    if status is not None:
        out["status"] = status
    return "ok " + json.dumps(out, sort_keys=True)


class Driver:
    def __init__(self, args):
        self.args = args
        session = boto3.session.Session(
            aws_access_key_id="leaselock", aws_secret_access_key="leaselock", region_name="us-east-1")
        cfg = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=20)
        self.resource = session.resource("dynamodb", endpoint_url=args.endpoint, config=cfg)
        self.raw = session.client("dynamodb", endpoint_url=args.endpoint, config=cfg)
        lease = datetime.timedelta(milliseconds=args.lease_ms)
        heartbeat = datetime.timedelta(milliseconds=args.heartbeat_ms)
        self.client = DynamoDBLockClient(
            self.resource,
            table_name=args.table,
            partition_key_name=args.partition_key,
            sort_key_name=args.sort_key,
            ttl_attribute_name=args.ttl_attribute,
            owner_name=args.owner,
            heartbeat_period=heartbeat,
            safe_period=lease * 2 / 3,
            lease_duration=lease,
        )
        self.locks = {}
        self.events = []
        self.events_lock = threading.Lock()

    def callback(self, code, lock):
        with self.events_lock:
            self.events.append(code + " " + lock.partition_key + " " + lock.sort_key)

    def run(self):
        print("ready " + self.args.owner, flush=True)
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            words = shlex.split(line)
            try:
                answer = self.dispatch(words[0], words[1:])
            except DynamoDBLockError as e:
                answer = "error %s %s" % (e.code, e.message.replace("\n", " "))
            except Exception as e:  # the test reads the message
                answer = "error %s %s" % (type(e).__name__, str(e).replace("\n", " "))
            print(answer, flush=True)
            if words[0] == "quit":
                return

    def dispatch(self, cmd, argv):
        opts = dict(a.split("=", 1) for a in argv[1:] if "=" in a)
        key = argv[0] if argv else None
        sort = opts.get("sort", "-")
        if cmd == "acquire" or cmd == "try":
            kwargs = {"app_callback": self.callback}
            if "retry" in opts:
                kwargs["retry_period"] = datetime.timedelta(milliseconds=int(opts["retry"]))
            if cmd == "try":
                # retry_timeout must be truthy: a zero timedelta means "default".
                kwargs["retry_timeout"] = datetime.timedelta(milliseconds=1)
            elif "wait" in opts:
                kwargs["retry_timeout"] = datetime.timedelta(milliseconds=int(opts["wait"]))
            if "attrs" in opts:
                kwargs["additional_attributes"] = {k: value_of(v) for k, v in json.loads(opts["attrs"]).items()}
            try:
                lock = self.client.acquire_lock(key, sort, **kwargs)
            except DynamoDBLockError as e:
                if e.code == DynamoDBLockError.ACQUIRE_TIMEOUT:
                    return "timeout"
                raise
            self.locks[(key, sort)] = lock
            return lock_json(lock, lock.status)
        if cmd == "release":
            lock = self.locks.get((key, sort))
            if lock is None:
                return "error LOCK_NOT_OWNED no lock of this driver"
            if lock.status not in (lock.LOCKED, lock.IN_DANGER):
                # release_lock returns silently here, writing nothing.
                return "skipped " + lock.status
            self.client.release_lock(lock, best_effort=False)
            return "released"
        if cmd == "status":
            lock = self.locks.get((key, sort))
            return lock.status if lock is not None else "unknown"
        if cmd == "get":
            lock = self.client._get_lock_from_dynamodb(key, sort)
            return "none" if lock is None else lock_json(lock)
        if cmd == "events":
            with self.events_lock:
                return json.dumps(self.events)
        if cmd == "createtable":
            DynamoDBLockClient.create_dynamodb_table(
                self.raw, table_name=self.args.table, partition_key_name=self.args.partition_key,
                sort_key_name=self.args.sort_key, ttl_attribute_name=self.args.ttl_attribute)
            return "ok"
        if cmd == "quit":
            self.client.close(release_locks=True)
            return "bye"
        return "error USAGE unknown command " + cmd


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--owner", required=True)
    p.add_argument("--lease-ms", type=int, required=True)
    p.add_argument("--heartbeat-ms", type=int, required=True)
    p.add_argument("--partition-key", default="lock_key")
    p.add_argument("--sort-key", default="sort_key")
    p.add_argument("--ttl-attribute", default="expiry_time")
    Driver(p.parse_args()).run()


if __name__ == "__main__":
    main()
