"""`radstack bench perf`: throughput and latency figures printed beside their targets."""
