"""Data: files become batches."""
