"""Models: cells and layers put together for each task."""
