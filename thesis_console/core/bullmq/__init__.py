"""BullMQ queues: its key layout, and reads with pipelined raw commands (nothing is written)."""
