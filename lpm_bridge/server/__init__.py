"""The lpm-bridge daemon: gRPC servicer, avatar store, process lifecycle (``lpm-bridge serve``)."""
