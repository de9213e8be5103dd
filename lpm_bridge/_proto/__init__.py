"""Generated gRPC stubs of protos/lpm/bridge/v1/bridge.proto (scripts/gen_protos.py)."""
