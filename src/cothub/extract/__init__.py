"""Answer extraction: pure functions from completion text to :class:`cothub.types.Answer`."""
