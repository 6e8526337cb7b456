"""What a websocket's opening costs daphne, made smaller (``install()``, from spaces/asgi.py).

Autobahn, under daphne, pretty-prints every new connection's ~40 options for a debug line
(``pprint.pformat``: about 0.17 ms a connection here, a twentieth of a web process's time in a
storm of arrivals) whether or not anything logs at debug. With autobahn's log level above
debug, what it formats is only ever dropped, so a plain ``repr`` (a tenth of the cost, the
same content on one line) stands in for it; at debug level nothing changes.
"""

import pprint


def _pformat_when_logged(obj, *args, **kwargs) -> str:
    import txaio

    if txaio.get_global_log_level() in ("debug", "trace"):
        return pprint.pformat(obj, *args, **kwargs)
    return repr(obj)


def install() -> None:
    try:
        from autobahn.websocket import protocol
    except ImportError:
        return
    protocol.pformat = _pformat_when_logged
