"""The demo worldserver: a small TrinityCore-shaped C++ server that tests and ``crashbot demo`` run."""
