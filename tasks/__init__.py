"""Seeded data generators for the nalu_rnn experiments."""
