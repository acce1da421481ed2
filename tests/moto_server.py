"""The local AWS emulator, started the way every test and bench needs it.

Two changes to a plain `moto_server`:
- Nagle's algorithm off on every connection. werkzeug leaves it on, and a keep-alive client
  (the Rust SDK) then waits for a delayed ACK (~40 ms) before many small responses arrive,
  which makes every latency figure meaningless.
- One DynamoDB request at a time, and one EC2 request at a time. moto's DynamoDB backend takes no lock, so two concurrent
  conditional writes to one key can both pass their check; DynamoDB itself makes each
  conditional write atomic. Serializing the handler gives tests of concurrent deliveries the
  same guarantee.
- TransactWriteItems keeps for its rollback only the items it touches. moto deep-copies every
  table the transaction names, so each transaction costs time in proportion to the table's
  size (a second per transaction at 6,000 items), and a load test measures that instead.
- TransactWriteItems honours its ClientRequestToken, as DynamoDB does for ten minutes: the
  SDK sends one token per call and repeats it on each retry, so a retry of a transaction that
  was applied but whose answer never arrived (the SDK's attempt timeout, under load) succeeds
  without applying it again. moto ignores the token, and such a retry would fail its own
  condition instead, which DynamoDB never does.

Usage: python tests/moto_server.py -H 127.0.0.1 -p PORT
"""

import copy
import hashlib
import json
import sys
import threading
import time

import werkzeug.serving

werkzeug.serving.WSGIRequestHandler.disable_nagle_algorithm = True

from moto.dynamodb.responses import DynamoHandler  # noqa: E402

_dynamodb_lock = threading.Lock()
_call_action = DynamoHandler.call_action


def _serialized_call_action(self):
    with _dynamodb_lock:
        return _call_action(self)


DynamoHandler.call_action = _serialized_call_action

# One EC2 request at a time as well: moto's EC2 backend iterates dictionaries that a
# concurrent request changes ("dictionary changed size during iteration" answers 500), a
# failure EC2 itself never has. Tests that want 500s inject them (the fault proxy).
from moto.ec2.responses import EC2Response  # noqa: E402

_ec2_lock = threading.Lock()
_ec2_call_action = EC2Response.call_action


def _serialized_ec2_call_action(self):
    with _ec2_lock:
        return _ec2_call_action(self)


EC2Response.call_action = _serialized_ec2_call_action

from moto.core.responses import ActionResult  # noqa: E402
from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException  # noqa: E402


class IdempotentParameterMismatch(DynamodbException):
    def __init__(self):
        super().__init__(
            ERROR_TYPE_PREFIX + "IdempotentParameterMismatchException",
            message="The ClientRequestToken was used before with a different request",
        )


_transact_write_items = DynamoHandler.transact_write_items
# ClientRequestToken -> (digest of the request, when it was applied). Only applied
# transactions are kept: DynamoDB runs a failed one again on retry.
_applied_tokens: dict[str, tuple[str, float]] = {}
_TOKEN_LIFETIME = 600.0


def _idempotent_transact_write_items(self):
    # Runs under _dynamodb_lock (call_action), so the check and the write are one step.
    token = self.body.get("ClientRequestToken")
    if not token:
        return _transact_write_items(self)
    request = dict(self.body)
    request.pop("ClientRequestToken", None)
    # Binary attributes (B) arrive as bytes: digest them by their hex.
    text = json.dumps(request, sort_keys=True, default=lambda v: v.hex() if isinstance(v, bytes) else str(v))
    digest = hashlib.sha256(text.encode()).hexdigest()
    now = time.monotonic()
    applied = _applied_tokens.get(token)
    if applied is not None and now - applied[1] < _TOKEN_LIFETIME:
        if applied[0] != digest:
            raise IdempotentParameterMismatch()
        return ActionResult({"ConsumedCapacity": [], "ItemCollectionMetrics": {}})
    result = _transact_write_items(self)
    _applied_tokens[token] = (digest, now)
    if len(_applied_tokens) > 100_000:
        for old in [t for t, (_, at) in _applied_tokens.items() if now - at >= _TOKEN_LIFETIME]:
            del _applied_tokens[old]
    return result


DynamoHandler.transact_write_items = _idempotent_transact_write_items

import moto.dynamodb.models as dynamodb_models  # noqa: E402
from moto.dynamodb.models import DynamoDBBackend  # noqa: E402
from moto.dynamodb.models.table import Table  # noqa: E402

_backend_transact_write_items = DynamoDBBackend.transact_write_items


class _NoTableCopy:
    """`copy` for moto's transaction code: a table is not copied (the wrapper below keeps
    the touched items instead), anything else is."""

    @staticmethod
    def deepcopy(value, memo=None):
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _touched_items(backend, transact_items):
    """(table, hash key, range key, deep copy of the item or None) for each item named."""
    touched = []
    for entry in transact_items:
        try:
            op_type, op = next(iter(entry.items()))
            table = backend.get_table(op["TableName"])
            if op_type == "Put":
                attrs = op["Item"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            hash_key, range_key = backend.get_keys_value(table, key)
        except Exception:  # noqa: BLE001 - moto's own code reports a malformed entry
            continue
        current = table.get_item(hash_key, range_key)
        touched.append((table, hash_key, range_key, copy.deepcopy(current)))
    return touched


def _transact_write_items_item_rollback(self, transact_items):
    # Runs under _dynamodb_lock (every DynamoDB request does), so swapping `copy` is safe.
    touched = _touched_items(self, transact_items)
    dynamodb_models.copy = _NoTableCopy
    try:
        return _backend_transact_write_items(self, transact_items)
    except Exception:
        for table, hash_key, range_key, item in reversed(touched):
            if item is None:
                table.delete_item(hash_key, range_key)
            elif range_key is not None:
                table.items[hash_key][range_key] = item
            else:
                table.items[hash_key] = item
        raise
    finally:
        dynamodb_models.copy = copy


DynamoDBBackend.transact_write_items = _transact_write_items_item_rollback

from moto.server import main  # noqa: E402

if __name__ == "__main__":
    main(sys.argv[1:])
