"""The ffmpeg-style command line, on top of everything else.

``main`` (click entry point, exit statuses) -> ``argv`` (ffmpeg option binding, into the
dataclasses of ``options``; values parsed by ``values``, ``bitrate``, ``scale``, ``log``) ->
``run`` (dispatch: ``sources`` opens the input, ``frames`` edits decoded frame streams,
``outputs`` guards and writes the target, ``progress`` and ``info`` report on stderr).
"""
