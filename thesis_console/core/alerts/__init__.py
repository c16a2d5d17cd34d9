"""Alert rules over the queues: rules and their file, the conditions, the tracker and its history."""
