"""Generated gRPC stubs (from protos/asrt.proto; never edited by hand)."""
