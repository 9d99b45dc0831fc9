"""Where things are: which grid a point falls in, and address and landmark text to a place."""
