"""Load tests and benchmarks that drive a running Podium server through its public protocol."""
