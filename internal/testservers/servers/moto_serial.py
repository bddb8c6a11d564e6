"""moto_server with its requests serialised.

moto_server serves every request on its own thread, and moto's DynamoDB
backend takes no lock: two conditional writes on one item can interleave
between condition check and write, and both succeed (measured: the leaselock
conformance race finds a double acquisition within a few tries). DynamoDB
never does that, so tests that race writers would test moto, not the code.

This wrapper runs moto_server unchanged (same arguments, same threaded
HTTP/1.1 server) but handles one request at a time. Usage:

    .cache/venv/bin/python testservers/moto_serial.py -H 127.0.0.1 -p PORT
"""

import threading

import moto.server

_lock = threading.Lock()
_App = moto.server.DomainDispatcherApplication


class SerialApplication(_App):
    def __call__(self, environ, start_response):
        # moto builds the whole response inside the call, so holding the
        # lock for the call covers every read and write of its state.
        with _lock:
            return list(super().__call__(environ, start_response))


moto.server.DomainDispatcherApplication = SerialApplication

if __name__ == "__main__":
    moto.server.main()
