"""Media input and output on PyAV: every format FFmpeg reads or writes."""
