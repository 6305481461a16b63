"""Building blocks of the MongoDB backend: shared clients, Beanie binding, BSON types, indexes, errors.

Importing this package imports PyMongo and Beanie (the ``mongo`` extra); the public names live in
``mindtrace.database.backends.mongo_odm_backend``.
"""
