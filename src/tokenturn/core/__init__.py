"""The sans-I/O heart of tokenturn: OAuth 2.0 decisions over plain data (see README.md)."""
