"""The local AWS emulator, started the way every test and bench needs it.

Two changes to a plain `moto_server`:
- Nagle's algorithm off on every connection. werkzeug leaves it on, and a keep-alive client
  (the Rust SDK) then waits for a delayed ACK (~40 ms) before many small responses arrive,
  which makes every latency figure meaningless.
- One DynamoDB request at a time. moto's DynamoDB backend takes no lock, so two concurrent
  conditional writes to one key can both pass their check; DynamoDB itself makes each
  conditional write atomic. Serializing the handler gives tests of concurrent deliveries the
  same guarantee.

Usage: python tests/moto_server.py -H 127.0.0.1 -p PORT
"""

import sys
import threading

import werkzeug.serving

werkzeug.serving.WSGIRequestHandler.disable_nagle_algorithm = True

from moto.dynamodb.responses import DynamoHandler  # noqa: E402

_dynamodb_lock = threading.Lock()
_call_action = DynamoHandler.call_action


def _serialized_call_action(self):
    with _dynamodb_lock:
        return _call_action(self)


DynamoHandler.call_action = _serialized_call_action

from moto.server import main  # noqa: E402

if __name__ == "__main__":
    main(sys.argv[1:])
