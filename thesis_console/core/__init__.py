"""The Qt-free core: Redis and RQ access and domain logic. Never imports Qt."""
