"""Thesis generation: the job function and its back-ends."""
